"""Depth -> pseudo-LiDAR: unprojection, the Depth Anything 3 adapter (DA3 itself is imported lazily), a depth cache."""

from occkit.depth.cache import DepthCache
from occkit.depth.da3 import DA3Depth, DepthModelUnavailableError, DepthPrediction, processed_intrinsics
from occkit.depth.unproject import project_points, scale_intrinsics, unproject_depth

__all__ = [
    "DA3Depth",
    "DepthCache",
    "DepthModelUnavailableError",
    "DepthPrediction",
    "processed_intrinsics",
    "project_points",
    "scale_intrinsics",
    "unproject_depth",
]
