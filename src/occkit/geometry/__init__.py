"""Grid geometry: GridSpec, rigid transforms, the grid<->model axis pair, voxelization."""

from occkit.geometry.grid import GridSpec
from occkit.geometry.layout import channels_to_grid, grid_to_channels
from occkit.geometry.transforms import apply_transform, check_rigid, invert_transform, make_transform
from occkit.geometry.voxelize import VoxelGrids, grid_to_points, voxelize

__all__ = [
    "GridSpec",
    "VoxelGrids",
    "apply_transform",
    "channels_to_grid",
    "check_rigid",
    "grid_to_channels",
    "grid_to_points",
    "invert_transform",
    "make_transform",
    "voxelize",
]
