"""choose_grid_frame: each path (ego, sensor, lidar_center fallback, empty) fires when it should."""

from __future__ import annotations

import numpy as np
import pytest

from occkit.data.alignment import choose_grid_frame, ego_transform, floor_height, sensor_yaw
from occkit.errors import PoseError
from occkit.frame import Frame
from occkit.geometry import GridSpec, apply_transform, make_transform
from occkit.geometry.transforms import yaw_transform

SPEC = GridSpec(pc_range=(-8.0, -8.0, -2.0, 8.0, 8.0, 6.0), voxel_size=(0.5, 0.5, 0.5))


def _rot_x(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def _ground_cloud(n: int = 2000, seed: int = 0) -> np.ndarray:
    """Points in the world: a ground patch near z = 0 plus a box 2 m tall, around world (100, 50)."""
    rng = np.random.default_rng(seed)
    ground = np.c_[rng.uniform(95, 105, n), rng.uniform(45, 55, n), rng.normal(0, 0.02, n)]
    box = np.c_[rng.uniform(101, 102, n // 4), rng.uniform(51, 52, n // 4), rng.uniform(0, 2, n // 4)]
    return np.vstack([ground, box])


def _frame(T_world_sensor: np.ndarray, world_points: np.ndarray, fid: str = "f") -> Frame:
    pts = apply_transform(np.linalg.inv(T_world_sensor), world_points).astype(np.float32)
    return Frame(frame_id=fid, points=pts, T_world_sensor=T_world_sensor)


def test_ego_frame_keeps_yaw_and_puts_origin_at_world_z0() -> None:
    # a drone 30 m up at (100, 50), heading 30 degrees, tilted 10 degrees about its x axis
    yaw = np.deg2rad(30)
    T = make_transform(yaw_transform(yaw)[:3, :3] @ _rot_x(np.deg2rad(10)), [100.0, 50.0, 30.0])
    world = _ground_cloud()
    al = choose_grid_frame(_frame(T, world), SPEC)
    assert al.path == "ego" and al.in_range_ratio > 0.99
    assert sensor_yaw(T) == pytest.approx(yaw)
    grid_pts = apply_transform(al.T_grid_sensor, _frame(T, world).points)
    # gravity-aligned: ground stays flat at z ~ 0 (world datum), not tilted by the 10 degree roll
    ground = grid_pts[: 2000]
    assert abs(ground[:, 2].mean()) < 0.01 and ground[:, 2].std() < 0.05
    # x, y relative to the sensor's ground position, rotated by -yaw
    expected = apply_transform(np.linalg.inv(yaw_transform(yaw, [100.0, 50.0, 0.0])), world)
    np.testing.assert_allclose(grid_pts, expected, atol=1e-3)
    np.testing.assert_allclose(ego_transform(np.eye(4)), np.eye(4))


def test_sensor_frame_is_identity() -> None:
    T = make_transform(translation=[100.0, 50.0, 3.0])  # a car-height sensor: its frame holds the cloud
    world = _ground_cloud()
    world[:, 2] += 2.0  # sensor frame: ground at z = -1
    al = choose_grid_frame(_frame(T, world), SPEC, ego_frame=False)
    assert al.path == "sensor"
    np.testing.assert_array_equal(al.T_grid_sensor, np.eye(4))
    assert 0.9 < al.in_range_ratio <= 1.0


def test_lidar_center_fallback_fires_on_misaligned_pose() -> None:
    world = _ground_cloud()
    T_true = make_transform(translation=[100.0, 50.0, 30.0])
    frame = _frame(T_true, world)
    # altitude on another datum (GPS ellipsoid vs map): the ego frame puts the ground 500 m below the grid
    frame.T_world_sensor = make_transform(translation=[100.0, 50.0, 530.0])
    al = choose_grid_frame(frame, SPEC)
    assert al.path == "lidar_center", al.message
    assert al.in_range_ratio > 0.95
    assert "ego frame put 0.00%" in al.message
    g = apply_transform(al.T_grid_sensor, frame.points)
    # robust floor at the datum z = 0 (where the ego path puts the ground), ground flat (gravity kept)
    assert abs(np.percentile(g[:, 2], 2)) < 0.01
    assert abs(np.median(g[:2000, 2])) < 0.1 and g[:2000, 2].std() < 0.05
    # without fallback the same frame is "empty"
    off = choose_grid_frame(frame, SPEC, fallback_to_lidar_center=False)
    assert off.path == "empty" and "fallback_to_lidar_center is off" in off.message


def test_fallback_floor_fits_tall_clouds_and_grids_without_zero() -> None:
    assert floor_height(SPEC, 2.0) == 0.0  # datum convention
    assert floor_height(SPEC, 7.0) == pytest.approx(-1.0)  # 7 m tall: lowered so the top fits (6 - 1 margin)
    assert floor_height(SPEC, 50.0) == pytest.approx(-1.0)  # never below the floor + 2 voxels
    above = GridSpec(pc_range=(0.0, 0.0, 2.0, 4.0, 4.0, 10.0), voxel_size=(1.0, 1.0, 1.0))
    assert floor_height(above, 1.0) == pytest.approx(4.0)  # grid without z = 0: floor + 2 voxels


def test_empty_when_no_points_or_fallback_cannot_help() -> None:
    empty = Frame(frame_id="none", points=np.zeros((0, 3), np.float32), T_world_sensor=np.eye(4))
    assert choose_grid_frame(empty, SPEC).path == "empty"
    # a cloud spread over 10 km: no placement of a 16 m grid holds 50% of it
    rng = np.random.default_rng(1)
    spread = Frame(frame_id="spread", points=rng.uniform(-5000, 5000, (500, 3)).astype(np.float32),
                   T_world_sensor=np.eye(4))
    al = choose_grid_frame(spread, SPEC, min_in_range_ratio=0.5)
    assert al.path == "empty" and "also failed" in al.message


def test_non_rigid_pose_is_an_error_naming_the_frame() -> None:
    bad = Frame(frame_id="cam7", points=np.zeros((3, 3), np.float32), T_world_sensor=np.diag([2.0, 1, 1, 1]))
    with pytest.raises(PoseError, match="cam7"):
        choose_grid_frame(bad, SPEC)
