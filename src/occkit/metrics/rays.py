"""Ray geometry for RayIoU: LiDAR-like ray directions and a vectorized voxel traversal (Amanatides-Woo DDA).

The traversal depends only on the grid, the origins and the directions, never on the occupancy, so it is
computed once as a table of (voxel, entry distance) per ray and step; finding the first occupied voxel of a
batch of grids is then a gather and an argmax.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from occkit.errors import ConfigError
from occkit.geometry.grid import GridSpec
from occkit.geometry.slabs import box_interval


def sparseocc_elevations_deg() -> list[float]:
    """The pitch angles of SparseOcc's ``generate_lidar_rays`` (nuScenes LiDAR-like, about -45 to +12 degrees)."""
    pitch = [-(math.pi / 2 - math.atan(k + 1)) for k in range(10)]
    while pitch[-1] < 0.21:
        pitch.append(pitch[-1] + (pitch[-1] - pitch[-2]))
    return [math.degrees(p) for p in pitch]


def ray_directions(num_azimuth: int = 360, elevations_deg: Sequence[float] | None = None) -> np.ndarray:
    """(num_elevation * num_azimuth, 3) unit vectors, azimuth from +x towards +y in equal steps."""
    if int(num_azimuth) <= 0:
        raise ConfigError(f"num_azimuth: expected a positive number of rays per ring, got {num_azimuth!r}")
    elev = np.radians(np.asarray(sparseocc_elevations_deg() if elevations_deg is None else elevations_deg, float))
    if elev.size == 0 or np.any(np.abs(elev) > math.pi / 2):
        raise ConfigError(f"elevations_deg: expected angles in [-90, 90] degrees, got {list(np.degrees(elev))}")
    az = np.radians(np.arange(int(num_azimuth)) * 360.0 / int(num_azimuth))
    e, a = np.meshgrid(elev, az, indexing="ij")
    d = np.stack([np.cos(e) * np.cos(a), np.cos(e) * np.sin(a), np.sin(e)], axis=-1).reshape(-1, 3)
    return d.astype(np.float64)


def traversal_table(spec: GridSpec, origin: Sequence[float], directions: np.ndarray,
                    max_range: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Voxels each ray passes through, in order, and the distance (m) from ``origin`` where it enters them.

    Returns ``flat`` int32 (R, L) indices into the C-ordered ``[x, y, z]`` grid, padded with ``spec.num_voxels``
    (a sentinel that callers map to "free"), and ``depth`` float32 (R, L) entry distances. Origins outside the
    grid are fine: each ray is clipped to the grid box first. Voxels entered beyond ``max_range`` are dropped.
    """
    o = np.asarray(origin, dtype=np.float64).reshape(3)
    d = np.asarray(directions, dtype=np.float64).reshape(-1, 3)
    d = d / np.linalg.norm(d, axis=1, keepdims=True)
    lo, hi, size = spec.lower, spec.upper, spec.size
    shape = np.array(spec.shape)
    t_in, t_out = box_interval(np.broadcast_to(o, d.shape), d, lo, hi)
    t_in = np.maximum(t_in, 0.0)
    if max_range is not None:
        t_out = np.minimum(t_out, float(max_range))
    alive = t_in < t_out
    # Start voxel: the point a hair inside the box along the ray (a ray that misses the box, t_in = inf, starts
    # anywhere finite: it is never alive, and an infinite start would warn in the integer cast)
    t_start = np.where(alive, t_in, 0.0)
    p0 = o + (t_start + 1e-9 * np.maximum(1.0, t_start))[:, None] * d
    idx = np.clip(np.floor((p0 - lo) / size).astype(np.int64), 0, shape - 1)
    step = np.sign(d).astype(np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        next_face = lo + (idx + (step > 0)) * size
        t_max = np.where(d != 0, (next_face - o) / d, np.inf)
        t_delta = np.where(d != 0, size / np.abs(d), np.inf)
    t_cur = t_in.copy()
    n_steps = int(shape.sum()) + 3
    flats, depths = [], []
    nx, ny, nz = (int(s) for s in shape)
    sentinel = nx * ny * nz
    rows = np.arange(len(d))
    for _ in range(n_steps):
        inside = alive & np.all((idx >= 0) & (idx < shape), axis=1) & (t_cur < t_out)
        if not inside.any():
            break
        flats.append(np.where(inside, (idx[:, 0] * ny + idx[:, 1]) * nz + idx[:, 2], sentinel))
        depths.append(np.where(inside, t_cur, np.inf))
        alive = inside
        axis = np.argmin(t_max, axis=1)
        t_cur = t_max[rows, axis]
        idx[rows, axis] += step[rows, axis]
        t_max[rows, axis] += t_delta[rows, axis]
    if not flats:
        return (torch.full((len(d), 1), sentinel, dtype=torch.int32), torch.full((len(d), 1), math.inf))
    if sentinel >= 2**31 - 1:
        raise ConfigError(f"spec: {spec.describe()} has too many voxels for RayIoU's int32 traversal table")
    flat = torch.from_numpy(np.stack(flats, axis=1).astype(np.int32))  # int32 halves the table's memory
    depth = torch.from_numpy(np.stack(depths, axis=1).astype(np.float32))
    return flat, depth


def first_hits(occupied: torch.Tensor, flat: torch.Tensor, depth: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For (B, N) flattened [x, y, z] occupancy, the first occupied voxel of every ray.

    Returns ``hit_flat`` (B, R) int64 (the sentinel N where the ray hits nothing) and ``hit_depth`` (B, R)
    float32 (inf where nothing is hit).
    """
    b, n = occupied.shape
    padded = torch.cat([occupied.bool(), occupied.new_zeros(b, 1, dtype=torch.bool)], dim=1)
    hits = padded[:, flat]  # (B, R, L)
    any_hit = hits.any(dim=2)
    first = hits.to(torch.uint8).argmax(dim=2)  # first True (argmax returns the first maximum)
    hit_flat = torch.gather(flat.expand(b, -1, -1), 2, first.unsqueeze(2)).squeeze(2)
    hit_depth = torch.gather(depth.expand(b, -1, -1), 2, first.unsqueeze(2)).squeeze(2)
    hit_flat = torch.where(any_hit, hit_flat.long(), torch.full_like(hit_flat, n, dtype=torch.long))
    hit_depth = torch.where(any_hit, hit_depth, torch.full_like(hit_depth, math.inf))
    return hit_flat, hit_depth
