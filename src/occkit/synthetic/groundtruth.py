"""Ground-truth grids for a synthetic sample: semantics from accumulated LiDAR, LiDAR and camera visibility,
and optional 'solid' occupancy from the primitives themselves.

All grids are [x, y, z] on a GridSpec in the frame given by ``T_grid_lidar`` (the ego frame for writers).
"""

from __future__ import annotations

import numpy as np

from occkit.depth.unproject import unproject_depth
from occkit.geometry.grid import GridSpec
from occkit.geometry.transforms import apply_transform, check_rigid, invert_transform
from occkit.geometry.visibility import lidar_visibility
from occkit.synthetic import classes as C
from occkit.synthetic.scene import Scene


def semantic_grid(points: np.ndarray, labels: np.ndarray, spec: GridSpec, T_grid_points: np.ndarray,
                  num_classes: int = 17, free: int = C.OCC3D_FREE) -> np.ndarray:
    """uint8 [x, y, z]: the most frequent label of the points in each voxel, ``free`` where none fell."""
    xyz = apply_transform(T_grid_points, np.asarray(points, dtype=np.float64)[:, :3])
    idx, inside = spec.points_to_indices(xyz)
    flat = spec.flat_index(idx[inside])
    lab = np.asarray(labels, dtype=np.int64)[inside]
    votes = np.zeros((spec.num_voxels, num_classes), dtype=np.int32)
    np.add.at(votes, (flat, lab), 1)
    out = np.full(spec.num_voxels, free, dtype=np.uint8)
    occupied = votes.sum(axis=1) > 0
    out[occupied] = votes[occupied].argmax(axis=1).astype(np.uint8)
    return out.reshape(spec.shape)


def lidar_mask(target_points: np.ndarray, sweep: np.ndarray, origins: np.ndarray, spec: GridSpec,
               T_grid_lidar: np.ndarray) -> np.ndarray:
    """Voxels observed by any accumulated sweep (each traversed from its own origin)."""
    seen = np.zeros(spec.shape, dtype=bool)
    for j, origin in enumerate(origins):  # a handful of sweeps
        seen |= lidar_visibility(target_points[sweep == j], origin, spec, T_grid_points=T_grid_lidar)
    return seen


def camera_mask(depth: np.ndarray, K: np.ndarray, T_lidar_cam: np.ndarray, spec: GridSpec,
                T_grid_lidar: np.ndarray, stride: int = 2) -> np.ndarray:
    """Voxels seen by the camera: traversed by pixel rays (every ``stride``-th pixel) up to their depth."""
    sub = np.zeros_like(depth)
    sub[::stride, ::stride] = depth[::stride, ::stride]
    pts_cam = unproject_depth(sub, K)
    return lidar_visibility(pts_cam, np.zeros(3), spec, T_grid_points=T_grid_lidar @ T_lidar_cam)


def solid_grid(scene: Scene, spec: GridSpec, T_world_grid: np.ndarray) -> np.ndarray:
    """int16 [x, y, z] internal class at each voxel centre (``NO_HIT`` = free): objects filled, ground
    filled below the terrain surface. The exact 'solid' truth that no sensor sees.

    Each primitive is tested only on the block of voxels covering its bounding sphere, so the cost is
    proportional to the primitives' volume, not primitives x voxels. Primitives thinner than a voxel
    (poles, thin walls) are widened to half a voxel so they are not lost between voxel centres.
    """
    T_world_grid = check_rigid(T_world_grid, "T_world_grid")
    out = np.full(spec.shape, C.NO_HIT, dtype=np.int16)
    nx, ny, nz = spec.shape
    if np.allclose(T_world_grid[:3, 2], [0, 0, 1]):  # gravity-aligned grid: one terrain height per column
        ij = np.indices((nx, ny)).reshape(2, -1).T
        cols = spec.indices_to_centers(np.column_stack([ij, np.zeros(len(ij))]))
        cw = apply_transform(T_world_grid, cols)
        h = scene.terrain.height(cw[:, 0], cw[:, 1]) - T_world_grid[2, 3]  # surface height in the grid frame
        below = spec.z_centers()[None, :] <= h[:, None]
        cls = scene.terrain.surface_class(cw[:, 0], cw[:, 1]).astype(np.int16)
        out[:] = np.where(below, cls[:, None], C.NO_HIT).reshape(nx, ny, nz)
    else:
        ijk = np.indices(spec.shape).reshape(3, -1).T
        centres = apply_transform(T_world_grid, spec.indices_to_centers(ijk))
        below = centres[:, 2] <= scene.terrain.height(centres[:, 0], centres[:, 1])
        flat = out.reshape(-1)
        flat[below] = scene.terrain.surface_class(centres[below, 0], centres[below, 1])
    T_grid_world = invert_transform(T_world_grid)
    shape = np.array(spec.shape)
    for kind, (c, r) in scene.bounding_spheres().items():
        if len(c) == 0:
            continue
        cg = apply_transform(T_grid_world, c)
        lo = np.clip(np.floor((cg - r[:, None] - spec.lower) / spec.size).astype(int), 0, shape)
        hi = np.clip(np.ceil((cg + r[:, None] - spec.lower) / spec.size).astype(int), 0, shape)
        for m in np.flatnonzero(np.all(hi > lo, axis=1)):  # primitives that touch the grid
            block = np.indices(hi[m] - lo[m]).reshape(3, -1).T + lo[m]
            pw = apply_transform(T_world_grid, spec.indices_to_centers(block))
            inside = _inside(scene, kind, m, pw, 0.5 * spec.size)
            out[tuple(block[inside].T)] = _classes(scene, kind)[m]
    return out


def _classes(scene: Scene, kind: str) -> np.ndarray:
    return {"box": scene.box_cls, "ell": scene.ell_cls, "cyl": scene.cyl_cls}[kind]


def _inside(scene: Scene, kind: str, m: int, p: np.ndarray, min_half: np.ndarray) -> np.ndarray:
    """Points (N, 3) inside primitive ``m`` of ``kind`` (the Scene.contains tests), half-sizes at least ``min_half``."""
    if kind == "box":
        d = p - scene.box_center[m]
        cs, sn = np.cos(scene.box_yaw[m]), np.sin(scene.box_yaw[m])
        h = np.maximum(scene.box_half[m], min_half)
        return ((np.abs(cs * d[:, 0] + sn * d[:, 1]) <= h[0]) & (np.abs(-sn * d[:, 0] + cs * d[:, 1]) <= h[1])
                & (np.abs(d[:, 2]) <= h[2]))
    if kind == "ell":
        return (((p - scene.ell_center[m]) / np.maximum(scene.ell_radii[m], min_half)) ** 2).sum(axis=1) <= 1.0
    xy, (z0, z1), r = scene.cyl_xy[m], scene.cyl_z[m], max(scene.cyl_radius[m], float(min_half[:2].max()))
    return ((p[:, 0] - xy[0]) ** 2 + (p[:, 1] - xy[1]) ** 2 <= r * r) & (p[:, 2] >= z0) & (p[:, 2] <= z1)
