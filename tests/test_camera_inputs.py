"""Camera arrays in samples (data.input.camera): geometry, augmentation and the cache, on real synthetic frames."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from occkit.config import load_config
from occkit.data.augment import AugmentDraw, apply_grid
from occkit.data.camera_inputs import camera_arrays, grid_motion, nearest_resize
from occkit.data.dataset import OccupancyDataset
from occkit.data.grids import FrameToGrids
from occkit.errors import ConfigError
from occkit.frame import Frame
from occkit.geometry.grid import GridSpec
from occkit.geometry.layout import grid_to_channels
from occkit.geometry.transforms import apply_transform, invert_transform
from occkit.geometry.voxelize import voxelize

SMALL = ['data.grid.pc_range=[-6.4, -6.4, -10.0, 6.4, 6.4, 50.5]', "data.source.train_frames=4",
         "data.source.val_frames=2", "data.source.test_frames=2", "data.source.accumulate_poses=3"]


def small_cfg(tmp_path, extra=()):
    return load_config("synthetic_depth_finetune", [f'trainer.runs_root="{tmp_path}"', *SMALL, *extra])


@pytest.mark.parametrize("draw", [AugmentDraw(True, False, 0), AugmentDraw(False, True, 0),
                                  AugmentDraw(False, False, 1), AugmentDraw(False, False, 2),
                                  AugmentDraw(False, False, 3), AugmentDraw(True, True, 1),
                                  AugmentDraw(True, False, 3)])
def test_grid_motion_moves_points_as_apply_grid_moves_voxels(draw) -> None:
    spec = GridSpec(pc_range=(-2.0, -3.0, 0.0, 4.0, 3.0, 2.0), voxel_size=(0.5, 0.5, 0.5))  # 12 x 12 x 4, off-centre
    pts = np.random.default_rng(1).uniform(spec.lower, spec.upper, (400, 3))
    before = grid_to_channels(voxelize(pts, spec, features=("occupancy",)).occupancy)
    moved = apply_transform(grid_motion(draw, spec), pts)
    after = grid_to_channels(voxelize(moved, spec, features=("occupancy",)).occupancy)
    np.testing.assert_array_equal(after, apply_grid(before, draw))


def test_camera_arrays_project_grid_points_to_their_pixels() -> None:
    K = np.array([[100.0, 0, 79.5], [0, 100.0, 63.5], [0, 0, 1]])
    T_world_cam = np.eye(4)
    T_world_cam[:3, 3] = (1.0, 2.0, 3.0)
    image = np.random.default_rng(0).integers(0, 255, (128, 160, 3), dtype=np.uint8)
    depth = np.full((128, 160), 20.0, np.float32)
    from occkit.frame import CameraView

    view = CameraView("CAM", K, T_world_cam, 160, 128, image=image, depth=depth)
    T_world_sensor = np.eye(4)
    T_world_sensor[:3, 3] = (0.5, 0.0, 0.0)
    frame = Frame("f0", np.zeros((0, 3), np.float32), T_world_sensor, cameras=[view])
    T_grid_sensor = np.eye(4)
    T_grid_sensor[2, 3] = -1.0
    out = camera_arrays(frame, T_grid_sensor, 0.5)
    assert out["image"].shape == (3, 64, 80) and out["image"].dtype == np.uint8
    assert out["depth_gt"].shape == (64, 80) and np.all(out["depth_gt"] == 20.0)
    np.testing.assert_allclose(out["K"], [[50.0, 0, 39.5], [0, 50.0, 31.5], [0, 0, 1]], atol=1e-6)
    # a point 20 m in front of pixel (60, 10) of the full image, projected with the scaled K and T_grid_cam
    p_cam = np.array([(60 - 79.5) * 20 / 100, (10 - 63.5) * 20 / 100, 20.0])
    p_grid = apply_transform(T_grid_sensor @ invert_transform(T_world_sensor) @ T_world_cam, p_cam[None])
    q = apply_transform(invert_transform(out["T_grid_cam"].astype(np.float64)), p_grid)[0]
    uv = out["K"].astype(np.float64) @ (q / q[2])
    np.testing.assert_allclose(uv[:2], [(60 + 0.5) / 2 - 0.5, (10 + 0.5) / 2 - 0.5], atol=1e-4)


def test_nearest_resize_never_blends_depths() -> None:
    d = np.zeros((4, 4), np.float32)
    d[:, 2:] = 50.0
    small = nearest_resize(d, (2, 2))
    assert set(np.unique(small)) <= {0.0, 50.0}


def test_a_frame_without_an_image_is_a_config_error() -> None:
    frame = Frame("f0", np.zeros((0, 3), np.float32), np.eye(4))
    with pytest.raises(ConfigError, match="data.input.camera needs a camera image"):
        camera_arrays(frame, np.eye(4), 0.5)


def _true_depth_hits_target(sample: dict, spec: GridSpec, above_m: float = 2.0) -> float:
    """Share of the true-depth points inside the grid and ``above_m`` over the datum (roofs, trees: where a wrong
    transform shows) that land in a target voxel or a plan neighbour of one."""
    from occkit.depth.unproject import unproject_depth
    from occkit.metrics.baselines import dilate_plan

    T = np.asarray(sample["T_grid_cam"], np.float64)  # a flip makes it a reflection: applied here, not checked
    pts = apply_transform(T, unproject_depth(np.asarray(sample["depth_gt"], np.float64),
                                             np.asarray(sample["K"], np.float64)))
    pts = pts[pts[:, 2] > above_m]
    idx, inside = spec.points_to_indices(pts)
    assert inside.sum() > 50, "the frame must see some structure above the ground"
    target = torch.as_tensor(np.asarray(sample["target"]) > 0.5)[None]
    near = dilate_plan(target)[0].numpy()  # (Z, Y, X)
    idx = idx[inside]
    return float(near[idx[:, 2], idx[:, 1], idx[:, 0]].mean())


def test_true_depth_through_the_sample_camera_lands_on_the_lidar_target(tmp_path) -> None:
    """The whole chain (render, resize, K, T_grid_cam, grid frame, augmentation) on a real synthetic frame."""
    cfg = load_config("synthetic_depth_finetune", [f'trainer.runs_root="{tmp_path}"', "data.source.val_frames=2",
                                                   "data.source.accumulate_poses=3"])  # the full 25.6 m square
    plain = OccupancyDataset(cfg.data, "val", augment=False)[1]
    assert plain["image"].dtype == torch.uint8 and plain["image"].shape == (3, 128, 160)
    assert _true_depth_hits_target({k: v.numpy() for k, v in plain.items() if isinstance(v, torch.Tensor)},
                                   cfg.data.grid) > 0.8
    augmented = OccupancyDataset(cfg.data, "val", augment=True)
    for epoch in range(4):
        s = augmented[(1, epoch)]
        arrays = {k: v.numpy() for k, v in s.items() if isinstance(v, torch.Tensor)}
        assert _true_depth_hits_target(arrays, cfg.data.grid) > 0.8


def test_camera_arrays_survive_the_cache(tmp_path) -> None:
    from occkit.data.cache import decode, encode

    cfg = small_cfg(tmp_path)
    sample = FrameToGrids(cfg.data)(cfg.data.source.build("val")[0])
    back = decode(encode(sample))
    for key in ("image", "K", "T_grid_cam", "depth_gt"):
        np.testing.assert_array_equal(back[key], sample[key])
        assert back[key].dtype == sample[key].dtype


def test_caches_made_before_the_camera_option_keep_their_key(tmp_path) -> None:
    from occkit.data.cache import cache_settings

    cfg = load_config("synthetic_uav", [f'trainer.runs_root="{tmp_path}"'])
    assert "camera" not in cache_settings(cfg.data)["input"]
    assert cache_settings(small_cfg(tmp_path).data)["input"]["camera"] == {"scale": 1.0, "name": None}
