"""Refined point clouds: pseudo-LiDAR moved onto, and completed from, the predicted occupancy.

Monocular depth puts points at the right bearing but the wrong distance, so a point is corrected **along its
camera ray**. The modes (``refine_cloud(..., mode=)``):

* ``filter``: keep the points whose voxel is predicted occupied (> threshold), drop the rest;
* ``snap``: move each point along its ray (from ``origin``) to the nearest predicted-occupied voxel within
  ``max_shift`` metres, in steps of a quarter voxel; a point already in an occupied voxel stays; a point with no
  occupied voxel on its ray segment is dropped;
* ``complete``: ``snap``, then add one point at the centre of every predicted-occupied voxel that holds no point
  (a voxel centre is within half a voxel diagonal of any surface inside it);
* ``default``: ``complete`` — it scores best on the synthetic benchmark (benchmarks/refinement.py).

Every output point carries ``origin`` (0 kept, 1 snapped, 2 added) and ``prob`` (its voxel's probability).
Points and ``origin`` are in the input's frame; ``T_grid_points`` maps them into the grid frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from occkit.geometry.grid import GridSpec
from occkit.geometry.rays import ray_origins
from occkit.geometry.transforms import apply_transform, invert_transform

RefineMode = Literal["filter", "snap", "complete", "default"]
REFINE_MODES: tuple[str, ...] = ("filter", "snap", "complete", "default")
KEPT, SNAPPED, ADDED = 0, 1, 2


@dataclass
class RefinedCloud:
    """The refined points (input frame) with their per-point fields."""

    xyz: np.ndarray
    origin: np.ndarray  # uint8: KEPT / SNAPPED / ADDED
    prob: np.ndarray  # float32: probability of the voxel the point lies in
    fields: dict[str, np.ndarray] = field(default_factory=dict)  # the input's fields, 0 for added points

    @property
    def counts(self) -> dict[str, int]:
        return {"kept": int((self.origin == KEPT).sum()), "snapped": int((self.origin == SNAPPED).sum()),
                "added": int((self.origin == ADDED).sum())}


def _lookup(prob: np.ndarray, spec: GridSpec, xyz_grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Probability at grid-frame points (0 outside the grid) and the flat voxel index (-1 outside)."""
    idx, inside = spec.points_to_indices(xyz_grid)
    flat = np.full(len(xyz_grid), -1, dtype=np.int64)
    flat[inside] = spec.flat_index(idx[inside])
    p = np.zeros(len(xyz_grid), dtype=np.float32)
    p[inside] = prob.reshape(-1)[flat[inside]]
    return p, flat


def snap_along_rays(points_grid: np.ndarray, origin_grid: np.ndarray, prob: np.ndarray, spec: GridSpec,
                    threshold: float, max_shift: float) -> tuple[np.ndarray, np.ndarray]:
    """Grid-frame points moved along their rays to the nearest occupied voxel; returns (new xyz, found mask).

    The search visits offsets 0, +-s, +-2s, ... (s = a quarter of the smallest voxel side) up to ``max_shift``
    and takes the smallest |offset| that lands in a voxel with probability > ``threshold``.
    """
    pts = np.asarray(points_grid, dtype=np.float64)
    if len(pts) == 0:
        return pts.copy(), np.zeros(0, dtype=bool)
    ray = pts - np.asarray(origin_grid, dtype=np.float64).reshape(-1, 3)  # one origin, or one per point
    norm = np.linalg.norm(ray, axis=1, keepdims=True)
    direction = np.divide(ray, norm, out=np.zeros_like(ray), where=norm > 0)
    step = 0.25 * float(np.min(spec.size))
    k = int(np.ceil(max_shift / step))
    offsets = np.concatenate([[0.0], np.stack([np.arange(1, k + 1), -np.arange(1, k + 1)], 1).reshape(-1)]) * step
    best = np.full(len(pts), np.nan)
    for off in offsets:  # nearest first: stop looking for a point once it is found
        todo = np.isnan(best)
        if not todo.any():
            break
        cand = pts[todo] + off * direction[todo]
        p, _ = _lookup(prob, spec, cand)
        hit = np.flatnonzero(todo)[p > threshold]
        best[hit] = off
    found = ~np.isnan(best)
    out = pts.copy()
    out[found] += best[found, None] * direction[found]
    return out, found


def refine_cloud(points: np.ndarray, prob: np.ndarray, spec: GridSpec, threshold: float, *,
                 mode: RefineMode = "default", T_grid_points: np.ndarray | None = None,
                 origin: np.ndarray | None = None, max_shift: float = 4.0,
                 fields: dict[str, np.ndarray] | None = None) -> RefinedCloud:
    """Refine an (N, >=3) cloud with an [x, y, z] probability grid on ``spec`` (see the module docstring).

    ``origin``: the camera / sensor position in the points' frame, (3,) or one row per point (default: the frame's
    origin); rays run from it through each point. Points outside the grid are dropped: the prediction says nothing
    about them.
    """
    if mode not in REFINE_MODES:
        raise ValueError(f"--refine: expected one of {', '.join(REFINE_MODES)}, got {mode!r}")
    spec.check_array(prob, "refine_cloud: probability grid")
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] < 3:
        raise ValueError(f"refine_cloud: points must be an (N, >=3) array, got shape {pts.shape}")
    T = np.eye(4) if T_grid_points is None else np.asarray(T_grid_points, dtype=np.float64)
    fields = {k: np.asarray(v) for k, v in (fields or {}).items()}
    xyz_g = apply_transform(T, pts[:, :3])
    p0, flat0 = _lookup(prob, spec, xyz_g)
    inside = flat0 >= 0
    if mode == "filter":
        keep = inside & (p0 > threshold)
        return RefinedCloud(pts[keep, :3], np.full(int(keep.sum()), KEPT, np.uint8), p0[keep],
                            {k: v[keep] for k, v in fields.items()})
    o_g = apply_transform(T, ray_origins(origin, len(pts)))
    moved_g, found = snap_along_rays(xyz_g[inside], o_g if len(o_g) == 1 else o_g[inside], prob, spec, threshold,
                                     max_shift)
    sel = np.flatnonzero(inside)[found]
    moved_g = moved_g[found]
    p1, flat1 = _lookup(prob, spec, moved_g)
    was_kept = p0[sel] > threshold
    origin_code = np.where(was_kept, KEPT, SNAPPED).astype(np.uint8)
    xyz_parts, code_parts, prob_parts = [moved_g], [origin_code], [p1]
    field_parts = {k: [v[sel]] for k, v in fields.items()}
    if mode in ("complete", "default"):
        occupied = np.flatnonzero(prob.reshape(-1) > threshold)
        empty = np.setdiff1d(occupied, flat1)
        centres = spec.indices_to_centers(np.stack(np.unravel_index(empty, spec.shape), axis=1))
        xyz_parts.append(centres)
        code_parts.append(np.full(len(empty), ADDED, np.uint8))
        prob_parts.append(prob.reshape(-1)[empty].astype(np.float32))
        for k, v in fields.items():
            field_parts[k].append(np.zeros(len(empty), dtype=v.dtype))
    xyz = apply_transform(invert_transform(T), np.concatenate(xyz_parts))
    return RefinedCloud(xyz, np.concatenate(code_parts), np.concatenate(prob_parts).astype(np.float32),
                        {k: np.concatenate(v) for k, v in field_parts.items()})
