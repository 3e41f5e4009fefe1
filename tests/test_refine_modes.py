"""Refinement modes and the F-score on crafted clouds and grids with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from occkit.evaluation.refine import fscore, refine_mask
from occkit.evaluation.refine_modes import ADDED, KEPT, SNAPPED, refine_cloud
from occkit.geometry.grid import GridSpec

# 8 m x 8 m x 4 m at 0.5 m: 16 x 16 x 8
SPEC = GridSpec(pc_range=(-4.0, -4.0, 0.0, 4.0, 4.0, 4.0), voxel_size=(0.5, 0.5, 0.5))
GROUND_LEVEL = 2  # voxels 1.0-1.5 m: the plane z = 1.25 runs through their centres


def ground_prob() -> np.ndarray:
    prob = np.full(SPEC.shape, 0.05, np.float32)
    prob[:, :, GROUND_LEVEL] = 0.9
    return prob


def plane_points(n: int = 400, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    xy = rng.uniform(-3.5, 3.5, (n, 2))
    return np.column_stack([xy, np.full(n, 1.25)])


def test_points_shifted_along_their_rays_are_snapped_back_within_half_a_voxel() -> None:
    origin = np.array([0.0, 0.0, 10.0])  # a camera looking down from 10 m
    truth = plane_points()
    for scale in (0.9, 1.08):  # depth 10 % short, 8 % long: 0.9-0.7 m off the plane along the ray
        noisy = origin + scale * (truth - origin)
        out = refine_cloud(noisy, ground_prob(), SPEC, 0.5, mode="snap", origin=origin)
        assert len(out.xyz) == len(truth) and np.all(out.origin == SNAPPED)
        assert np.abs(out.xyz[:, 2] - 1.25).max() <= 0.25 + 1e-9
        # moved along the ray: the bearing from the camera is unchanged
        before = (noisy - origin) / np.linalg.norm(noisy - origin, axis=1, keepdims=True)
        after = (out.xyz - origin) / np.linalg.norm(out.xyz - origin, axis=1, keepdims=True)
        assert np.allclose(before, after, atol=1e-9)
        assert np.all(out.prob > 0.5)


def test_points_already_on_the_surface_stay_and_far_ones_are_dropped() -> None:
    origin = np.array([0.0, 0.0, 10.0])
    pts = np.array([[1.0, 1.0, 1.25], [0.0, 0.0, 3.9], [2.0, 0.0, 6.0]])  # on it, 2.65 m above, outside the grid
    out = refine_cloud(pts, ground_prob(), SPEC, 0.5, mode="snap", origin=origin, max_shift=2.0)
    assert out.xyz.tolist() == [[1.0, 1.0, 1.25]] and out.origin.tolist() == [KEPT]
    out = refine_cloud(pts, ground_prob(), SPEC, 0.5, mode="snap", origin=origin, max_shift=3.0)
    assert len(out.xyz) == 2 and out.origin.tolist() == [KEPT, SNAPPED]


def test_complete_adds_one_point_per_occupied_voxel_without_points_and_none_in_empty_voxels() -> None:
    prob = ground_prob()
    pts = np.array([[-3.75, -3.75, 1.25], [0.25, 0.25, 1.25]])  # two ground voxels hold a point
    out = refine_cloud(pts, prob, SPEC, 0.5, mode="complete", origin=np.array([0.0, 0.0, 10.0]),
                       fields={"intensity": np.array([7.0, 9.0], np.float32)})
    n_ground = SPEC.shape[0] * SPEC.shape[1]
    assert out.counts == {"kept": 2, "snapped": 0, "added": n_ground - 2}
    added = out.xyz[out.origin == ADDED]
    assert np.allclose(added[:, 2], 1.25)  # voxel centres of the ground level only: empty voxels add nothing
    assert out.fields["intensity"][:2].tolist() == [7.0, 9.0] and np.all(out.fields["intensity"][2:] == 0)
    assert np.all(out.prob[out.origin == ADDED] == pytest.approx(0.9))
    nothing = refine_cloud(pts, np.zeros(SPEC.shape, np.float32), SPEC, 0.5, mode="complete")
    assert len(nothing.xyz) == 0


def test_filter_mode_is_the_refine_mask_and_bad_modes_are_named() -> None:
    pts = np.vstack([plane_points(50), plane_points(50, seed=1) + [0, 0, 2.0]])
    out = refine_cloud(pts, ground_prob(), SPEC, 0.5, mode="filter")
    assert np.array_equal(out.xyz, pts[refine_mask(pts, ground_prob(), SPEC, 0.5)])
    with pytest.raises(ValueError, match="--refine: expected one of filter, snap, complete, default"):
        refine_cloud(pts, ground_prob(), SPEC, 0.5, mode="smooth")  # type: ignore[arg-type]


def test_refinement_respects_the_grid_transform() -> None:
    T = np.eye(4)
    T[:3, 3] = [0.0, 0.0, -5.0]  # the points' frame sits 5 m above the grid frame
    pts = plane_points(20) + [0, 0, 5.0]
    out = refine_cloud(pts, ground_prob(), SPEC, 0.5, mode="snap", T_grid_points=T, origin=np.array([0, 0, 15.0]))
    assert np.allclose(out.xyz, pts) and np.all(out.origin == KEPT)  # back in the points' own frame


def test_fscore_on_hand_computed_cases() -> None:
    ref = np.array([[0.0, 0, 0], [1.0, 0, 0], [2.0, 0, 0], [3.0, 0, 0]])
    pts = np.array([[0.1, 0, 0], [1.1, 0, 0], [9.0, 0, 0]])  # two close, one far; reference points 2 and 3 missed
    f = fscore(pts, ref, tau=0.2)
    assert f.precision == pytest.approx(2 / 3) and f.recall == pytest.approx(2 / 4)
    assert f.fscore == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))
    assert fscore(pts, ref, tau=0.05).fscore == 0.0
    assert fscore(np.zeros((0, 3)), ref, 0.5).fscore == 0.0
    with pytest.raises(ValueError, match="tau"):
        fscore(pts, ref, 0.0)
