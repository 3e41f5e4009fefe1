"""File formats: point clouds (occkit.io.points) and occupancy grids (occkit.io.occ3d, occkit.io.semantickitti)."""

from occkit.io.points import PointCloud, read_labels_txt, read_points, write_points

__all__ = ["PointCloud", "read_labels_txt", "read_points", "write_points"]
