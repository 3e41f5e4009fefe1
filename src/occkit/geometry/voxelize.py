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
from occkit.geometry.transforms import check_rigid

ALL_FEATURES = ("count", "occupancy", "soft", "mean_height", "max_height", "offset_x", "offset_y")
OFFSET_FEATURES = ("offset_x", "offset_y")


@dataclass
class VoxelGrids:
    """Grids produced from one point cloud, all indexed [x, y, z] on ``spec``.

    Features that were not requested are None. Heights are absolute z (m) in the grid frame,
    0 in empty voxels. ``offset_x`` / ``offset_y``: where the points sit inside their voxel in plan, their mean
    offset from the voxel's centre as a fraction of its size (-0.5 .. 0.5), 0 in empty voxels.
    """

    spec: GridSpec
    count: np.ndarray | None = None
    occupancy: np.ndarray | None = None
    soft: np.ndarray | None = None
    mean_height: np.ndarray | None = None
    max_height: np.ndarray | None = None
    offset_x: np.ndarray | None = None
    offset_y: np.ndarray | None = None
    num_points: int = 0
    num_in_range: int = 0
    stats: dict[str, float] = field(default_factory=dict)

    @property
    def in_range_ratio(self) -> float:
        """Fraction of input points that fell inside the grid (0 for an empty cloud)."""
        return self.num_in_range / self.num_points if self.num_points else 0.0

    @property
    def occupied_fraction(self) -> float:
        """Fraction of voxels holding at least one point (known even when only ``soft`` was requested)."""
        if self.occupancy is not None:
            return float(self.occupancy.mean())
        if self.count is not None:
            return float((self.count > 0).mean())
        return float(self.stats.get("occupied_fraction", 0.0))


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
    built from the pose. Points outside the range (or with NaN coordinates) are dropped and counted
    in ``in_range_ratio``. Voxel indices follow ``GridSpec.points_to_indices`` bit for bit (float64,
    half-open intervals).

    Speed: per-voxel statistics are reduced over the occupied voxels only (compact ids via a lookup
    table), never over the whole dense grid, so the cost scales with the points, not the grid size.
    """
    unknown = set(features) - set(ALL_FEATURES)
    if unknown:
        raise ValueError(f"unknown voxel features {sorted(unknown)}; choose from {ALL_FEATURES}")
    pts = np.asarray(points)
    if pts.ndim != 2 or pts.shape[1] < 3:
        raise ValueError(f"points must be an (N, >=3) array, got shape {pts.shape}")
    want = set(features)
    xyz = pts[:, :3]
    if T_grid_points is not None:
        T = check_rigid(T_grid_points, "T_grid_points")
        xyz = xyz.astype(np.float64) @ T[:3, :3].T + T[:3, 3]

    shape, n_vox = spec.shape, spec.num_voxels
    # one bool mask plus one dense grid per feature (count/soft/heights are float32 or int32)
    spec.check_fits_memory(0.25 + len(want), f"voxelizing {len(want)} feature grid(s)")
    offsets = [f for f in OFFSET_FEATURES if f in want]
    need_frac = "soft" in want or bool(offsets)
    flat, inside, frac = _flat_ids(xyz, spec, keep_frac=need_frac)
    out = VoxelGrids(spec=spec, num_points=len(pts), num_in_range=len(flat))

    occupied = np.zeros(n_vox, dtype=bool)
    occupied[flat] = True
    ids = np.flatnonzero(occupied)  # sorted ids of the occupied voxels
    if "occupancy" in want:
        out.occupancy = occupied.reshape(shape)
    if want & {"count", "soft", "mean_height", "max_height", *OFFSET_FEATURES}:
        lut = np.empty(n_vox, dtype=np.int32 if len(ids) < 2**31 else np.int64)
        lut[ids] = np.arange(len(ids), dtype=lut.dtype)
        cid = lut[flat]  # compact voxel id of every in-range point
        n = np.bincount(cid, minlength=len(ids))
        if "count" in want:
            out.count = _scatter(ids, n, n_vox, np.int32).reshape(shape)
        if "soft" in want:
            soft = _soft_values(cid, frac, n, spec, lam, gamma)
            out.soft = _scatter(ids, soft, n_vox, np.float32).reshape(shape)
        for name in offsets:
            axis = OFFSET_FEATURES.index(name)
            mean = np.bincount(cid, weights=frac[axis], minlength=len(ids)) / n / spec.size[axis] - 0.5
            setattr(out, name, _scatter(ids, mean, n_vox, np.float32).reshape(shape))
        if want & {"mean_height", "max_height"}:
            z = xyz[:, 2] if inside is None else xyz[inside, 2]
            z = np.asarray(z, dtype=np.float64)
            if "mean_height" in want:
                mean = np.bincount(cid, weights=z, minlength=len(ids)) / n
                out.mean_height = _scatter(ids, mean, n_vox, np.float32).reshape(shape)
            if "max_height" in want:
                zmax = np.full(len(ids), -np.inf)
                np.maximum.at(zmax, cid, z)
                out.max_height = _scatter(ids, zmax, n_vox, np.float32).reshape(shape)
    out.stats = {"in_range_ratio": out.in_range_ratio, "occupied_fraction": len(ids) / n_vox}
    return out


def _flat_ids(xyz: np.ndarray, spec: GridSpec, keep_frac: bool
              ) -> tuple[np.ndarray, np.ndarray | None, list[np.ndarray] | None]:
    """Flat [x, y, z] voxel id of every in-range point, the in-range mask (None if all are in range) and,
    if asked, each in-range point's offset inside its voxel in metres per axis.

    Works one axis at a time on contiguous float64 columns, in place: floor((p - lower) / size) exactly
    as GridSpec.points_to_indices computes it, and 0 <= r < n is the same test as 0 <= floor(r) < n.
    """
    lower, size, dims = spec.lower, spec.size, spec.shape
    flat_f: np.ndarray | None = None
    inside: np.ndarray | None = None
    fracs: list[np.ndarray] = []
    for axis in range(3):
        r = xyz[:, axis].astype(np.float64)  # contiguous copy we may overwrite
        np.subtract(r, lower[axis], out=r)
        np.divide(r, size[axis], out=r)
        ok = r >= 0
        ok &= r < dims[axis]
        inside = ok if inside is None else np.logical_and(inside, ok, out=inside)
        f = np.floor(r)
        if keep_frac:
            np.subtract(r, f, out=r)
            np.multiply(r, size[axis], out=r)
            fracs.append(r)
        if flat_f is None:
            flat_f = f
        else:
            np.multiply(flat_f, dims[axis], out=flat_f)
            np.add(flat_f, f, out=flat_f)
    assert flat_f is not None and inside is not None
    if inside.all():
        return flat_f.astype(np.intp), None, fracs if keep_frac else None
    return flat_f[inside].astype(np.intp), inside, [fr[inside] for fr in fracs] if keep_frac else None


def _soft_values(cid: np.ndarray, local: list[np.ndarray] | None, n: np.ndarray, spec: GridSpec,
                 lam: float, gamma: float) -> np.ndarray:
    """Per occupied voxel 1 - exp(-lam*n - gamma*var), var = mean over axes of the points' population
    variance (m^2), from sums of in-voxel offsets (small numbers, so E[x^2] - E[x]^2 keeps its digits)."""
    assert local is not None
    m = len(n)
    sq = local[0] * local[0]
    sq += local[1] * local[1]
    sq += local[2] * local[2]
    var_sum = np.bincount(cid, weights=sq, minlength=m) / n
    for axis in range(3):
        mean = np.bincount(cid, weights=local[axis], minlength=m) / n
        var_sum -= mean * mean
    np.maximum(var_sum, 0.0, out=var_sum)  # rounding can leave -1e-18 for single-point voxels
    return 1.0 - np.exp(-lam * n - gamma * var_sum / 3.0)


def _scatter(ids: np.ndarray, values: np.ndarray, n_vox: int, dtype: type) -> np.ndarray:
    """Dense flat grid of ``dtype`` that is ``values`` at ``ids`` and 0 elsewhere."""
    grid = np.zeros(n_vox, dtype=dtype)
    grid[ids] = values
    return grid


def grid_to_points(grid: np.ndarray, spec: GridSpec, threshold: float = 0.5) -> np.ndarray:
    """Voxel centres (float32 (M, 3)) of the cells of an [x, y, z] grid above ``threshold``
    (or non-zero, for a boolean grid): for exporting a grid as a point cloud."""
    spec.check_array(grid, "grid_to_points input")
    mask = grid if grid.dtype == bool else grid > threshold
    return spec.indices_to_centers(np.argwhere(mask)).astype(np.float32)
