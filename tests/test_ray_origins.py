"""RayIoU's origins on a driving scene, as SparseOcc's ``EgoPoseDataset`` chooses them, and the Occ3D source
stating them for every frame of an info file."""

from __future__ import annotations

import numpy as np

from occkit.data.grids import sensor_origins
from occkit.frame import OccupancyTarget
from occkit.geometry.grid import GridSpec
from occkit.geometry.transforms import yaw_transform
from occkit.metrics.ray_origins import scene_ray_origins
from occkit.sources.config import Occ3DSourceConfig
from occkit.sources.occ3d import NUSCENES_T_EGO_LIDAR, write_occ3d_infos, write_occ3d_sample

T_EGO_LIDAR = np.array(NUSCENES_T_EGO_LIDAR)


def sparseocc_origins(T_world_ego: list[np.ndarray], T_ego_lidar: np.ndarray, ref: int) -> np.ndarray:
    """SparseOcc's loop, written out as its code does it: for every frame of the scene, ref_lidar_from_global
    times global_from_curr, the translation, then ref_ego_from_lidar; kept inside |x|, |y| < 39; eight
    evenly spaced where more are left. Positions in the reference frame's ego frame."""
    ref_lidar_from_global = np.linalg.inv(T_world_ego[ref] @ T_ego_lidar)
    kept = []
    for cur, pose in enumerate(T_world_ego):
        if cur == ref:
            origin = np.zeros(3)
        else:
            origin = (ref_lidar_from_global @ (pose @ T_ego_lidar))[:3, 3]
        origin = T_ego_lidar[:3] @ np.append(origin, 1.0)
        if abs(origin[0]) < 39 and abs(origin[1]) < 39:
            kept.append(origin)
    if len(kept) > 8:
        kept = [kept[i] for i in np.round(np.linspace(0, len(kept) - 1, 8)).astype(np.int64)]
    return np.stack(kept)


def test_origins_follow_sparseoccs_rule_on_a_turning_drive() -> None:
    """40 frames, 2.5 m apart, turning left: from the middle frame 32 lie within 39 m, and eight of them evenly
    spaced are kept (not the frame's own first, which SparseOcc need not keep)."""
    poses, heading, position = [], 0.0, np.zeros(3)
    for _ in range(40):
        poses.append(yaw_transform(heading, position.copy()))
        position += 2.5 * np.array([np.cos(heading), np.sin(heading), 0.0])
        heading += 0.03
    for ref in (0, 20, 39):
        ours = scene_ray_origins([p @ T_EGO_LIDAR for p in poses], T_EGO_LIDAR, ref)
        in_ego = ours @ T_EGO_LIDAR[:3, :3].T + T_EGO_LIDAR[:3, 3]
        np.testing.assert_allclose(in_ego, sparseocc_origins(poses, T_EGO_LIDAR, ref), atol=1e-9)
        assert len(ours) == 8
    middle = scene_ray_origins([p @ T_EGO_LIDAR for p in poses], T_EGO_LIDAR, 20)
    assert not np.any(np.all(np.abs(middle) < 1e-9, axis=1))  # frame 20's own sensor was not among the eight
    short = scene_ray_origins([p @ T_EGO_LIDAR for p in poses[:3]], T_EGO_LIDAR, 1)
    assert len(short) == 3 and np.allclose(short[1], 0.0)  # few frames: all of them, its own included


def test_the_occ3d_source_states_them_and_the_grids_carry_them(tmp_path) -> None:
    spec = GridSpec(pc_range=(-40.0, -40.0, -1.0, 40.0, 40.0, 5.4), voxel_size=(0.8, 0.8, 0.8))
    poses, records = [yaw_transform(0.0, [10.0 * k, 0.0, 0.0]) for k in range(12)], []
    rng = np.random.default_rng(0)
    for k, pose in enumerate(poses):
        points = rng.uniform(-5.0, 5.0, (200, 3)).astype(np.float32)
        semantics = np.full(spec.shape, 17, np.uint8)
        semantics[:, :, 1] = 11
        write_occ3d_sample(tmp_path, "scene-0001", f"tok{k:02d}", points, OccupancyTarget(spec, semantics, 17))
        records.append({"token": f"tok{k:02d}", "T_ego_lidar": T_EGO_LIDAR, "T_world_ego": pose, "timestamp": k})
    write_occ3d_infos(tmp_path, "val", {"scene-0001": records[::-1]})  # out of order: timestamps decide
    source = Occ3DSourceConfig(root=tmp_path, grid=spec).build("val")
    frame = source[source.frame_ids.index("scene-0001/tok05")]
    expected = sparseocc_origins(poses, T_EGO_LIDAR, 5)  # frames 2-8 lie within 39 m of frame 5: 7 origins
    in_grid = sensor_origins(frame, frame.meta["T_grid_sensor"])
    np.testing.assert_allclose(in_grid, expected, atol=1e-5)
    assert len(in_grid) == 7 and np.allclose(np.sort(in_grid[:, 0]), 10.0 * np.arange(-3, 4) + T_EGO_LIDAR[0, 3],
                                             atol=1e-5)
