"""occkit.train: the Lightning module, ``fit`` and the callbacks around it.

Kept import-light (``occkit.config`` imports ``occkit.train.config``); the heavy names load on first use.
"""

from __future__ import annotations

from occkit.utils.lazy import lazy_getattr

_LAZY = {
    "OccupancyModule": "occkit.train.module",
    "fit": "occkit.train.runner",
    "RunResult": "occkit.train.runner",
    "load_module": "occkit.train.checkpoint",
    "checkpoint_grid": "occkit.train.checkpoint",
}

__all__ = sorted(_LAZY)


__getattr__ = lazy_getattr(__name__, _LAZY)
