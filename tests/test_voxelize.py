"""voxelize() against a brute-force per-point Python reference, on boundaries, out of range, transformed."""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
import pytest
from real_data import REAL_DIR

from occkit.geometry import GridSpec, grid_to_points, make_transform, voxelize
from occkit.geometry.transforms import apply_transform, yaw_transform
from occkit.geometry.voxelize import ALL_FEATURES

SMALL = GridSpec(pc_range=(-2.0, -3.0, -1.0, 2.0, 3.0, 1.0), voxel_size=(0.5, 0.5, 0.25))  # 8 x 12 x 8, exact binary


def reference(points: np.ndarray, spec: GridSpec, lam: float = 0.3, gamma: float = 5.0) -> dict[str, np.ndarray]:
    """One point at a time in plain Python: the definition voxelize() must reproduce."""
    lo, size, shape = spec.pc_range[:3], spec.voxel_size, spec.shape
    members: dict[tuple[int, int, int], list[list[float]]] = defaultdict(list)
    inside = 0
    for p in np.asarray(points, dtype=np.float64)[:, :3].tolist():
        if not all(math.isfinite(c) for c in p):
            continue
        idx = tuple(math.floor((p[a] - lo[a]) / size[a]) for a in range(3))
        if all(0 <= idx[a] < shape[a] for a in range(3)):
            members[idx].append(p)
            inside += 1
    out = {k: np.zeros(shape, np.float64) for k in ALL_FEATURES}
    for idx, pts in members.items():
        arr = np.array(pts)
        n = len(arr)
        var = float(np.mean(arr.var(axis=0)))  # mean of the per-axis population variances, m^2
        out["count"][idx] = n
        out["occupancy"][idx] = 1
        out["soft"][idx] = 1.0 - math.exp(-lam * n - gamma * var)
        out["mean_height"][idx] = arr[:, 2].mean()
        out["max_height"][idx] = arr[:, 2].max()
        for name, a in (("offset_x", 0), ("offset_y", 1)):  # mean offset from the voxel centre, in voxel sizes
            out[name][idx] = float(np.mean((arr[:, a] - lo[a]) / size[a] - idx[a])) - 0.5
    out["in_range"] = inside
    return out


def check_against_reference(grids, ref: dict[str, np.ndarray]) -> None:
    assert grids.num_in_range == ref["in_range"]
    np.testing.assert_array_equal(grids.count, ref["count"])
    np.testing.assert_array_equal(grids.occupancy, ref["occupancy"].astype(bool))
    np.testing.assert_allclose(grids.soft, ref["soft"], rtol=2e-6, atol=2e-7)
    np.testing.assert_allclose(grids.mean_height, ref["mean_height"], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(grids.max_height, ref["max_height"], rtol=1e-6, atol=1e-6)
    for name in ("offset_x", "offset_y"):
        if getattr(grids, name) is not None:
            np.testing.assert_allclose(getattr(grids, name), ref[name], atol=1e-5)
            assert np.abs(getattr(grids, name)).max() <= 0.5
    assert grids.count.dtype == np.int32 and grids.occupancy.dtype == bool and grids.soft.dtype == np.float32


def clustered_cloud(rng: np.random.Generator, n: int, spec: GridSpec) -> np.ndarray:
    """Points bunched in a few voxels (so soft sees n > 1 and real variance), plus stray ones beyond the range."""
    centres = spec.lower + rng.uniform(0, 1, (25, 3)) * (spec.upper - spec.lower)
    pts = centres[rng.integers(0, 25, n)] + rng.normal(0, 0.15, (n, 3))
    pts[: n // 10] = rng.uniform(spec.lower - 1.5, spec.upper + 1.5, (n // 10, 3))
    return pts


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_reference_on_random_clouds(dtype) -> None:
    rng = np.random.default_rng(3)
    pts = clustered_cloud(rng, 3000, SMALL).astype(dtype)
    grids = voxelize(pts, SMALL, features=ALL_FEATURES)
    ref = reference(pts, SMALL)
    check_against_reference(grids, ref)
    assert 0 < grids.num_in_range < len(pts)
    assert grids.in_range_ratio == pytest.approx(ref["in_range"] / len(pts))
    assert grids.count.max() > 5  # the clusters really stack points, so soft's n and var terms are exercised


def test_matches_reference_on_non_binary_preset() -> None:
    spec = GridSpec.preset("occ3d_nuscenes")
    rng = np.random.default_rng(4)
    pts = clustered_cloud(rng, 2000, spec).astype(np.float32)
    on_faces = spec.lower + rng.integers(0, 200, (300, 3)) * spec.size  # lower faces in float64 arithmetic
    pts = np.concatenate([pts, on_faces.astype(np.float32), on_faces])
    check_against_reference(voxelize(pts, spec, features=ALL_FEATURES), reference(pts, spec))
    idx, inside = spec.points_to_indices(pts)  # same voxel as the GridSpec conversion, bit for bit
    grids = voxelize(pts, spec, features=("count",))
    expected = np.bincount(spec.flat_index(idx[inside]), minlength=spec.num_voxels).reshape(spec.shape)
    np.testing.assert_array_equal(grids.count, expected)


def test_half_open_intervals_on_faces() -> None:
    # (x, y, z) exactly on faces of SMALL: lower faces belong to the voxel above them, the upper range face is out
    pts = np.array([
        [-2.0, -3.0, -1.0],   # lower corner of the range -> voxel (0, 0, 0)
        [0.5, 0.0, 0.25],     # interior faces -> voxel (5, 6, 5)
        [2.0, 0.0, 0.0],      # x on the upper range face -> outside
        [0.0, 3.0, 0.0],      # y on the upper range face -> outside
        [0.0, 0.0, 1.0],      # z on the upper range face -> outside
        [1.9999999, 2.9999999, 0.9999999],  # just inside the upper corner -> last voxel
        [-2.0000001, 0.0, 0.0],  # just below the lower face -> outside
        [np.nan, 0.0, 0.0],   # NaN -> outside
    ])
    grids = voxelize(pts, SMALL, features=("count",))
    assert grids.num_in_range == 3 and grids.num_points == 8
    assert grids.count[0, 0, 0] == 1 and grids.count[5, 6, 5] == 1 and grids.count[7, 11, 7] == 1
    assert grids.count.sum() == 3
    assert grids.in_range_ratio == pytest.approx(3 / 8)


def test_soft_formula_by_hand() -> None:
    # two points in one voxel, 0.2 m apart in x only: per-axis variances (0.01, 0, 0) -> var = 0.01 / 3
    pts = np.array([[0.1, 0.1, 0.1], [0.3, 0.1, 0.1], [1.1, 1.1, 0.6]])
    g = voxelize(pts, SMALL, features=("soft",), lam=0.4, gamma=6.0)
    i, j = SMALL.points_to_indices(pts)[0][[0, 2]]
    assert g.soft[tuple(i)] == pytest.approx(1 - math.exp(-0.4 * 2 - 6.0 * 0.01 / 3), rel=1e-6)
    assert g.soft[tuple(j)] == pytest.approx(1 - math.exp(-0.4), rel=1e-6)  # one point: no variance
    assert np.count_nonzero(g.soft) == 2 and g.count is None and g.occupancy is None
    assert g.occupied_fraction == pytest.approx(2 / SMALL.num_voxels)


def test_transform_applied_before_binning() -> None:
    rng = np.random.default_rng(5)
    pts = clustered_cloud(rng, 2000, SMALL)
    T = make_transform(yaw_transform(0.7)[:3, :3] @ yaw_transform(0.2)[:3, :3].T, [0.3, -0.8, 0.1])
    T[:3, :3] = T[:3, :3] @ np.array([[1, 0, 0], [0, np.cos(0.1), -np.sin(0.1)], [0, np.sin(0.1), np.cos(0.1)]])
    grids = voxelize(pts, SMALL, features=ALL_FEATURES, T_grid_points=T)
    check_against_reference(grids, reference(apply_transform(T, pts), SMALL))
    assert not np.array_equal(grids.count, voxelize(pts, SMALL, features=("count",)).count)
    with pytest.raises(ValueError, match="T_grid_points"):
        voxelize(pts, SMALL, T_grid_points=np.diag([1.0, 1.0, -1.0, 1.0]))  # a reflection is no pose


def test_in_range_ratio_and_empty_inputs() -> None:
    inside = np.zeros((6, 3))
    outside = np.full((4, 3), 50.0)
    g = voxelize(np.vstack([inside, outside]), SMALL)
    assert g.in_range_ratio == pytest.approx(0.6) and g.count.sum() == 6 and g.occupied_fraction == 1 / 768
    empty = voxelize(np.zeros((0, 3), np.float32), SMALL, features=ALL_FEATURES)
    assert empty.in_range_ratio == 0.0 and not empty.occupancy.any() and empty.soft.shape == SMALL.shape
    none_in = voxelize(outside, SMALL, features=ALL_FEATURES)
    assert none_in.num_in_range == 0 and none_in.count.sum() == 0


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="unknown voxel features"):
        voxelize(np.zeros((2, 3)), SMALL, features=("density",))
    with pytest.raises(ValueError, match="\\(N, >=3\\)"):
        voxelize(np.zeros((2, 2)), SMALL)


def test_extra_columns_are_ignored() -> None:
    rng = np.random.default_rng(6)
    pts = clustered_cloud(rng, 500, SMALL)
    with_intensity = np.column_stack([pts, rng.random(len(pts))])
    np.testing.assert_array_equal(voxelize(with_intensity, SMALL).soft, voxelize(pts, SMALL).soft)


def test_grid_to_points_round_trip() -> None:
    rng = np.random.default_rng(8)
    occ = rng.random(SMALL.shape) < 0.05
    centres = grid_to_points(occ, SMALL)
    assert centres.dtype == np.float32 and len(centres) == occ.sum()
    np.testing.assert_array_equal(voxelize(centres, SMALL, features=("occupancy",)).occupancy, occ)
    soft = np.where(occ, 0.9, 0.2).astype(np.float32)
    np.testing.assert_array_equal(grid_to_points(soft, SMALL), centres)
    assert len(grid_to_points(soft, SMALL, threshold=0.95)) == 0
    with pytest.raises(ValueError, match="shape"):
        grid_to_points(occ[:-1], SMALL)


# ---- `occkit voxelize` -----------------------------------------------------------------------------


def test_cli_voxelize_writes_npz_matching_the_library(tmp_path) -> None:
    import json

    from typer.testing import CliRunner

    from occkit.cli import app
    from occkit.io.points import write_points

    rng = np.random.default_rng(9)
    spec = GridSpec.preset("occ3d_nuscenes")
    pts = clustered_cloud(rng, 3000, spec).astype(np.float32)
    scan = write_points(tmp_path / "scan.pcd.bin", pts)
    T = yaw_transform(0.3, [1.0, -2.0, 0.5])
    (tmp_path / "pose.json").write_text(json.dumps({"T4x4": T.tolist()}))
    out = tmp_path / "grid.npz"
    res = CliRunner().invoke(app, ["voxelize", str(scan), "--grid", "occ3d_nuscenes", "--out", str(out),
                                   "--pose-json", str(tmp_path / "pose.json")])
    assert res.exit_code == 0, res.output
    assert "in-range ratio" in res.output and "200x200x16" in res.output
    expected = voxelize(pts, spec, T_grid_points=T)
    with np.load(out) as npz:
        np.testing.assert_array_equal(npz["count"], expected.count)
        np.testing.assert_array_equal(npz["occupancy"], expected.occupancy)
        np.testing.assert_array_equal(npz["soft"], expected.soft)
        assert GridSpec.model_validate_json(str(npz["grid_spec"])) == spec
        assert json.loads(str(npz["stats"]))["in_range_ratio"] == pytest.approx(expected.in_range_ratio)


def test_cli_voxelize_bad_inputs_exit_2_naming_the_file(tmp_path) -> None:
    from typer.testing import CliRunner

    from occkit.cli import app

    runner = CliRunner()
    missing = tmp_path / "missing.pcd.bin"
    res = runner.invoke(app, ["voxelize", str(missing)])
    assert res.exit_code == 2 and "missing.pcd.bin" in res.output and "not found" in res.output
    scan = tmp_path / "a.txt"
    scan.write_text("1 2 3\n")
    (tmp_path / "pose.json").write_text("[[2, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]")
    res = runner.invoke(app, ["voxelize", str(scan), "--pose-json", str(tmp_path / "pose.json")])
    assert res.exit_code == 2 and "pose.json" in res.output and "orthonormal" in res.output
    res = runner.invoke(app, ["voxelize", str(scan), "--grid", "kitti"])
    assert res.exit_code != 0 and "semantickitti" in res.output


def test_cli_voxelize_real_las_centred(tmp_path) -> None:

    from typer.testing import CliRunner

    from occkit.cli import app

    las = sorted(REAL_DIR.glob("*.las"))[0]
    res = CliRunner().invoke(app, ["voxelize", str(las), "--grid", "uav", "--center", "--out", str(tmp_path / "g.npz")])
    assert res.exit_code == 0, res.output
    with np.load(tmp_path / "g.npz") as npz:
        assert 0 < npz["occupancy"].mean() < 0.01  # a real scan: under 1% of the voxels occupied
        assert npz["count"].sum() > 0.95 * 10_000
