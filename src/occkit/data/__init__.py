"""occkit.data: frames -> aligned (input, target, mask) grids, the torch Dataset, the preprocessing cache.

Torch-dependent names (OccupancyDataset, build_dataloader, collate) load lazily so that the CLI and the
preprocessing workers stay light.
"""

from __future__ import annotations

from occkit.data.alignment import ALIGNMENT_PATHS, GridAlignment, choose_grid_frame
from occkit.data.grids import FrameToGrids
from occkit.data.memory import MemorySource
from occkit.utils.lazy import lazy_getattr

_LAZY = {
    "OccupancyDataset": "occkit.data.dataset",
    "SeededSampler": "occkit.data.dataset",
    "build_dataloader": "occkit.data.dataset",
    "collate": "occkit.data.dataset",
    "preprocess": "occkit.data.preprocessing",
    "CacheError": "occkit.data.cache",
}

__all__ = ["ALIGNMENT_PATHS", "FrameToGrids", "GridAlignment", "MemorySource", "choose_grid_frame", *_LAZY]


__getattr__ = lazy_getattr(__name__, _LAZY)
