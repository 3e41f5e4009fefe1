"""Ground-truth grids for a synthetic sample: semantics from accumulated LiDAR, LiDAR and camera visibility,
and optional 'solid' occupancy from the primitives themselves.

All grids are [x, y, z] on a GridSpec in the frame given by ``T_grid_lidar`` (the ego frame for writers).
"""

from __future__ import annotations

import numpy as np

from occkit.depth.unproject import unproject_depth
from occkit.geometry.grid import GridSpec
from occkit.geometry.transforms import apply_transform
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
    """Internal class at each voxel centre (``NO_HIT`` = free): objects filled, ground filled below the surface."""
    ijk = np.indices(spec.shape).reshape(3, -1).T
    centres = apply_transform(T_world_grid, spec.indices_to_centers(ijk))
    return scene.contains(centres).reshape(spec.shape)
