"""Pseudo-LiDAR refinement: keep only the input points whose voxel the model calls occupied.

This is what turns a noisy monocular-depth cloud into something a 3D detector can use: depth noise smears
points into free space, the occupancy model knows where surfaces are, so points in voxels it predicts empty
are dropped. ``chamfer_distance`` measures how much closer the kept points sit to real LiDAR.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from occkit.geometry.grid import GridSpec
from occkit.geometry.transforms import apply_transform


def refine_mask(points: np.ndarray, prob: np.ndarray, spec: GridSpec, threshold: float,
                T_grid_points: np.ndarray | None = None) -> np.ndarray:
    """bool (N,): point i lies inside ``spec`` and its voxel's probability is > ``threshold``.

    ``prob`` is an [x, y, z] grid on ``spec``; ``T_grid_points`` moves the points into the grid frame first
    (the same transform the input was voxelized with), so a point is judged by the voxel it was counted in.
    """
    spec.check_array(prob, "refine_mask: probability grid")
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] < 3:
        raise ValueError(f"refine_mask: points must be an (N, >=3) array, got shape {pts.shape}")
    xyz = pts[:, :3] if T_grid_points is None else apply_transform(T_grid_points, pts[:, :3])
    idx, inside = spec.points_to_indices(xyz)
    keep = np.zeros(len(pts), dtype=bool)
    flat = np.asarray(prob).reshape(-1)
    keep[inside] = flat[spec.flat_index(idx[inside])] > threshold
    return keep


def in_grid_mask(points: np.ndarray, spec: GridSpec, T_grid_points: np.ndarray | None = None) -> np.ndarray:
    """bool (N,): the point falls inside the grid box (after ``T_grid_points``)."""
    xyz = np.asarray(points, dtype=np.float64)[:, :3]
    if T_grid_points is not None:
        xyz = apply_transform(T_grid_points, xyz)
    return spec.points_to_indices(xyz)[1]


@dataclass(frozen=True)
class Chamfer:
    """Symmetric Chamfer distance (metres) and its two directions.

    ``accuracy``: mean distance from each evaluated point to its nearest reference point (how far the cloud
    strays from the surface). ``completeness``: mean distance from each reference point to the cloud (how much
    of the surface it still covers). ``chamfer`` is their average.
    """

    chamfer: float
    accuracy: float
    completeness: float


def chamfer_distance(points: np.ndarray, reference: np.ndarray) -> Chamfer:
    """Symmetric mean nearest-neighbour distance between two (N, 3) clouds (cKDTree, both directions).

    An empty cloud has no nearest neighbours: every value is ``inf``.
    """
    from scipy.spatial import cKDTree

    a = np.asarray(points, dtype=np.float64)[:, :3]
    b = np.asarray(reference, dtype=np.float64)[:, :3]
    if len(a) == 0 or len(b) == 0:
        return Chamfer(float("inf"), float("inf"), float("inf"))
    acc = float(cKDTree(b).query(a, k=1, workers=-1)[0].mean())
    comp = float(cKDTree(a).query(b, k=1, workers=-1)[0].mean())
    return Chamfer(0.5 * (acc + comp), acc, comp)


@dataclass(frozen=True)
class FScore:
    """F-score at distance ``tau`` (Knapitsch et al., Tanks and Temples): ``precision`` is the share of points
    within ``tau`` of the reference, ``recall`` the share of reference points within ``tau`` of the cloud."""

    tau: float
    precision: float
    recall: float
    fscore: float


def fscore(points: np.ndarray, reference: np.ndarray, tau: float) -> FScore:
    """F-score of a cloud against a reference at distance ``tau`` (m); an empty cloud scores 0."""
    from scipy.spatial import cKDTree

    if tau <= 0:
        raise ValueError(f"fscore: tau must be a positive distance in metres, got {tau}")
    a = np.asarray(points, dtype=np.float64)[:, :3]
    b = np.asarray(reference, dtype=np.float64)[:, :3]
    if len(a) == 0 or len(b) == 0:
        return FScore(float(tau), 0.0, 0.0, 0.0)
    p = float((cKDTree(b).query(a, k=1, workers=-1)[0] < tau).mean())
    r = float((cKDTree(a).query(b, k=1, workers=-1)[0] < tau).mean())
    return FScore(float(tau), p, r, 2 * p * r / (p + r) if p + r > 0 else 0.0)
