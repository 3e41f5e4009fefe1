"""predict() and `occkit predict` on a real tiny checkpoint: files read back with occkit's own readers."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from test_evaluate_support import TINY_GRID, crafted_scan, train_tiny
from typer.testing import CliRunner

from occkit.cli import app
from occkit.depth.da3 import DepthPrediction
from occkit.errors import InputFileError
from occkit.evaluation import OCCUPIED_LABEL, predict
from occkit.evaluation.refine import refine_mask
from occkit.geometry.transforms import yaw_transform
from occkit.io.occ3d import FREE_LABEL, read_occ3d_labels
from occkit.io.points import read_points, write_points

CAMERA = {"K": [[20.0, 0, 15.5], [0, 40.0, 11.5], [0, 0, 1]], "width": 32, "height": 24,
          # camera looks along sensor +x from (0, 8, 2): cam z -> sensor x, cam x -> sensor -y, cam y -> sensor -z
          "T_sensor_cam": [[0, 0, 1, 0.0], [-1, 0, 0, 8.0], [0, -1, 0, 2.0], [0, 0, 0, 1]]}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    return train_tiny(tmp_path_factory.mktemp("predtiny"))


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def noisy_inputs(folder: Path, lidar_dir: Path, n: int = 2) -> list[np.ndarray]:
    """Scans with floaters as .ply inputs (one also with an intensity field), the clean scans as LiDAR .pcd."""
    rng = np.random.default_rng(7)
    clouds = []
    for i in range(n):
        clean = crafted_scan(rng)
        floaters = np.column_stack([rng.uniform(0, 16, 300), rng.uniform(0, 16, 300), rng.uniform(0, 4, 300)])
        noisy = np.concatenate([clean, floaters]).astype(np.float32)
        write_points(folder / f"f{i}.ply", noisy, {"intensity": np.arange(len(noisy), dtype=np.float32)})
        write_points(lidar_dir / f"f{i}.pcd", clean)
        clouds.append(noisy)
    return clouds


def test_predict_writes_occ3d_grids_refined_clouds_and_chamfer(trained, tmp_path: Path) -> None:
    _, ckpt = trained
    clouds = noisy_inputs(tmp_path / "in", tmp_path / "lidar")
    result = predict(ckpt, [tmp_path / "in"], tmp_path / "out", lidar=tmp_path / "lidar", refine="filter",
                     cloud_format="pcd", progress=False)
    assert [f.name for f in result.frames] == ["f0", "f1"]
    summary = json.loads((tmp_path / "out" / "predict_summary.json").read_text())
    assert summary["occupied_label"] == OCCUPIED_LABEL and len(summary["frames"]) == 2
    for rec, cloud in zip(result.frames, clouds, strict=True):
        labels = read_occ3d_labels(rec.grid_path, spec=TINY_GRID)
        assert labels.semantics.shape == TINY_GRID.shape
        assert set(np.unique(labels.semantics)) <= {OCCUPIED_LABEL, FREE_LABEL}
        assert labels.mask_lidar.all() and labels.mask_camera.all()
        assert labels.occupancy.mean() == pytest.approx(rec.occupied_fraction)
        refined = read_points(rec.cloud_path)
        assert len(refined) == rec.num_kept == round(rec.kept_fraction * len(cloud)) and 0 < rec.num_kept < len(cloud)
        assert set(refined.fields) >= {"intensity"}
        kept_rows = refined.fields["intensity"].astype(int)  # the intensity field is the input row number
        np.testing.assert_allclose(refined.xyz, cloud[kept_rows], atol=1e-6)
        assert rec.lidar is not None and rec.lidar.endswith(f"{rec.name}.pcd")
        assert 0 < rec.chamfer_raw < 5 and 0 < rec.chamfer_refined < 5 and rec.accuracy_raw > 0
        assert summary["frames"][result.frames.index(rec)]["chamfer_refined"] == pytest.approx(rec.chamfer_refined)


def test_refined_points_are_exactly_those_above_threshold_in_the_npy_grid(trained, tmp_path: Path) -> None:
    _, ckpt = trained
    cloud = noisy_inputs(tmp_path / "in", tmp_path / "lidar", n=1)[0]
    res = predict(ckpt, [tmp_path / "in" / "f0.ply"], tmp_path / "out", grid_format="npy", cloud_format="ply",
                  threshold=0.3, refine="filter", progress=False)
    rec = res.frames[0]
    prob = np.load(rec.grid_path)
    assert prob.shape == TINY_GRID.shape and prob.dtype == np.float32 and 0 <= prob.min() <= prob.max() <= 1
    assert rec.alignment == "ego" and rec.pose_from == "identity"  # identity pose: the grid frame is the input's
    keep = refine_mask(cloud, prob, TINY_GRID, 0.3)
    refined = read_points(rec.cloud_path)
    np.testing.assert_allclose(refined.xyz, cloud[keep], atol=1e-6)
    labels = predict(ckpt, [tmp_path / "in" / "f0.ply"], tmp_path / "out2", threshold=0.3, progress=False)
    sem = read_occ3d_labels(labels.frames[0].grid_path, spec=TINY_GRID).semantics
    np.testing.assert_array_equal(sem == OCCUPIED_LABEL, prob > 0.3)


def test_default_refinement_writes_pcd_ply_and_kitti_bin_with_origins_and_fscores(trained, tmp_path: Path) -> None:
    from occkit.evaluation.refine_modes import ADDED, KEPT, SNAPPED

    _, ckpt = trained
    cloud = noisy_inputs(tmp_path / "in", tmp_path / "lidar", n=1)[0]
    res = predict(ckpt, [tmp_path / "in"], tmp_path / "out", lidar=tmp_path / "lidar", pictures=True,
                  progress=False)
    rec = res.frames[0]
    assert rec.refine_mode == "default" and [Path(p).suffix for p in rec.cloud_paths] == [".pcd", ".ply", ".bin"]
    pcd, ply = read_points(rec.cloud_paths[0]), read_points(rec.cloud_paths[1])
    n = rec.num_kept + rec.num_added
    assert len(pcd) == len(ply) == n and rec.num_added > 0
    np.testing.assert_allclose(pcd.xyz, ply.xyz, atol=1e-5)
    codes = pcd.fields["origin"].astype(int)
    assert set(np.unique(codes)) <= {KEPT, SNAPPED, ADDED} and int((codes == ADDED).sum()) == rec.num_added
    assert np.all((pcd.fields["prob"] > res.refine_threshold) | (codes == KEPT))
    # kept points are input points, untouched, with their intensity
    kept = codes == KEPT
    np.testing.assert_allclose(pcd.xyz[kept], cloud[pcd.fields["intensity"][kept].astype(int)], atol=1e-5)
    # KITTI .bin: float32 x y z intensity, read back with the declared column count
    raw = np.fromfile(rec.cloud_paths[2], dtype="<f4")
    assert raw.size == 4 * n
    kitti = read_points(rec.cloud_paths[2], columns=4)
    np.testing.assert_allclose(kitti.xyz, pcd.xyz, atol=1e-4)
    np.testing.assert_allclose(kitti.fields["intensity"], np.where(codes == ADDED, 0, pcd.fields["intensity"]))
    for k in (1, 2):
        assert 0 <= getattr(rec, f"fscore{k}_raw") <= 1 and 0 <= getattr(rec, f"fscore{k}_refined") <= 1
    assert rec.fscore2_refined >= rec.fscore1_refined
    assert (tmp_path / "out" / "pictures" / "f0_clouds.png").stat().st_size > 10_000
    assert "plotly" in (tmp_path / "out" / "pictures" / "f0_clouds.html").read_text()[:300000].lower()


def test_a_pose_file_moves_the_input_like_training_does(trained, tmp_path: Path) -> None:
    _, ckpt = trained
    cloud = crafted_scan(np.random.default_rng(1))
    write_points(tmp_path / "plain" / "s.npy", cloud)
    # the ego frame keeps only yaw and puts z = 0 at the world datum: lifting the sensor by 1 m while its points
    # sit 1 m lower must give the same grid, whatever the heading and x/y position
    write_points(tmp_path / "posed" / "s.npy", cloud - np.array([0, 0, 1.0], np.float32))
    T = yaw_transform(0.0, np.array([30.0, -4.0, 1.0]))
    (tmp_path / "posed" / "s.pose.txt").write_text("\n".join(" ".join(map(str, r)) for r in T))
    a = predict(ckpt, [tmp_path / "plain"], tmp_path / "oa", grid_format="npy", progress=False).frames[0]
    b = predict(ckpt, [tmp_path / "posed"], tmp_path / "ob", grid_format="npy", progress=False).frames[0]
    assert b.pose_from.endswith("s.pose.txt") and b.num_points == a.num_points
    np.testing.assert_allclose(np.load(b.grid_path), np.load(a.grid_path), atol=1e-5)
    refined = read_points(b.cloud_path)  # written in the input's own frame
    assert refined.xyz[:, 2].min() < 0 and b.num_kept == a.num_kept


def test_depth_maps_and_images_become_sensor_frame_points(trained, tmp_path: Path) -> None:
    _, ckpt = trained
    (tmp_path / "cams").mkdir()
    (tmp_path / "cams" / "camera.json").write_text(json.dumps(CAMERA))
    np.save(tmp_path / "cams" / "d0.npy", np.full((24, 32), 5.0, np.float32))
    res = predict(ckpt, [tmp_path / "cams"], tmp_path / "out", grid_format="npy", threshold=0.05, refine="filter",
                  progress=False)
    rec = res.frames[0]
    assert rec.kind == "depth" and rec.num_points == 24 * 32 and rec.num_in_grid == rec.num_points
    refined = read_points(rec.cloud_path)
    assert len(refined) == rec.num_kept > 0
    np.testing.assert_allclose(refined.xyz[:, 0], 5.0, atol=1e-4)  # the depth plane, 5 m in front (sensor x)

    class StandInDepth:  # what occkit.depth.pseudo asks of a depth model (DA3Depth.predict's signature)
        def predict(self, images, K=None, T_world_cam=None, progress=False):
            return [DepthPrediction(depth=np.full((24, 32), 5.0, np.float32), K=np.asarray(k)) for k in K]

    from PIL import Image

    Image.fromarray(np.zeros((24, 32, 3), np.uint8)).save(tmp_path / "img.jpg")
    img = predict(ckpt, [tmp_path / "img.jpg"], tmp_path / "out_img", camera=tmp_path / "cams" / "camera.json",
                  grid_format="npy", threshold=0.05, depth_model=StandInDepth(), progress=False).frames[0]
    assert img.kind == "image" and img.num_points == 24 * 32
    np.testing.assert_allclose(np.load(img.grid_path), np.load(rec.grid_path), atol=1e-6)


def test_bad_inputs_name_the_file(trained, tmp_path: Path) -> None:
    _, ckpt = trained
    with pytest.raises(InputFileError, match="missing.ply"):
        predict(ckpt, [tmp_path / "missing.ply"], tmp_path / "out", progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputFileError, match="no inputs found") as err:
        predict(ckpt, [tmp_path / "empty"], tmp_path / "out", progress=False)
    assert "subfolders" not in str(err.value)
    write_points(tmp_path / "empty" / "velodyne" / "000000.bin", crafted_scan(np.random.default_rng(0)))
    with pytest.raises(InputFileError, match=r"no inputs found .*; its subfolders are not searched, pass one of "
                                             r"them: .*empty/velodyne$"):
        predict(ckpt, [tmp_path / "empty"], tmp_path / "out", progress=False)
    write_points(tmp_path / "a" / "x.npy", crafted_scan(np.random.default_rng(0)))
    write_points(tmp_path / "b" / "x.ply", crafted_scan(np.random.default_rng(0)))
    with pytest.raises(InputFileError, match="same name 'x'"):
        predict(ckpt, [tmp_path / "a", tmp_path / "b"], tmp_path / "out", progress=False)
    (tmp_path / "a" / "x.pose.txt").write_text("1 0 0\n0 1 0")
    with pytest.raises(InputFileError, match="x.pose.txt.*12 or 16 numbers"):
        predict(ckpt, [tmp_path / "a"], tmp_path / "out", progress=False)


def test_cli_predict_summary_table_and_exit_codes(trained, tmp_path: Path) -> None:
    _, ckpt = trained
    noisy_inputs(tmp_path / "in", tmp_path / "lidar", n=1)
    res = CliRunner().invoke(app, ["predict", "--checkpoint", str(ckpt), "--inputs", str(tmp_path / "in"),
                                   "--lidar", str(tmp_path / "lidar"), "--out", str(tmp_path / "out"),
                                   "--format", "npy", "--cloud-format", "ply", "--no-progress"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "out" / "grids" / "f0.npy").is_file() and (tmp_path / "out" / "refined" / "f0.ply").is_file()
    rec = json.loads((tmp_path / "out" / "predict_summary.json").read_text())["frames"][0]
    assert "f0" in res.output and f"{rec['chamfer_refined']:.3f}" in res.output
    res = CliRunner().invoke(app, ["predict", "--checkpoint", str(ckpt), "--inputs", str(tmp_path / "in"),
                                   "--out", str(tmp_path / "o1"), "--no-progress"])
    assert res.exit_code == 0 and "f0" in res.output
    assert "chamfer" not in res.output and "…" not in res.output  # no LiDAR columns, nothing cut short
    missing = tmp_path / "none.ckpt"
    res = CliRunner().invoke(app, ["predict", "--checkpoint", str(missing), "--inputs", str(tmp_path / "in"),
                                   "--out", str(tmp_path / "o2")])
    assert res.exit_code == 2 and str(missing) in res.output and "checkpoint not found" in res.output
    res = CliRunner().invoke(app, ["predict", "--checkpoint", str(ckpt), "--inputs", str(tmp_path / "nothing"),
                                   "--out", str(tmp_path / "o3")])
    assert res.exit_code == 2 and "nothing" in res.output and "input not found" in res.output
    res = CliRunner().invoke(app, ["predict", "--checkpoint", str(ckpt), "--inputs", str(tmp_path / "in"),
                                   "--out", str(tmp_path / "o4"), "--format", "tiff"])
    assert res.exit_code == 2 and "--format" in res.output


def test_a_model_that_reads_an_elevation_model_is_refused_with_one_line(tmp_path: Path) -> None:
    """Files carry no DEM: a model trained with one is refused before any input is read, naming the setting."""
    from occkit.config import load_config
    from occkit.errors import ConfigError
    from occkit.train.module import OccupancyModule

    module = OccupancyModule(load_config("synthetic_refinement"))
    scan = write_points(tmp_path / "scan.ply", np.zeros((4, 3), np.float32))
    with pytest.raises(ConfigError, match=r"this model: reads each frame's elevation model \(data\.input\."
                                          r"pseudo_ground_z='dem' and the input feature 'dem_ground'\)"):
        predict(module, [scan], tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()
    from occkit.api import OccupancyModel

    with pytest.raises(ConfigError, match=r"model\.ckpt: reads each frame's elevation model"):
        OccupancyModel(module, tmp_path / "model.ckpt").predict(np.zeros((4, 3), np.float32))
