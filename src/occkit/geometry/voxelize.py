"""Vectorized voxelization: points -> count / hard / soft occupancy / height grids in [x, y, z] order.

Soft occupancy follows ``p = 1 - exp(-lam * n - gamma * var)`` where ``n`` is the voxel's point
count and ``var`` the mean per-axis variance (m^2) of its points: a voxel hit by many points, or
by points spread through it, is more surely occupied than one grazed by a single noisy return.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from occkit.geometry.grid import GridSpec
from occkit.geometry.transforms import apply_transform, check_rigid

ALL_FEATURES = ("count", "occupancy", "soft", "mean_height", "max_height")


@dataclass
class VoxelGrids:
    """Grids produced from one point cloud, all indexed [x, y, z] on ``spec``.

    Features that were not requested are None. Heights are absolute z (m) in the grid frame,
    0 in empty voxels.
    """

    spec: GridSpec
    count: np.ndarray | None = None
    occupancy: np.ndarray | None = None
    soft: np.ndarray | None = None
    mean_height: np.ndarray | None = None
    max_height: np.ndarray | None = None
    num_points: int = 0
    num_in_range: int = 0
    stats: dict[str, float] = field(default_factory=dict)

    @property
    def in_range_ratio(self) -> float:
        """Fraction of input points that fell inside the grid (0 for an empty cloud)."""
        return self.num_in_range / self.num_points if self.num_points else 0.0

    @property
    def occupied_fraction(self) -> float:
        occ = self.occupancy if self.occupancy is not None else (self.count > 0)
        return float(occ.mean())


def voxelize(
    points: np.ndarray,
    spec: GridSpec,
    *,
    features: Sequence[str] = ("count", "occupancy", "soft"),
    T_grid_points: np.ndarray | None = None,
    lam: float = 0.3,
    gamma: float = 5.0,
) -> VoxelGrids:
    """Voxelize (N, >=3) points on ``spec``.

    ``T_grid_points`` (4x4, optional) first moves points into the grid frame, e.g. the ego frame
    built from the pose. Points outside the range are dropped and counted in ``in_range_ratio``.
    """
    unknown = set(features) - set(ALL_FEATURES)
    if unknown:
        raise ValueError(f"unknown voxel features {sorted(unknown)}; choose from {ALL_FEATURES}")
    pts = np.asarray(points)
    if pts.ndim != 2 or pts.shape[1] < 3:
        raise ValueError(f"points must be an (N, >=3) array, got shape {pts.shape}")
    xyz = pts[:, :3].astype(np.float64, copy=False)
    if T_grid_points is not None:
        xyz = apply_transform(check_rigid(T_grid_points, "T_grid_points"), xyz)

    shape = spec.shape
    n_vox = spec.num_voxels
    rel = (xyz - spec.lower) / spec.size  # position in voxel units
    idx = np.floor(rel).astype(np.int64)
    inside = np.all((idx >= 0) & (idx < np.array(shape)), axis=1)
    idx, rel, xyz_in = idx[inside], rel[inside], xyz[inside]
    flat = (idx[:, 0] * shape[1] + idx[:, 1]) * shape[2] + idx[:, 2]

    out = VoxelGrids(spec=spec, num_points=len(pts), num_in_range=int(inside.sum()))
    count = np.bincount(flat, minlength=n_vox)
    want = set(features)
    if "count" in want:
        out.count = count.astype(np.int32).reshape(shape)
    if "occupancy" in want:
        out.occupancy = (count > 0).reshape(shape)
    if "soft" in want:
        out.soft = _soft_occupancy(flat, rel - idx, count, spec, lam, gamma).reshape(shape)
    if "mean_height" in want:
        zsum = np.bincount(flat, weights=xyz_in[:, 2], minlength=n_vox)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(count > 0, zsum / np.maximum(count, 1), 0.0)
        out.mean_height = mean.astype(np.float32).reshape(shape)
    if "max_height" in want:
        zmax = np.full(n_vox, -np.inf)
        np.maximum.at(zmax, flat, xyz_in[:, 2])
        out.max_height = np.where(count > 0, zmax, 0.0).astype(np.float32).reshape(shape)
    out.stats = {"in_range_ratio": out.in_range_ratio, "occupied_fraction": float((count > 0).mean())}
    return out


def _soft_occupancy(flat: np.ndarray, frac: np.ndarray, count: np.ndarray, spec: GridSpec,
                    lam: float, gamma: float) -> np.ndarray:
    """Per-voxel 1 - exp(-lam*n - gamma*var), var = mean over axes of the points' variance (m^2)."""
    n_vox = count.shape[0]
    local = frac * spec.size  # offsets inside the voxel in metres: small numbers, little cancellation
    occupied = count > 0
    n = count[occupied].astype(np.float64)
    var_sum = np.zeros(occupied.sum())
    for axis in range(3):
        s1 = np.bincount(flat, weights=local[:, axis], minlength=n_vox)[occupied]
        s2 = np.bincount(flat, weights=local[:, axis] ** 2, minlength=n_vox)[occupied]
        var_sum += np.maximum(s2 / n - (s1 / n) ** 2, 0.0)
    soft = np.zeros(n_vox, dtype=np.float32)
    soft[occupied] = (1.0 - np.exp(-lam * n - gamma * var_sum / 3.0)).astype(np.float32)
    return soft


def grid_to_points(grid: np.ndarray, spec: GridSpec, threshold: float = 0.5) -> np.ndarray:
    """Voxel centres (float32 (M, 3)) of the cells of an [x, y, z] grid above ``threshold``
    (or non-zero, for a boolean grid): for exporting a grid as a point cloud."""
    spec.check_array(grid, "grid_to_points input")
    mask = grid if grid.dtype == bool else grid > threshold
    return spec.indices_to_centers(np.argwhere(mask)).astype(np.float32)
