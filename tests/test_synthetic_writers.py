"""Synthetic data written in the UAVScenes and Occ3D layouts: valid by the formats' own rules, deterministic."""

from __future__ import annotations

import ast
import hashlib
import json
import pickle
import re
from pathlib import Path

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from occkit.cli import app
from occkit.geometry import GridSpec
from occkit.geometry.transforms import check_rigid, make_transform
from occkit.io.occ3d import read_occ3d_labels
from occkit.io.points import read_labels_txt, read_points
from occkit.sources.synthetic import SyntheticSourceConfig
from occkit.synthetic.writers import write_occ3d, write_uavscenes

TS = r"\d{10}\.\d{9}"
LIDAR_NAME = re.compile(rf"^image({TS})_lidar({TS})\.txt$")
SMALL = {"accumulate_poses": 2, "lidar": {"points_per_frame": 2000, "beams": 8, "h_step_deg": 2.0},
         "camera": {"width": 64, "height": 48}}


def samples(preset: str, n: int, seed: int = 0):
    src = SyntheticSourceConfig(preset=preset, seed=seed, train_frames=n, **SMALL).build("train")
    return [src.sample(i) for i in range(n)]


def tree_hashes(root: Path) -> dict[str, str]:
    """sha256 of every file; npz archives by their arrays (zip members carry a write time)."""
    out = {}
    for p in sorted(root.rglob("*")):
        if not p.is_file():
            continue
        if p.suffix == ".npz":
            with np.load(p) as z:
                data = b"".join(k.encode() + z[k].tobytes() for k in sorted(z.files))
        else:
            data = p.read_bytes()
        out[str(p.relative_to(root))] = hashlib.sha256(data).hexdigest()
    return out


def test_uavscenes_layout_is_valid(tmp_path):
    ss = samples("uav_town", 2)
    write_uavscenes(ss, tmp_path, extra_poses=2)
    run = tmp_path / "interval5_CAM_LIDAR" / "interval5_CAM_LIDAR" / "interval5_AMtown01"
    images = sorted((run / "interval5_CAM").glob("*.jpg"))
    scans = sorted((run / "interval5_LIDAR").glob("*.txt"))
    assert len(images) == 2 and len(scans) == 2
    records = json.loads((run / "sampleinfos_interpolated.json").read_text())
    assert len(records) == 2 * 3  # images + image-less interpolated poses, as the real file has
    by_name = {r["OriginalImageName"]: r for r in records}
    calib = ast.literal_eval((tmp_path / "calibration_results.py").read_text().split("=", 1)[1])
    cal = calib["AMtown"]
    T_cam_lidar = make_transform(np.array(cal["camera_ext_R"]), np.array(cal["camera_ext_t"]))
    check_rigid(T_cam_lidar)
    assert len(cal["camera_int"]) == 4 and len(cal["camera_dist"]) == 5
    for s, scan in zip(ss, scans, strict=True):
        m = LIDAR_NAME.match(scan.name)
        assert m, scan.name
        ts = m.group(1)
        assert float(m.group(2)) > float(ts)
        img = run / "interval5_CAM" / f"{ts}.jpg"
        assert img.is_file() and Image.open(img).format == "JPEG" and Image.open(img).size == (64, 48)
        rec = by_name[f"{ts}.jpg"]
        assert set(rec) >= {"OriginalImageName", "T4x4", "P3x3", "Distortion", "Width", "Height"}
        T_world_cam = check_rigid(np.array(rec["T4x4"]))
        assert np.array(rec["P3x3"]).shape == (3, 3) and len(rec["Distortion"]) == 5
        assert (rec["Width"], rec["Height"]) == (64, 48)
        # the reader's pose chain gives back the LiDAR pose
        np.testing.assert_allclose(T_world_cam @ T_cam_lidar, s.T_world_lidar, atol=1e-6)
        cloud = read_points(scan)
        np.testing.assert_allclose(cloud.xyz, s.points, atol=1e-4)
        labels = read_labels_txt(tmp_path / "interval5_LIDAR_label" / "interval5_LIDAR_label" / "interval5_AMtown01"
                                 / "interval5_LIDAR_label_id" / scan.name, num_points=len(cloud))
        assert labels.min() >= 0 and labels.max() < 26
        label_png = Image.open(tmp_path / "interval5_CAM_label" / "interval5_CAM_label" / "interval5_AMtown01"
                               / "interval5_CAM_label_id" / f"{ts}.png")
        assert label_png.mode == "L" and label_png.size == (64, 48)
    extra = [r for r in records if not (run / "interval5_CAM" / r["OriginalImageName"]).exists()]
    assert len(extra) == 4 and all(re.fullmatch(rf"{TS}\.jpg", r["OriginalImageName"]) for r in extra)


def test_occ3d_layout_is_valid(tmp_path):
    ss = samples("street", 2)
    spec = GridSpec.preset("occ3d_nuscenes")
    write_occ3d(ss, tmp_path, spec, split="val")
    info = pickle.loads((tmp_path / "occ_infos_val.pkl").read_bytes())
    (scene, entries), = info["infos"].items()
    assert len(entries) == 2
    for s, e in zip(ss, entries, strict=True):
        assert re.fullmatch(r"[0-9a-f]{32}", e["token"])
        assert e["lidar_path"] == f"samples/LIDAR_TOP/{e['token']}.pcd.bin"
        raw = np.fromfile(tmp_path / e["lidar_path"], dtype="<f4")
        assert raw.size == 5 * len(s.points)
        cloud = read_points(tmp_path / e["lidar_path"])
        assert set(cloud.fields) == {"intensity", "ring"}
        np.testing.assert_allclose(cloud.xyz, s.points, atol=1e-6)
        T_ego_lidar, T_world_ego = check_rigid(e["T_ego_lidar"]), check_rigid(e["T_world_ego"])
        np.testing.assert_allclose(T_world_ego @ T_ego_lidar, s.T_world_lidar, atol=1e-9)
        assert isinstance(e["timestamp"], int)
        path = tmp_path / "gts" / scene / e["token"] / "labels.npz"
        with np.load(path) as z:
            assert set(z.files) == {"semantics", "mask_lidar", "mask_camera"}
            assert all(z[k].dtype == np.uint8 and z[k].shape == (200, 200, 16) for k in z.files)
        target = read_occ3d_labels(path, spec)
        occ = target.occupancy
        assert 0.003 < occ.mean() < 0.15
        assert set(np.unique(target.semantics[occ])) <= set(range(17))
        assert np.all(target.mask_lidar[occ])  # every occupied voxel was observed
        assert 0.01 < target.mask_camera.mean() < target.mask_lidar.mean()
        # ground (driveable surface) lies in the lowest levels of the ego grid
        z_road = np.nonzero(target.semantics == 11)[2]
        assert np.median(z_road) <= 3


def test_same_seed_identical_files_different_seed_different(tmp_path):
    for name, seed in (("a", 0), ("b", 0), ("c", 5)):
        write_uavscenes(samples("uav_town", 1, seed=seed), tmp_path / name / "uav")
        write_occ3d(samples("street", 1, seed=seed), tmp_path / name / "occ", GridSpec.preset("occ3d_nuscenes"))
    a, b, c = (tree_hashes(tmp_path / n) for n in "abc")
    assert a == b and len(a) >= 8
    assert a != c
    lidar_a = [h for k, h in a.items() if k.endswith(".pcd.bin")]
    lidar_c = [h for k, h in c.items() if k.endswith(".pcd.bin")]
    assert lidar_a != lidar_c


def test_cli_writes_both_formats(tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["synth", "--preset", "street", "--frames", "1", "--out", str(tmp_path / "o"),
                              "--format", "occ3d", "--seed", "2"])
    assert res.exit_code == 0, res.output
    assert len(list((tmp_path / "o" / "gts").rglob("labels.npz"))) == 1
    res = runner.invoke(app, ["synth", "--preset", "uav_town", "--frames", "1", "--out", str(tmp_path / "u")])
    assert res.exit_code == 0, res.output
    assert len(list((tmp_path / "u").rglob("*.jpg"))) == 1
    bad = runner.invoke(app, ["synth", "--format", "kitti", "--out", str(tmp_path / "x")])
    assert bad.exit_code != 0 and "kitti" in bad.output
