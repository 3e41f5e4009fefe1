"""The elevation model as an input feature (dem_ground) and as the baseline it implies (ground_dem)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from occkit.config import load_config
from occkit.data.elevation import column_ground_heights, dem_ground_levels, dem_heights, ground_tent
from occkit.data.grids import FrameToGrids
from occkit.errors import ConfigError
from occkit.frame import Frame
from occkit.geometry.grid import GridSpec
from occkit.metrics.quality import QualityMetrics
from occkit.sources.config import SyntheticSourceConfig

SPEC = GridSpec(pc_range=(-4.0, -4.0, -2.0, 4.0, 4.0, 2.0), voxel_size=(1.0, 1.0, 0.5))  # 8 x 8 x 8


def dem_frame(slope: float, T_world_sensor: np.ndarray, offset: float = 0.0) -> Frame:
    """A frame whose DEM is the plane z = offset + slope * x (world), 2 m cells over +-50 m."""
    axis = np.arange(-50.0, 50.1, 2.0)
    heights = offset + slope * axis[:, None] + 0.0 * axis[None, :]
    dem = {"origin": (-50.0, -50.0), "cell": 2.0, "heights": heights}
    return Frame(frame_id="f", points=np.zeros((1, 3), np.float32), T_world_sensor=T_world_sensor,
                 meta={"ground_dem": dem})


def test_the_dem_is_read_under_every_column_in_the_grid_frame() -> None:
    yaw = np.eye(4)
    yaw[:3, :3] = [[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]  # the sensor is turned a quarter
    T_world_sensor = yaw.copy()
    T_world_sensor[:3, 3] = (10.0, 0.0, 80.0)  # 80 m above the datum
    T_grid_sensor = np.eye(4)
    T_grid_sensor[2, 3] = 80.0  # grid frame: the sensor's axes, its origin on the datum below it
    heights = column_ground_heights(dem_frame(0.1, T_world_sensor), T_grid_sensor, SPEC)
    xs = SPEC.pc_range[0] + (np.arange(8) + 0.5) * SPEC.size[0]
    ys = SPEC.pc_range[1] + (np.arange(8) + 0.5) * SPEC.size[1]
    world_x = 10.0 - ys  # grid y points along world -x after the quarter turn
    expected = np.broadcast_to(0.1 * world_x[None, :], (8, 8))
    np.testing.assert_allclose(heights, expected, atol=1e-9)
    assert np.ptp(heights[:, 0]) < 1e-9 and xs.size == 8  # the slope runs along grid y only
    off_tile = T_world_sensor.copy()
    off_tile[0, 3] = 500.0
    assert np.isnan(column_ground_heights(dem_frame(0.1, off_tile), T_grid_sensor, SPEC)).all()


def test_the_tent_splits_each_column_between_the_two_levels_around_the_ground() -> None:
    centres = SPEC.z_centers()  # -1.75, -1.25, ...
    heights = np.full((8, 8), np.nan)
    heights[0, 0] = centres[3]  # on a level's centre: all of it there
    heights[1, 0] = 0.5 * (centres[3] + centres[4]) + 0.1  # between two centres, nearer the upper
    heights[2, 0] = 9.0  # above the grid
    tent = ground_tent(heights, SPEC)
    assert tent.dtype == np.float32 and tent.shape == (8, 8, 8)
    np.testing.assert_allclose(tent[0, 0], np.eye(8)[3], atol=1e-6)
    np.testing.assert_allclose(tent[1, 0, 3:5], [0.3, 0.7], atol=1e-6)
    assert tent[1, 0].sum() == pytest.approx(1.0) and not tent[2, 0].any() and not tent[3:].any()
    levels = dem_ground_levels(torch.from_numpy(tent).permute(2, 1, 0).reshape(1, 8, 8, 8),
                               ["dem_ground"], 8)  # model layout (F*Z, Y, X)
    assert levels.dtype == torch.uint8
    assert levels[0, 3, 0, 0] == 1 and levels[0, 4, 0, 1] == 1  # the nearer level, once per column
    assert int((levels == 1).sum()) == 2 and int((levels == 2).sum()) == 0  # 0.3 from a centre: no split
    near = heights.copy()
    near[1, 0] = 0.5 * (centres[3] + centres[4]) + 0.02  # 0.04 of a level above the boundary: both levels
    codes = dem_ground_levels(ground_tent(near, SPEC).transpose(2, 1, 0).reshape(8, 8, 8), ["dem_ground"], 8)
    assert isinstance(codes, np.ndarray) and codes.dtype == np.uint8
    assert codes[4, 0, 1] == 1 and codes[3, 0, 1] == 2 and int((codes == 2).sum()) == 1
    assert dem_ground_levels(torch.zeros(1, 8, 8, 8), ["soft"], 8) is None


def test_the_dem_ground_baseline_is_scored_beside_the_model() -> None:
    z, y, x = 8, 10, 10
    target = torch.zeros(1, z, y, x, dtype=torch.bool)
    target[0, 2] = True  # the ground on level 2
    target[0, 4:6, 4:6, 4:6] = True  # a small building, above the ground band (one level)
    dem = torch.zeros_like(target)
    dem[0, 2] = True  # the DEM's ground: exactly the target's ground
    inp = torch.zeros_like(target)
    inp[0, 5, 4:6, 4:6] = True  # the input saw only the roof
    q = QualityMetrics(plane_level=None, ground_window=5, ground_band=1, elevation_model=True)
    q.update(torch.where(inp, 6.0, -6.0), target.float(), inp, None, dem)
    out = q.compute()
    assert out["predictors"]["ground_dem"]["iou_ground"] == 1.0 and out["predictors"]["ground_dem"]["iou_above"] == 0
    assert out["iou"]["best_baseline"] == "ground_dem" and out["labels"]["ground_dem"].startswith("ground: the elev")
    assert out["predictors"]["ground_dem_split"] == out["predictors"]["ground_dem"]  # a bool grid: no second level
    with pytest.raises(ValueError, match="dem_ground: this QualityMetrics scores"):
        q.update(torch.where(inp, 6.0, -6.0), target.float(), inp)
    assert "ground_dem" not in QualityMetrics(plane_level=None).predictors  # only where the input carries a DEM


def test_the_split_dem_ground_adds_the_next_level_where_the_target_spans_two() -> None:
    """The target's ground spans levels 2 and 3 in half the columns, where the DEM lies near their boundary: the
    DEM's nearest level scores 2/3 there, the split baseline all of it; where the DEM is mid-level both agree."""
    z, y, x = 8, 10, 10
    target = torch.zeros(1, z, y, x, dtype=torch.bool)
    target[0, 2] = True
    target[0, 3, :5] = True  # rows 0-4: the ground split over two levels
    codes = torch.zeros(1, z, y, x, dtype=torch.uint8)
    codes[0, 2] = 1
    codes[0, 3, :5] = 2  # the DEM near the boundary there
    inp = torch.zeros_like(target)
    q = QualityMetrics(plane_level=None, ground_window=5, ground_band=2, elevation_model=True)
    q.update(torch.full((1, z, y, x), -6.0), target.float(), inp, None, codes)
    out = q.compute()["predictors"]
    assert out["ground_dem"]["iou"] == pytest.approx(100 / 150)
    assert out["ground_dem_split"]["iou"] == 1.0 and out["ground_dem_split"]["precision"] == 1.0


def test_synthetic_frames_carry_their_dem_as_an_input_channel_on_the_target_ground() -> None:
    """On the synthetic town the DEM's level per column is the accumulated LiDAR's ground in most columns; a
    frame without a DEM, and points without a frame, get one line each."""
    source = SyntheticSourceConfig(preset="uav_town", train_frames=1, val_frames=1, test_frames=0,
                                   accumulate_poses=2, camera={"width": 80, "height": 64},
                                   lidar={"points_per_frame": 3000, "beams": 8, "h_step_deg": 1.5})
    data = load_config("synthetic_refinement").data
    grid = GridSpec(pc_range=(-9.6, -9.6, -10.0, 9.6, 9.6, 50.5), voxel_size=(0.4, 0.4, 0.5))
    data = data.model_copy(update={"source": source, "grid": grid, "augment": data.augment.model_copy(
        update={"crop": None}), "input": data.input.model_copy(update={"features": ["soft", "dem_ground"],
                                                                     "pseudo_ground_z": 0.0})})
    to_grids = FrameToGrids(data)
    frame = source.build("train")[0]
    sample = to_grids(frame)
    nz = grid.shape[2]
    assert sample["input"].shape == (2 * nz, 48, 48)
    dem = dem_ground_levels(torch.from_numpy(sample["input"]), ["soft", "dem_ground"], nz)
    target = torch.from_numpy(sample["target"]) >= 0.5
    lowest = torch.where(target, torch.arange(nz).view(nz, 1, 1), nz).amin(0)  # the target's lowest level
    seen = lowest < nz
    nearest = dem == 1
    dem_level = nearest.float().argmax(0)
    assert (nearest.sum(0) == 1).float().mean() > 0.99  # one nearest level per column
    assert 0 < (dem == 2).sum() < 0.5 * nearest.sum()  # a second level only near a boundary
    assert ((dem_level - lowest).abs()[seen] <= 1).float().mean() > 0.9
    heights = dem_heights(torch.from_numpy(sample["input"]), ["soft", "dem_ground"], nz)  # the continuous level
    assert heights.shape == (48, 48) and bool(torch.isfinite(heights).all())
    assert ((heights - dem_level).abs() <= 0.5 + 1e-4).all()  # within half a level of the nearest one
    assert float((heights - heights.floor()).std()) > 0.1  # sub-level fractions, not whole levels
    del frame.meta["ground_dem"]
    with pytest.raises(ConfigError, match="ground_dem.*dem_ground.*has none.*leave the feature out"):
        to_grids(frame)
    with pytest.raises(ConfigError, match="come without a frame"):
        to_grids.input_grid(np.zeros((5, 3), np.float32), np.eye(4))
