"""occkit.data: frames -> aligned (input, target, mask) grids, the torch Dataset, the preprocessing cache."""

from occkit.data.alignment import ALIGNMENT_PATHS, GridAlignment, choose_grid_frame

__all__ = ["ALIGNMENT_PATHS", "GridAlignment", "choose_grid_frame"]
