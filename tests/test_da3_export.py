"""Depth Anything 3's own export files (exports/npz and exports/mini_npz results.npz), written by DA3's exporter
(tests/data/recorded/make_da3_export.py), read as depth maps and predicted on like any other input."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial import cKDTree
from test_evaluate_support import train_tiny
from typer.testing import CliRunner

from occkit.cli import app
from occkit.depth.da3_export import is_da3_export, read_da3_export
from occkit.depth.unproject import DEFAULT_CONF_PERCENTILE, confidence_floor
from occkit.errors import InputFileError, OccKitError
from occkit.evaluation import predict
from occkit.evaluation.inputs import collect_inputs

RECORDED = Path(__file__).parent / "data" / "recorded" / "da3_export"
NPZ = RECORDED / "exports" / "npz" / "results.npz"
MINI = RECORDED / "exports" / "mini_npz" / "results.npz"
TRUTH = json.loads((RECORDED / "truth.json").read_text())


def test_both_export_files_read_as_views_with_their_own_intrinsics_and_poses() -> None:
    full, mini = read_da3_export(NPZ), read_da3_export(MINI)
    assert len(full) == len(mini) == 2
    for a, b in zip(full, mini, strict=True):
        assert a.depth.shape == b.depth.shape == (126, 168) and a.depth.dtype == np.float32
        np.testing.assert_allclose(a.depth, b.depth, atol=1e-5)  # npz rounds to 6 decimals, mini_npz to 8
        np.testing.assert_array_equal(a.K, b.K)
        assert a.K[0, 0] > 0 and a.conf is not None and a.conf.shape == a.depth.shape
    assert full[0].processed_image.shape == (126, 168, 3) and mini[0].processed_image is None
    # extrinsics are world-to-camera in the first view's frame: view 0 sits at the origin, view 1 where the
    # true poses put it relative to view 0
    np.testing.assert_allclose(full[0].T_world_cam, np.eye(4), atol=1e-5)
    T0, T1 = (np.array(T) for T in TRUTH["T_world_cam"])
    np.testing.assert_allclose(full[1].T_world_cam, np.linalg.inv(T0) @ T1, atol=1e-4)


def test_the_views_land_on_the_lidar_and_on_each_other() -> None:
    """Unprojected with the true camera poses, each view's points lie on the LiDAR (metres of depth noise at
    60-100 m); in DA3's own frame the two views agree with each other."""
    views = read_da3_export(NPZ)
    lidar = cKDTree(np.load(RECORDED / "lidar_world.npy"))
    for view, T_world_cam in zip(views, TRUTH["T_world_cam"], strict=True):
        distance, _ = lidar.query(view.pseudo_points(T_world_cam=np.array(T_world_cam)))
        assert np.median(distance) < 2.5
    first = cKDTree(views[0].pseudo_points())
    assert np.median(first.query(views[1].pseudo_points())[0]) < 2.0


def test_only_da3_exports_are_taken_for_one(tmp_path: Path) -> None:
    assert is_da3_export(NPZ) and is_da3_export(MINI)
    np.savez(tmp_path / "points.npz", points=np.zeros((5, 3), np.float32))
    np.savez(tmp_path / "depth2d.npz", depth=np.zeros((4, 4), np.float32), intrinsics=np.eye(3))
    (tmp_path / "torn.npz").write_bytes(NPZ.read_bytes()[:1000])
    assert not any(is_da3_export(tmp_path / name) for name in ("points.npz", "depth2d.npz", "torn.npz", "none.npz"))


def _copy_with(tmp_path: Path, **changes: object) -> Path:
    with np.load(MINI) as data:
        arrays = {key: data[key] for key in data.files}
    arrays.update(changes)
    arrays = {key: value for key, value in arrays.items() if value is not None}
    path = tmp_path / "results.npz"
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize(("change", "message"), [
    ({"intrinsics": np.zeros((2, 3, 3), np.float32)}, r"'intrinsics'\[0\].*positive focal"),
    ({"intrinsics": np.zeros((3, 3, 3), np.float32)}, r"'intrinsics' has shape \(3, 3, 3\); expected \(2, 3, 3\)"),
    ({"conf": np.zeros((2, 5, 5), np.float32)}, r"'conf' has shape"),
    ({"extrinsics": np.ones((2, 3, 4), np.float32)}, r"'extrinsics'\[0\].*not orthonormal"),
    ({"extrinsics": np.zeros((2, 4), np.float32)}, r"'extrinsics' is float32 \(2, 4\)"),
    ({"image": np.zeros((2, 126, 168), np.uint8)}, r"'image' is uint8 \(2, 126, 168\)"),
])
def test_a_damaged_export_names_the_key_and_the_expectation(tmp_path: Path, change: dict, message: str) -> None:
    path = _copy_with(tmp_path, **change)
    with pytest.raises(OccKitError, match=message) as info:
        read_da3_export(path)
    assert str(path) in str(info.value)


def test_an_export_that_would_unpickle_is_refused(tmp_path: Path) -> None:
    path = _copy_with(tmp_path, depth=np.array([{"not": "an array"}], dtype=object))
    with pytest.raises(InputFileError, match="not a readable DA3 export"):
        read_da3_export(path)


def test_the_metric_models_raw_output_is_scaled_by_its_focal_length() -> None:
    raw, scaled = read_da3_export(MINI)[0], read_da3_export(MINI, metric_scaling="focal300")[0]
    focal = 0.5 * (raw.K[0, 0] + raw.K[1, 1])
    np.testing.assert_allclose(scaled.depth, raw.depth * focal / 300.0, rtol=1e-6)


def test_predict_takes_an_export_as_one_input_per_view(tmp_path: Path) -> None:
    """`occkit predict RUN results.npz --camera camera.json --poses poses.json`: each view is an input of its own,
    with the file's intrinsics, the camera file's mounting and the pose file's poses; DA3's least confident
    pixels are dropped, as for images."""
    (tmp_path / "camera.json").write_text(json.dumps({"K": np.eye(3).tolist(), "T_sensor_cam": TRUTH["T_sensor_cam"]}))
    poses = {f"results_{i:03d}": T for i, T in enumerate(TRUTH["T_world_sensor"])}
    (tmp_path / "poses.json").write_text(json.dumps(poses))
    items = collect_inputs([NPZ], camera=tmp_path / "camera.json", poses=tmp_path / "poses.json")
    assert [(it.name, it.kind, it.view) for it in items] == [("results_000", "da3_export", 0),
                                                            ("results_001", "da3_export", 1)]
    np.testing.assert_allclose(items[1].T_world_sensor, TRUTH["T_world_sensor"][1])
    _, checkpoint = train_tiny(tmp_path / "tiny")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = predict(checkpoint, items, tmp_path / "out", refine="filter", progress=False)
    for frame, view in zip(result.frames, read_da3_export(NPZ), strict=True):
        floor = confidence_floor(view.depth, view.conf, DEFAULT_CONF_PERCENTILE)
        kept = int(((view.depth > 0) & (view.conf >= floor)).sum())  # DA3 rounds conf to 2 decimals: ties stay
        assert frame.kind == "da3_export" and frame.num_points == kept < view.depth.size
    assert (tmp_path / "out" / "grids" / "results_001" / "labels.npz").is_file()
    cli = CliRunner().invoke(app, ["predict", str(checkpoint), str(MINI), "--out",
                                   str(tmp_path / "cli"), "--no-progress"])
    assert cli.exit_code == 0, cli.output
    assert "results_000" in cli.output and "results_001" in cli.output
