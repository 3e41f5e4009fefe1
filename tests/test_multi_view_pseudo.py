"""Pseudo-LiDAR merged from several camera views: every point's ray starts at its own camera.

Multi-view depth (DA3 run on a set of images, or the synthetic ``camera_views``) gives one cloud with one scale for
all views; ``Frame.pseudo_origins`` says which camera saw each point. The scale alignment, the free-space feature
and the refined cloud's snapping all cast from there, on crafted clouds with known answers.
"""

from __future__ import annotations

import numpy as np
import pytest

from occkit.data.config import DataConfig, InputConfig
from occkit.data.grids import FrameToGrids
from occkit.depth.scale_align import align_to_ground
from occkit.errors import ConfigError
from occkit.evaluation.refine_modes import SNAPPED, refine_cloud
from occkit.frame import CameraView, Frame
from occkit.geometry.grid import GridSpec

CAMERAS = np.array([[-20.0, 0.0, 100.0], [20.0, 5.0, 96.0]])  # two views of one flight, 40 m apart


def _ground_and_roofs(rng: np.random.Generator, n: int) -> np.ndarray:
    ground = np.column_stack([rng.uniform(-30, 30, (n, 2)), np.zeros(n)])
    roofs = np.column_stack([rng.uniform(-30, 30, (n // 3, 2)), np.full(n // 3, 12.0)])
    return np.vstack([ground, roofs])


def _two_views(scale: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(truth, pseudo points, their cameras): each view's depths off by the same factor about its own camera."""
    rng = np.random.default_rng(0)
    truth = np.vstack([_ground_and_roofs(rng, 3000), _ground_and_roofs(rng, 3000)])
    origins = np.repeat(CAMERAS, len(truth) // 2, axis=0)
    return truth, origins + scale * (truth - origins), origins


@pytest.mark.parametrize("scale", [0.94, 1.05])
def test_one_scale_for_merged_views_is_undone_along_each_views_own_rays(scale: float) -> None:
    truth, pseudo, origins = _two_views(scale)
    aligned, s = align_to_ground(pseudo, origins, np.eye(4), ground=0.0)
    assert s == pytest.approx(1.0 / scale, rel=0.01)
    assert np.abs(aligned - truth).max() < 0.02 * 100
    # rescaled about the first camera alone, the second view's points move sideways by 1-2 m
    wrong, _ = align_to_ground(pseudo, CAMERAS[0], np.eye(4), ground=0.0)
    second = np.arange(len(truth)) >= len(truth) // 2
    assert np.linalg.norm(wrong[second] - truth[second], axis=1).mean() > 1.0


SPEC = GridSpec(pc_range=(0.0, 0.0, 0.0, 8.0, 4.0, 4.0), voxel_size=(1.0, 1.0, 1.0))  # 8 x 4 x 4


def _frame(points: np.ndarray, origins: np.ndarray | None) -> Frame:
    cam = CameraView(name="CAM", K=np.eye(3), T_world_cam=np.eye(4), width=8, height=8)  # the first view at 0
    frame = Frame(frame_id="views", points=np.zeros((0, 3), np.float32), T_world_sensor=np.eye(4), cameras=[cam],
                  pseudo_points=points.astype(np.float32), pseudo_origins=origins)
    frame.meta["T_grid_sensor"] = np.eye(4)  # sensor frame = grid frame
    return frame


def _cfg() -> DataConfig:
    return DataConfig(grid=SPEC, input=InputConfig(points="pseudo", features=["occupancy", "free"], free_margin=0.0))


def test_free_space_is_cast_from_the_camera_that_saw_each_point() -> None:
    # two vertical rays down to the ground level, from cameras over columns x=1 and x=6 (y=2), 3.5 m up
    hits = np.array([[1.5, 2.5, 0.5], [6.5, 2.5, 0.5]])
    origins = np.array([[1.5, 2.5, 3.5], [6.5, 2.5, 3.5]])
    s = FrameToGrids(_cfg())(_frame(hits, origins))
    free = s["input"][4:]  # (Z, Y, X)
    assert free[1:, 2, 1].tolist() == [1.0, 1.0, 1.0] and free[1:, 2, 6].tolist() == [1.0, 1.0, 1.0]
    assert free.sum() == 6.0
    # without the origins both rays start at the first camera (the sensor origin here) and cross other columns
    single = FrameToGrids(_cfg())(_frame(hits, None))["input"][4:]
    assert not np.array_equal(single, free)


def test_origins_that_do_not_match_the_points_are_one_line_naming_the_frame() -> None:
    hits = np.array([[1.5, 2.5, 0.5], [6.5, 2.5, 0.5]])
    with pytest.raises(ConfigError, match=r"frame views: pseudo_origins must be a finite \(2, 3\) array"):
        FrameToGrids(_cfg())(_frame(hits, np.zeros((3, 3))))


def test_a_non_finite_point_drops_its_origin_with_it() -> None:
    hits = np.array([[1.5, 2.5, 0.5], [np.nan, 0.0, 0.0], [6.5, 2.5, 0.5]])
    origins = np.array([[1.5, 2.5, 3.5], [0.0, 0.0, 0.0], [6.5, 2.5, 3.5]])
    free = FrameToGrids(_cfg())(_frame(hits, origins))["input"][4:]
    assert free.sum() == 6.0 and free[1:, 2, 6].tolist() == [1.0, 1.0, 1.0]


def test_refined_points_snap_along_their_own_cameras_rays() -> None:
    spec = GridSpec(pc_range=(-4.0, -4.0, 0.0, 4.0, 4.0, 4.0), voxel_size=(0.5, 0.5, 0.5))
    prob = np.full(spec.shape, 0.05, np.float32)
    prob[:, :, 2] = 0.9  # the ground level: z in 1.0-1.5
    rng = np.random.default_rng(1)
    truth = np.column_stack([rng.uniform(-3.0, 3.0, (200, 2)), np.full(200, 1.25)])
    origins = np.where(np.arange(200)[:, None] % 2 == 0, [-6.0, 0.0, 10.0], [6.0, 0.0, 10.0])  # oblique views
    noisy = origins + 1.05 * (truth - origins)
    out = refine_cloud(noisy, prob, spec, 0.5, mode="snap", origin=origins)
    assert len(out.xyz) == 200 and np.all(out.origin == SNAPPED)
    before = (noisy - origins) / np.linalg.norm(noisy - origins, axis=1, keepdims=True)
    after = (out.xyz - origins) / np.linalg.norm(out.xyz - origins, axis=1, keepdims=True)
    assert np.allclose(before, after, atol=1e-9)  # each moved along its own ray
    assert np.abs(out.xyz[:, 2] - 1.25).max() <= 0.25 + 1e-9


def test_synthetic_views_share_one_scale_and_keep_the_frames_own_image() -> None:
    from occkit.sources.synthetic import SyntheticSourceConfig
    from occkit.synthetic.monodepth import DepthNoiseConfig

    # depth off only by its global scale: each view's points lie on the truth scaled about its own camera
    noise = DepthNoiseConfig(scale_sigma=0.05, shift_sigma_m=0.0, noise_rel=0.0, noise_quad=0.0, edge_blur_px=0.0)
    base = dict(preset="uav_town", seed=3, train_frames=0, val_frames=1, test_frames=0, frames_per_scene=1,
                depth_noise=noise)
    one = SyntheticSourceConfig(**base).build("val")[0]
    three = SyntheticSourceConfig(**base, camera_views=3).build("val")[0]
    n = len(one.pseudo_points)
    np.testing.assert_array_equal(three.pseudo_points[:n], one.pseudo_points)  # the frame's own view first
    cams = np.unique(three.pseudo_origins, axis=0)
    assert len(cams) == 3 and three.pseudo_origins.shape == three.pseudo_points.shape
    dem = one.meta["ground_dem"]
    from occkit.depth.scale_align import GroundRaster

    raster = GroundRaster.from_meta(dem, "dem")
    scales = []
    for cam in cams:
        view = np.all(three.pseudo_origins == cam, axis=1)
        _, s = align_to_ground(three.pseudo_points[view], cam, three.T_world_sensor, raster)
        scales.append(s)
    assert max(scales) - min(scales) < 0.01 and abs(scales[0] - 1.0) > 0.005  # one scale error, the same in each
    with pytest.raises(ValueError, match="camera_views merges camera images"):
        SyntheticSourceConfig(**base, camera_views=3, render_camera=False)

