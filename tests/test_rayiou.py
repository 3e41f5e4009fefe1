"""RayIoU on crafted grids with known hit distances, the DDA against brute-force marching, merging."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from real_data import AERIAL_LAS

from occkit.errors import ConfigError, GridMismatchError
from occkit.geometry import GridSpec, grid_to_channels
from occkit.metrics import RayIoU, ray_directions, sparseocc_elevations_deg
from occkit.metrics.rays import first_hits, march_first_hits, traversal_table

# x 0..16 m, y -8..8 m, z -2..2 m at 0.5 m: 32 x 32 x 8.
SPEC = GridSpec(pc_range=(0.0, -8.0, -2.0, 16.0, 8.0, 2.0), voxel_size=(0.5, 0.5, 0.5))
ORIGIN = (1.0, 0.0, 0.1)


def dirs_deg(*azimuths: float) -> np.ndarray:
    a = np.radians(azimuths)
    return np.stack([np.cos(a), np.sin(a), np.zeros_like(a)], axis=1)


def wall(x_m: float, label: int = 1, free: int = 0) -> np.ndarray:
    """[x, y, z] grid with a one-voxel-thick wall whose near face is at x = x_m."""
    g = np.full(SPEC.shape, free, dtype=np.int64)
    g[int(round(x_m / 0.5)), :, :] = label
    return g


def as_logits(grid: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.where(grid_to_channels(grid) > 0, 8.0, -8.0).astype(np.float32))


def test_wall_shifted_by_1_5_m_counts_at_2_and_4_m_not_at_1_m() -> None:
    gt = wall(10.0)
    pred = wall(11.5)
    m = RayIoU(SPEC, origins=[ORIGIN], directions=dirs_deg(-10, 0, 10, 180))
    m.update(as_logits(pred), torch.from_numpy(grid_to_channels(gt)).float())
    r = m.compute()
    assert r["num_rays"].item() == 3  # the ray towards -x hits nothing in the GT and is not scored
    assert r["rayiou_1m"].item() == 0.0
    assert r["rayiou_2m"].item() == 1.0 and r["rayiou_4m"].item() == 1.0
    assert r["rayiou"].item() == pytest.approx(2 / 3)


def test_hit_depths_are_exact_entry_distances() -> None:
    flat, depth = traversal_table(SPEC, ORIGIN, dirs_deg(0, 10, 180))
    occ = torch.from_numpy(wall(10.0).reshape(1, -1) > 0)
    hit, d = first_hits(occ, flat, depth)
    assert d[0, 0].item() == pytest.approx(9.0, abs=1e-5)
    assert d[0, 1].item() == pytest.approx(9.0 / math.cos(math.radians(10)), abs=1e-4)
    assert math.isinf(d[0, 2].item()) and hit[0, 2].item() == SPEC.num_voxels
    assert np.unravel_index(hit[0, 0].item(), SPEC.shape) == (20, 16, 4)


def test_missing_prediction_and_extra_prediction_off_scored_rays() -> None:
    m = RayIoU(SPEC, origins=[ORIGIN], directions=dirs_deg(0, 180))
    pred = wall(10.0)
    pred[0, :, :] = 1  # behind the sensor, on the unscored ray: costs nothing
    m.update(as_logits(pred), torch.from_numpy(grid_to_channels(wall(10.0))).float())
    assert m.compute()["rayiou"].item() == 1.0
    empty = RayIoU(SPEC, origins=[ORIGIN], directions=dirs_deg(0, 180))
    empty.update(as_logits(np.zeros(SPEC.shape)), torch.from_numpy(grid_to_channels(wall(10.0))).float())
    assert empty.compute()["rayiou"].item() == 0.0


def test_semantic_classes_must_match() -> None:
    gt = wall(10.0, label=4, free=17)
    gt[:, : SPEC.shape[1] // 2, :] = np.where(gt[:, : SPEC.shape[1] // 2, :] == 4, 5, 17)  # y < 0 half is class 5
    pred = np.where(gt != 17, 5, 17)  # right place, everything called class 5
    m = RayIoU(SPEC, origins=[ORIGIN], directions=dirs_deg(-10, 10), num_classes=18, free_label=17)
    m.update(torch.from_numpy(grid_to_channels(pred)), torch.from_numpy(grid_to_channels(gt)))
    r = m.compute()
    # class 4: tp 0 of 1 GT ray; class 5: tp 1, gt 1, pred 2 -> 1/2. Mean over the two classes present.
    assert r["per_class_rayiou"][0, 4].item() == 0.0
    assert r["per_class_rayiou"][0, 5].item() == pytest.approx(0.5)
    assert r["rayiou"].item() == pytest.approx(0.25)


def test_mask_drops_rays_whose_gt_hit_is_masked() -> None:
    m = RayIoU(SPEC, origins=[ORIGIN], directions=dirs_deg(0))
    mask = np.ones(SPEC.shape, bool)
    mask[20] = False
    m.update(as_logits(wall(10.0)), torch.from_numpy(grid_to_channels(wall(10.0))).float(),
             torch.from_numpy(grid_to_channels(mask)))
    r = m.compute()
    assert r["num_rays"].item() == 0 and math.isnan(r["rayiou"].item())


def test_dda_matches_brute_force_marching() -> None:
    rng = np.random.default_rng(0)
    occ = rng.random(SPEC.shape) < 0.04
    origin = np.array([7.3, 0.4, -0.3])
    d = rng.normal(size=(150, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    flat, depth = traversal_table(SPEC, origin, d)
    _, got = first_hits(torch.from_numpy(occ.reshape(1, -1)), flat, depth)
    step = 0.002
    t = np.arange(0, 30, step)
    pts = origin + t[None, :, None] * d[:, None, :]  # (R, S, 3)
    idx, inside = SPEC.points_to_indices(pts.reshape(-1, 3))
    hit = np.zeros(len(idx), bool)
    hit[inside] = occ[idx[inside, 0], idx[inside, 1], idx[inside, 2]]
    hit = hit.reshape(len(d), -1)
    want = np.where(hit.any(1), t[hit.argmax(1)], np.inf)
    got = got[0].numpy()
    assert np.array_equal(np.isinf(want), np.isinf(got))
    fin = np.isfinite(want)
    assert fin.sum() > 50
    np.testing.assert_allclose(got[fin], want[fin], atol=step + 1e-4)


def test_origin_above_the_grid_looks_down() -> None:
    occ = np.zeros(SPEC.shape, bool)
    occ[10, 16, 3] = True  # top face at z = 0.0
    x, y = (10 + 0.5) * 0.5, 0.25
    flat, depth = traversal_table(SPEC, (x, y, 10.0), np.array([[0.0, 0.0, -1.0]]))
    _, d = first_hits(torch.from_numpy(occ.reshape(1, -1)), flat, depth)
    assert d.item() == pytest.approx(10.0, abs=1e-5)


def test_rays_that_miss_the_grid_traverse_nothing_and_do_not_warn() -> None:
    """A sensor above the grid: rays pointing up or sideways never enter it (their entry distance is infinite)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "invalid value encountered in cast" from an infinite start point
        flat, depth = traversal_table(SPEC, (1.0, 1.0, 10.0), np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0],
                                                                        [0.0, 0.0, -1.0]]))
    assert (flat[:2] == SPEC.num_voxels).all()  # the two misses: padding only
    assert (flat[2] < SPEC.num_voxels).any()  # the downward ray enters the grid


def test_merge_of_halves_equals_whole_and_default_rays() -> None:
    rng = np.random.default_rng(3)
    pred = torch.from_numpy(rng.normal(size=(4, 8, 32, 32)).astype(np.float32)) - 2
    target = torch.from_numpy((rng.random((4, 8, 32, 32)) < 0.05).astype(np.float32))
    kw = dict(origins=[ORIGIN, (8.0, 0.0, 0.0)], num_azimuth=36)
    whole, a, b = RayIoU(SPEC, **kw), RayIoU(SPEC, **kw), RayIoU(SPEC, **kw)
    whole.update(pred, target)
    a.update(pred[:3], target[:3])
    b.update(pred[3:], target[3:])
    a.merge_state(b)
    ra, rw = a.compute(), whole.compute()
    for key in rw:
        assert torch.allclose(ra[key], rw[key], equal_nan=True), key
    assert 0 < rw["rayiou"].item() < 1
    assert rw["rayiou_1m"] <= rw["rayiou_2m"] <= rw["rayiou_4m"]
    elev = sparseocc_elevations_deg()
    assert elev[0] == pytest.approx(-45.0) and 0.21 <= math.radians(elev[-1]) < 0.25
    assert ray_directions(36).shape == (36 * len(elev), 3)


def test_errors_name_the_field() -> None:
    with pytest.raises(ConfigError, match="depth_thresholds"):
        RayIoU(SPEC, depth_thresholds=[0, 1])
    with pytest.raises(ConfigError, match="directions"):
        RayIoU(SPEC, directions=np.zeros((2, 2)))
    with pytest.raises(ConfigError, match="num_azimuth"):
        RayIoU(SPEC, num_azimuth=0)
    m = RayIoU(SPEC, origins=[ORIGIN], directions=dirs_deg(0))
    with pytest.raises(GridMismatchError, match="needs"):
        m.update(torch.zeros(1, 8, 32, 31), torch.zeros(1, 8, 32, 31))


def test_real_aerial_scan_lifted_by_1_5_m() -> None:
    """A real LAS scan (nobody here made it) as GT; the prediction is the same grid 1.5 m higher.

    Vertical rays from above see every surface exactly 1.5 m early: scored at 2 and 4 m, never at 1 m.
    """
    from occkit.geometry import voxelize
    from occkit.io.points import read_points

    cloud = read_points(AERIAL_LAS)
    spec = GridSpec(pc_range=(0.0, 0.0, 0.0, 19.0, 12.5, 20.0), voxel_size=(0.5, 0.5, 0.5))  # metres (read from feet)
    gt = voxelize(cloud.xyz, spec, features=("occupancy",)).occupancy
    assert gt[:, :, -3:].sum() == 0 and 0 < gt.mean() < 0.15  # room to lift; a small tile with trees
    pred = np.roll(gt, 3, axis=2)
    xs, ys = np.meshgrid(np.arange(0.75, 19, 1.0), np.arange(0.25, 12.5, 1.0))
    origins = np.stack([xs.ravel(), ys.ravel(), np.full(xs.size, 30.0)], axis=1)
    m = RayIoU(spec, origins=origins, directions=np.array([[0.0, 0.0, -1.0]]))
    m.update(as_logits(pred), torch.from_numpy(grid_to_channels(gt)).float())
    r = m.compute()
    assert r["num_rays"].item() > 0.5 * len(origins)  # most columns hold a return
    assert r["rayiou_1m"].item() == 0.0
    assert r["rayiou_2m"].item() == 1.0 and r["rayiou_4m"].item() == 1.0


def test_rays_from_each_frames_own_sensor_positions() -> None:
    """Per-sample origins: a downward ray from two sensors above a floor and a raised block, with known depths."""
    spec = GridSpec(pc_range=(0.0, 0.0, 0.0, 8.0, 8.0, 4.0), voxel_size=(0.5, 0.5, 0.5))
    gt = np.zeros(spec.shape, np.int64)
    gt[:, :, 0] = 1  # floor: top face at z = 0.5
    gt[8:12, 8:12, 3] = 1  # a block whose top face is at z = 2.0, under (5, 5)
    pred = gt.copy()
    pred[8:12, 8:12, 3] = 0  # the prediction misses the block
    down = np.array([[0.0, 0.0, -1.0]])
    metric = RayIoU(spec, directions=down, depth_thresholds=[1.0])
    # sample 0 looks down at (5, 5) and (1, 1) from 10 m; sample 1 from (1, 1) only
    origins = [np.array([[5.1, 5.1, 10.0], [1.1, 1.1, 10.0]]), np.array([[1.1, 1.1, 10.0]])]
    metric.update(as_logits(pred)[None].repeat(2, 1, 1, 1), as_logits(gt)[None].repeat(2, 1, 1, 1), origins=origins)
    out = metric.compute()
    # three scored rays: the block ray's prediction lands 1.5 m deeper (a miss at 1 m), the two floor rays hit
    assert int(out["num_rays"]) == 3
    assert float(out["rayiou"]) == pytest.approx(2 / (3 + 3 - 2))
    # at most max_origins per frame are cast
    capped = RayIoU(spec, directions=down, depth_thresholds=[1.0], max_origins=1)
    capped.update(as_logits(gt)[None], as_logits(gt)[None], origins=[origins[0]])
    assert int(capped.compute()["num_rays"]) == 1
    with pytest.raises(ConfigError, match="one \\(K, 3\\) array per sample"):
        metric.update(as_logits(gt)[None], as_logits(gt)[None], origins=origins)


def test_synthetic_samples_carry_their_sweeps_sensor_positions() -> None:
    from occkit.data.config import DataConfig
    from occkit.data.grids import FrameToGrids
    from occkit.sources.synthetic import SyntheticSourceConfig

    src = SyntheticSourceConfig(preset="uav_town", train_frames=1, val_frames=0, accumulate_poses=3)
    grid = GridSpec(pc_range=(-8.0, -8.0, -10.0, 8.0, 8.0, 50.5), voxel_size=(0.4, 0.4, 0.5))
    frame = src.build("train")[0]
    sample = FrameToGrids(DataConfig(source=src, grid=grid))(frame)
    o = sample["sensor_origins"]
    assert o.shape == (3, 3)
    # the drone flies 50-130 m up: every sensor sits above the grid, own sensor first, at the frame's own position
    assert np.all(o[:, 2] > 50.5)
    assert np.allclose(o[0, :2], 0.0, atol=1e-3)  # the grid is centred under this frame's LiDAR


@pytest.mark.parametrize("grid", ["occ3d_nuscenes", "uav", "semantickitti"])
def test_marching_a_frames_rays_finds_the_same_first_hits_as_the_traversal_table(grid: str) -> None:
    """A frame's own origins are marched without a table (each ray stops once it has hit in every grid): the
    same voxels and entry distances as the table's first hits, for origins inside, outside and above the grid,
    with and without a range limit."""
    spec = GridSpec.preset(grid)
    rng = np.random.default_rng(3)
    directions = ray_directions(72, [-88.0, -60.0, -30.0, -5.0, 0.0, 10.0])
    origins = np.stack([rng.uniform(spec.lower, spec.upper), rng.uniform(spec.lower - 8.0, spec.upper + 8.0),
                        np.r_[0.5 * (spec.lower[:2] + spec.upper[:2]), spec.upper[2] + 40.0]])
    grids = [rng.random(spec.num_voxels) < p for p in (0.01, 0.001)]
    for max_range in (None, 25.0):
        marched = march_first_hits(spec, origins, directions, grids, max_range)
        tables = [traversal_table(spec, o, directions, max_range) for o in origins]
        for occupied, (hit, depth) in zip(grids, marched, strict=True):
            expected = [first_hits(torch.from_numpy(occupied[None]), f, d) for f, d in tables]
            assert torch.equal(hit, torch.cat([h for h, _ in expected], dim=1))
            assert torch.equal(depth, torch.cat([d for _, d in expected], dim=1))
            assert (hit < spec.num_voxels).any() and (hit == spec.num_voxels).any()


def test_several_predictions_marched_together_count_as_one_update_each() -> None:
    """occkit eval scores the model and its baselines through one march per frame: the same counts as three
    separate updates, with and without a mask."""
    from occkit.metrics.rayiou import update_binary_together

    rng = np.random.default_rng(5)
    target = torch.from_numpy(grid_to_channels(rng.random((2, *SPEC.shape)) < 0.02).astype(np.float32))
    preds = [torch.from_numpy(grid_to_channels(rng.random((2, *SPEC.shape)) < p).astype(np.float32) * 40 - 20)
             for p in (0.01, 0.03, 0.0)]
    origins = [np.array([[1.0, 0.0, 0.5], [6.0, 2.0, 0.0]]), np.array([[3.0, -4.0, 1.0]])]
    for mask in (None, torch.from_numpy(grid_to_channels(rng.random((2, *SPEC.shape)) < 0.7))):
        together = [RayIoU(SPEC, elevations_deg=[-20.0, 0.0, 15.0], num_azimuth=36) for _ in preds]
        apart = [RayIoU(SPEC, elevations_deg=[-20.0, 0.0, 15.0], num_azimuth=36) for _ in preds]
        update_binary_together(together, preds, target, mask, origins)
        for metric, pred in zip(apart, preds, strict=True):
            metric.update(pred, target, mask, origins=origins)
        for a, b in zip(together, apart, strict=True):
            for key in ("tp_count", "gt_count", "pred_count", "num_rays"):
                assert torch.equal(getattr(a, key), getattr(b, key)), key
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("error")  # each counts as updated: no "compute before update" warning
            assert int(together[0].num_rays) > 0 and float(together[0].compute()["rayiou"]) < 1.0
