"""Where RayIoU's rays start on a driving dataset: SparseOcc's rule for a frame of a scene.

SparseOcc (``loaders/ego_pose_dataset.py``) casts each frame's rays from the LiDAR positions of the frames of its
scene: every frame's LiDAR origin expressed in this frame's ego frame, kept where it lies inside the grid's
plan (``|x|, |y| < 39 m`` on Occ3D-nuScenes' 80 m grid), and, where more than eight are left, eight of them evenly
spaced over the scene (``np.round(np.linspace(0, n - 1, 8))``). The frame's own origin is one of the candidates,
not a fixed first one. occkit returns them in the frame's sensor frame (``Frame.meta["ray_origins"]``), and
``occkit.data.grids.sensor_origins`` moves them into the grid frame.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SPARSEOCC_PLAN_LIMIT_M = 39.0
SPARSEOCC_MAX_ORIGINS = 8


def scene_ray_origins(T_world_sensor: Sequence[np.ndarray], T_ego_sensor: np.ndarray, index: int, *,
                      plan_limit_m: float = SPARSEOCC_PLAN_LIMIT_M,
                      max_origins: int = SPARSEOCC_MAX_ORIGINS) -> np.ndarray:
    """(K, 3) sensor positions, in frame ``index``'s sensor frame, of the scene's frames (``T_world_sensor`` in
    time order) that SparseOcc casts frame ``index``'s rays from; ``T_ego_sensor`` is frame ``index``'s
    sensor-to-ego transform, where the plan limit applies."""
    poses = np.asarray(T_world_sensor, dtype=np.float64).reshape(-1, 4, 4)
    if not 0 <= index < len(poses):
        raise IndexError(f"frame {index} of a scene of {len(poses)} frames")
    positions = (np.linalg.inv(poses[index]) @ poses[:, :, 3].T).T[:, :3]  # every sensor, in this sensor's frame
    in_ego = positions @ np.asarray(T_ego_sensor, float)[:3, :3].T + np.asarray(T_ego_sensor, float)[:3, 3]
    inside = positions[(np.abs(in_ego[:, 0]) < plan_limit_m) & (np.abs(in_ego[:, 1]) < plan_limit_m)]
    if len(inside) > max_origins:
        inside = inside[np.round(np.linspace(0, len(inside) - 1, max_origins)).astype(np.int64)]
    return inside
