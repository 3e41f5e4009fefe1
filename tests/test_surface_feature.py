"""The smoothed surface of the raised points (the ``surface`` feature) and the reference predictor it gives."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from occkit.config import apply_overrides
from occkit.data.cache import default_cache_dir
from occkit.data.config import DataConfig, InputConfig
from occkit.data.grids import FrameToGrids
from occkit.data.surface import input_ground_heights, raised_surface_heights, surface_levels
from occkit.frame import Frame
from occkit.geometry.grid import GridSpec
from occkit.metrics.quality import QualityMetrics

# 40 x 40 columns of 0.5 m, 40 levels of 0.5 m from -2 m: level k's centre is -1.75 + 0.5 k
SPEC = GridSpec(pc_range=(-10.0, -10.0, -2.0, 10.0, 10.0, 18.0), voxel_size=(0.5, 0.5, 0.5))
GROUND_LEVEL, ROOF_LEVEL = 3, 20
ROOF = (slice(10, 26), slice(12, 28))  # 16 x 16 columns, 8 x 8 m


def noisy_roof_counts(seed: int = 0) -> np.ndarray:
    """[x, y, z] point counts: ground on GROUND_LEVEL everywhere but under the roof; the roof's points scattered
    two levels (1 m) either way of ROOF_LEVEL (the depth's error), so no single column says where it is."""
    rng = np.random.default_rng(seed)
    count = np.zeros(SPEC.shape, np.float32)
    count[..., GROUND_LEVEL] = 1.0
    count[ROOF[0], ROOF[1], GROUND_LEVEL] = 0.0
    for i in range(ROOF[0].start, ROOF[0].stop):
        for j in range(ROOF[1].start, ROOF[1].stop):
            count[i, j, ROOF_LEVEL + int(np.clip(np.rint(rng.normal(0.0, 2.0)), -6, 6))] += 1.0
    return count


def test_the_pooled_median_puts_a_smeared_roof_back_on_its_level_and_keeps_its_edges() -> None:
    count = noisy_roof_counts()
    ground = np.full(SPEC.shape[:2], SPEC.z_centers()[GROUND_LEVEL])
    heights = raised_surface_heights(count, ground, SPEC, margin_m=2.0, window_m=4.5)
    roof_centre = SPEC.z_centers()[ROOF_LEVEL]
    inner = heights[ROOF[0].start + 2:ROOF[0].stop - 2, ROOF[1].start + 2:ROOF[1].stop - 2]
    assert np.all(np.abs(inner - roof_centre) < 0.5)  # within a level, where one column's points spread over 13
    single = np.abs(SPEC.z_centers()[count[ROOF].argmax(-1)] - roof_centre)
    assert single.mean() > 0.6  # one column's own highest-count level is further off on average
    raised = np.isfinite(heights)
    expected = np.zeros(SPEC.shape[:2], bool)
    expected[ROOF] = True
    for i in (ROOF[0].start, ROOF[0].stop - 1):
        for j in (ROOF[1].start, ROOF[1].stop - 1):
            expected[i, j] = False  # a corner column's neighbourhood is mostly ground
    np.testing.assert_array_equal(raised[ROOF], expected[ROOF])  # the roof to its edge columns
    outside = np.ones(SPEC.shape[:2], bool)
    outside[ROOF[0].start - 1:ROOF[0].stop + 1, ROOF[1].start - 1:ROOF[1].stop + 1] = False
    assert not raised[outside].any()  # no roof spilled over the ground beyond one column of its edge


def test_points_near_the_ground_are_not_a_surface_and_unknown_ground_raises_nothing() -> None:
    count = np.zeros(SPEC.shape, np.float32)
    count[..., GROUND_LEVEL] = 1.0
    count[..., GROUND_LEVEL + 2] = 1.0  # ground noise 1 m up
    ground = np.full(SPEC.shape[:2], SPEC.z_centers()[GROUND_LEVEL])
    assert np.isnan(raised_surface_heights(count, ground, SPEC, margin_m=2.0, window_m=4.5)).all()
    roof = noisy_roof_counts()
    assert np.isnan(raised_surface_heights(roof, np.full_like(ground, np.nan), SPEC, margin_m=2.0,
                                           window_m=4.5)).all()


def test_the_input_ground_filter_removes_a_roof_narrower_than_its_window() -> None:
    count = noisy_roof_counts()
    heights = input_ground_heights(count, SPEC, window_m=12.0)
    np.testing.assert_allclose(heights, SPEC.z_centers()[GROUND_LEVEL])  # under the roof too
    empty = input_ground_heights(np.zeros(SPEC.shape, np.float32), SPEC)
    assert np.isfinite(empty).all()  # nothing seen: the grid's lowest level, not NaN


def test_the_feature_is_a_tent_on_the_surface_and_its_levels_are_the_reference() -> None:
    cfg = DataConfig(grid=SPEC, input=InputConfig(features=["occupancy", "surface"], surface_margin=2.0,
                                                  surface_window=4.5))
    count = noisy_roof_counts()
    i, j, k = np.nonzero(count)
    points = SPEC.indices_to_centers(np.stack([i, j, k], 1))
    points = np.repeat(points, count[i, j, k].astype(int), axis=0).astype(np.float32)
    inputs = FrameToGrids(cfg).input_grid(points, np.eye(4), frame=None)  # no DEM: the input's own ground
    nz = SPEC.shape[2]
    assert inputs.shape == (2 * nz, 40, 40)
    tent = inputs[nz:]  # (Z, Y, X)
    assert tent.min() >= 0.0 and tent.max() <= 1.0
    centre = ROOF[0].start + 8, ROOF[1].start + 8
    assert tent[:, centre[1], centre[0]].argmax() == ROOF_LEVEL
    assert tent[:, 2, 2].sum() == 0  # a ground column
    levels = surface_levels(torch.from_numpy(inputs), ["occupancy", "surface"], nz)
    assert levels.dtype == torch.bool and levels.sum(0).max() <= 2
    assert surface_levels(torch.from_numpy(inputs), ["occupancy"], nz) is None


def test_the_surface_reference_is_scored_beside_the_model_with_the_dem_ground() -> None:
    z, y, x = 10, 12, 12
    target = torch.zeros(1, z, y, x, dtype=torch.bool)
    target[0, 1] = True
    target[0, 1, 4:8, 4:8] = False
    target[0, 7, 4:8, 4:8] = True  # a roof
    dem = torch.zeros_like(target)
    dem[0, 1] = True
    surface = torch.zeros_like(target)
    surface[0, 7:9, 4:8, 4:8] = True  # the two levels around the roof's smoothed height
    inp = torch.zeros_like(target)
    inp[0, 8, 4:8, 4:8] = True  # the points put the roof a level too high
    q = QualityMetrics(plane_level=None, ground_window=9, ground_band=1, elevation_model=True,
                       smoothed_surface=True)
    q.update(torch.where(inp, 6.0, -6.0), target.float(), inp, None, dem, surface)
    out = q.compute()["predictors"]["surface"]
    assert out["iou_above"] == pytest.approx(0.5)  # the roof found, with the level over it
    assert out["iou_ground"] == pytest.approx(128 / 144)  # the DEM's ground, under the roof too
    assert q.compute()["predictors"]["copy"]["iou_above"] == 0.0
    with pytest.raises(ValueError, match="surface: this QualityMetrics scores the smoothed surface"):
        q.update(torch.where(inp, 6.0, -6.0), target.float(), inp, None, dem)


def test_the_surface_settings_key_the_cache_only_where_the_feature_is_read() -> None:
    from occkit.config import ExperimentConfig

    cfg = ExperimentConfig(name="t", data={"grid": SPEC})
    same = default_cache_dir(cfg.data, "runs", cfg.name)
    assert default_cache_dir(apply_overrides(cfg, ["data.input.surface_window=6.0"]).data, "runs", "t") == same
    read = apply_overrides(cfg, ['data.input.features=["soft","surface"]'])
    wider = apply_overrides(read, ["data.input.surface_window=6.0"])
    assert len({same, default_cache_dir(read.data, "runs", "t"), default_cache_dir(wider.data, "runs", "t")}) == 3


def test_a_synthetic_frame_without_a_dem_gets_its_surface_from_its_own_ground() -> None:
    frame = Frame(frame_id="f", points=np.zeros((0, 3), np.float32), T_world_sensor=np.eye(4), meta={})
    cfg = DataConfig(grid=SPEC, input=InputConfig(features=["count", "surface"], surface_margin=2.0,
                                                  surface_window=4.5))
    count = noisy_roof_counts(1)
    i, j, k = np.nonzero(count)
    points = SPEC.indices_to_centers(np.stack([i, j, k], 1)).astype(np.float32)
    with_frame = FrameToGrids(cfg).input_grid(points, np.eye(4), frame=frame)
    without = FrameToGrids(cfg).input_grid(points, np.eye(4))
    np.testing.assert_array_equal(with_frame, without)
    assert with_frame[SPEC.shape[2]:].max() > 0.5
