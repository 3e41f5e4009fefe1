"""Depth -> pseudo-LiDAR: unprojection, the Depth Anything 3 adapter (lazy), and a per-image depth cache."""

from occkit.depth.unproject import project_points, scale_intrinsics, unproject_depth

__all__ = ["project_points", "scale_intrinsics", "unproject_depth"]
