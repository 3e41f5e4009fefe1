"""Refinement keeps exactly the points in voxels above threshold; Chamfer distance on clouds with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from occkit.errors import GridMismatchError
from occkit.evaluation.refine import chamfer_distance, in_grid_mask, refine_mask
from occkit.geometry.grid import GridSpec
from occkit.geometry.transforms import invert_transform, yaw_transform

SPEC = GridSpec(pc_range=(0.0, 0.0, 0.0, 4.0, 4.0, 2.0), voxel_size=(1.0, 1.0, 1.0))  # 4 x 4 x 2


def crafted_prob() -> np.ndarray:
    prob = np.zeros(SPEC.shape, np.float32)
    prob[1, 2, 0] = 0.9
    prob[3, 3, 1] = 0.51
    prob[0, 0, 0] = 0.5  # exactly at the threshold: not kept (strictly greater)
    prob[2, 1, 1] = 0.2
    return prob


def test_refine_keeps_exactly_the_points_in_voxels_above_threshold() -> None:
    pts = np.array([
        [1.5, 2.5, 0.5],   # voxel (1,2,0) p=0.9 -> keep
        [1.0, 2.0, 0.0],   # lower face of the same voxel -> keep
        [1.99, 2.99, 0.99],  # same voxel, near its upper corner -> keep
        [2.0, 2.5, 0.5],   # upper face of (1,2,0) belongs to (2,2,0), p=0 -> drop
        [3.9, 3.9, 1.9],   # voxel (3,3,1) p=0.51 -> keep
        [0.5, 0.5, 0.5],   # p == 0.5 -> drop
        [2.5, 1.5, 1.5],   # p=0.2 -> drop
        [4.0, 1.0, 1.0],   # outside the range (upper face) -> drop
        [-0.1, 1.0, 1.0],  # outside -> drop
    ])
    keep = refine_mask(pts, crafted_prob(), SPEC, 0.5)
    assert keep.tolist() == [True, True, True, False, True, False, False, False, False]
    assert refine_mask(pts, crafted_prob(), SPEC, 0.1).tolist() == [True, True, True, False, True, True, True,
                                                                    False, False]
    assert in_grid_mask(pts, SPEC).tolist() == [True] * 7 + [False, False]


def test_refine_judges_points_in_the_grid_frame() -> None:
    T_grid_sensor = yaw_transform(np.pi / 2, np.array([1.0, 0.0, 0.0]))
    grid_pts = np.array([[1.5, 2.5, 0.5], [3.5, 3.5, 1.5], [0.5, 3.5, 0.5]])
    sensor_pts = (invert_transform(T_grid_sensor) @ np.c_[grid_pts, np.ones(3)].T).T[:, :3]
    keep = refine_mask(sensor_pts, crafted_prob(), SPEC, 0.5, T_grid_sensor)
    assert keep.tolist() == [True, True, False]
    assert refine_mask(sensor_pts, crafted_prob(), SPEC, 0.5).tolist() != keep.tolist()  # frame matters


def test_refine_matches_a_brute_force_loop_on_random_points() -> None:
    rng = np.random.default_rng(3)
    prob = rng.random(SPEC.shape).astype(np.float32)
    pts = rng.uniform(-0.5, 4.5, (2000, 3))
    pts[:, 2] = rng.uniform(-0.5, 2.5, 2000)
    keep = refine_mask(pts, prob, SPEC, 0.6)
    expect = []
    for p in pts:
        i = np.floor(p).astype(int)
        inside = np.all(i >= 0) and np.all(i < np.array(SPEC.shape))
        expect.append(bool(inside and prob[i[0], i[1], i[2]] > 0.6))
    assert keep.tolist() == expect and 0 < keep.sum() < len(pts)


def test_refine_refuses_a_grid_of_another_shape() -> None:
    with pytest.raises(GridMismatchError, match="4, 4, 2"):
        refine_mask(np.zeros((1, 3)), np.zeros((4, 4, 3), np.float32), SPEC, 0.5)


def test_chamfer_known_values() -> None:
    a = np.array([[0.0, 0, 0], [1.0, 0, 0]])
    b = np.array([[0.0, 0, 0], [1.0, 0, 0], [3.0, 0, 0]])
    c = chamfer_distance(a, b)
    assert c.accuracy == pytest.approx(0.0)  # every point of a lies on b
    assert c.completeness == pytest.approx(2.0 / 3.0)  # b's (3,0,0) is 2 m from a
    assert c.chamfer == pytest.approx(1.0 / 3.0)
    shifted = chamfer_distance(a + [0, 0, 0.5], a)
    assert (shifted.accuracy, shifted.completeness, shifted.chamfer) == pytest.approx((0.5, 0.5, 0.5))
    assert chamfer_distance(np.zeros((0, 3)), b).chamfer == float("inf")


def test_refined_cloud_is_closer_to_lidar_than_the_noisy_one() -> None:
    rng = np.random.default_rng(0)
    lidar = np.column_stack([rng.uniform(0, 4, 3000), rng.uniform(0, 4, 3000), np.full(3000, 0.5)])  # floor plane
    surface = lidar[:1500] + rng.normal(0, 0.05, (1500, 3))
    floaters = np.column_stack([rng.uniform(0, 4, 500), rng.uniform(0, 4, 500), rng.uniform(1.0, 2.0, 500)])
    noisy = np.concatenate([surface, floaters])
    prob = np.zeros(SPEC.shape, np.float32)
    prob[:, :, 0] = 0.95  # the model: the floor level is occupied, the level above is free
    keep = refine_mask(noisy, prob, SPEC, 0.5)
    assert keep[:1500].mean() > 0.95 and not keep[1500:].any()
    raw, refined = chamfer_distance(noisy, lidar), chamfer_distance(noisy[keep], lidar)
    assert refined.chamfer < raw.chamfer and refined.accuracy < 0.5 * raw.accuracy


def test_lidar_is_cropped_to_the_columns_the_input_covers() -> None:
    from occkit.evaluation.prediction import column_footprint_mask

    footprint = np.array([[0.5, 0.5, 0.5], [2.5, 3.5, 1.5]])
    lidar = np.array([[0.9, 0.1, 1.9],  # column (0, 0), another level: kept
                      [2.2, 3.7, 0.1],  # column (2, 3): kept
                      [1.5, 0.5, 0.5],  # column (1, 0): no input there
                      [0.5, 0.5, 2.5]])  # above the grid: dropped
    assert column_footprint_mask(lidar, footprint, SPEC, np.eye(4)).tolist() == [True, True, False, False]
    shift = yaw_transform(0.0, np.array([1.0, 0.0, 0.0]))  # the grid frame moves both clouds alike
    assert column_footprint_mask(lidar, footprint, SPEC, shift).tolist() == [True, True, False, False]
