"""Pseudo-LiDAR scale from a known ground height, on crafted clouds with a known scale error."""

from __future__ import annotations

import numpy as np
import pytest

from occkit.depth.scale_align import align_to_ground, ground_mode


def scene(rng: np.random.Generator) -> np.ndarray:
    """Ground at z = 0 (70 % of the points, 5 cm noise) and roofs at 8-20 m: a drone's view."""
    ground = np.column_stack([rng.uniform(-30, 30, (7000, 2)), rng.normal(0.0, 0.05, 7000)])
    roofs = np.column_stack([rng.uniform(-30, 30, (3000, 2)), rng.choice([8.0, 12.0, 20.0], 3000)])
    return np.vstack([ground, roofs])


@pytest.mark.parametrize("scale", [0.93, 1.0, 1.06])
def test_a_depth_scale_error_is_undone_along_the_rays(scale: float) -> None:
    rng = np.random.default_rng(0)
    truth = scene(rng)
    camera = np.array([2.0, -1.0, 100.0])
    pseudo = camera + scale * (truth - camera)  # every depth off by the same factor
    aligned, s = align_to_ground(pseudo, camera, np.eye(4), ground_z=0.0)
    assert s == pytest.approx(1.0 / scale, rel=0.01)
    assert np.abs(aligned - truth).max() < 0.02 * 100  # within the residual of a 1 % scale estimate
    assert abs(ground_mode(aligned[:, 2])) < 0.2


def test_the_grid_frame_decides_where_the_ground_is_and_bad_cases_are_left_alone() -> None:
    rng = np.random.default_rng(1)
    truth = scene(rng)
    camera = np.array([0.0, 0.0, 100.0])
    T = np.eye(4)
    T[2, 3] = 5.0  # the grid frame sits 5 m below the points' frame: ground at z = 5 there
    aligned, s = align_to_ground(camera + 1.05 * (truth - camera), camera, T, ground_z=5.0)
    assert s == pytest.approx(1 / 1.05, rel=0.01)
    below = np.array([0.0, 0.0, -10.0])  # a camera under its ground: the prior does not apply
    same, s = align_to_ground(truth, below, np.eye(4))
    assert s == 1.0 and np.array_equal(same, truth)
    far, s = align_to_ground(camera + 2.0 * (truth - camera), camera, np.eye(4))  # a 50 % correction is refused
    assert s == 1.0
