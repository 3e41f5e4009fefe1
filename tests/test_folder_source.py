"""Folder source: KITTI / JSON / CSV poses, depth-only sequences, splits and bad input, on hand-made folders."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from occkit.errors import ConfigError, InputFileError, PoseError
from occkit.geometry import apply_transform, make_transform
from occkit.geometry.transforms import yaw_transform
from occkit.io.points import write_points
from occkit.sources.config import FolderSourceConfig
from occkit.sources.folder import FolderSourceWarning

WORLD = np.random.default_rng(0).uniform([-5, -5, 0], [5, 5, 3], size=(500, 3))


def _poses(n: int) -> list[np.ndarray]:
    return [yaw_transform(0.3 * i, [2.0 * i, -1.0 * i, 1.5]) for i in range(n)]


def _write_scans(seq: Path, poses: list[np.ndarray], suffix: str = ".npy") -> list[str]:
    (seq / "scans").mkdir(parents=True)
    names = [f"{i:06d}" for i in range(len(poses))]
    for name, T in zip(names, poses, strict=True):
        write_points(seq / "scans" / f"{name}{suffix}", apply_transform(np.linalg.inv(T), WORLD).astype(np.float32))
    return names


def _kitti_line(T: np.ndarray) -> str:
    return " ".join(f"{v:.9g}" for v in T[:3].reshape(-1))


def test_kitti_poses_put_every_scan_back_in_the_world(tmp_path: Path) -> None:
    poses = _poses(4)
    _write_scans(tmp_path, poses, ".ply")
    (tmp_path / "poses.txt").write_text("\n".join(_kitti_line(T) for T in poses) + "\n")
    src = FolderSourceConfig(root=str(tmp_path), val_fraction=0.25).build("train")
    assert len(src) == 3 and src.frame_ids[0] == f"{tmp_path.name}/000000"
    for i in range(3):
        f = src[i]
        np.testing.assert_allclose(f.T_world_sensor, poses[i], atol=1e-8)
        np.testing.assert_allclose(apply_transform(f.T_world_sensor, f.points), WORLD, atol=1e-4)
    assert FolderSourceConfig(root=str(tmp_path), val_fraction=0.25).build("val").frame_ids == \
        [f"{tmp_path.name}/000003"]
    acc = FolderSourceConfig(root=str(tmp_path), accumulate=3).build("train")[1]
    assert len(acc.target_points) == 3 * len(WORLD)
    # every accumulated scan lands on the same world points once moved with this frame's pose
    back = apply_transform(acc.T_world_sensor, acc.target_points).reshape(3, len(WORLD), 3)
    np.testing.assert_allclose(back, np.broadcast_to(WORLD, back.shape), atol=1e-4)


def test_json_and_csv_poses_join_by_name(tmp_path: Path) -> None:
    poses = _poses(3)
    for fmt in ("json", "csv"):
        seq = tmp_path / f"drive_{fmt}"
        names = _write_scans(seq, poses, ".bin")
        if fmt == "json":
            # reversed order: the join is by name, not by position
            (seq / "poses.json").write_text(json.dumps({f"{n}.bin": T.tolist() for n, T in
                                                        reversed(list(zip(names, poses, strict=True)))}))
        else:
            header = "name," + ",".join(f"m{k}" for k in range(16))
            rows = [n + "," + ",".join(f"{v:.12g}" for v in T.reshape(-1)) for n, T in zip(names, poses, strict=True)]
            (seq / "poses.csv").write_text("\n".join([header, *rows[::-1]]) + "\n")
    cfg = FolderSourceConfig(root=str(tmp_path), columns=4, val_fraction=0.0, val_sequences=["drive_json"])
    train, val = cfg.build("train"), cfg.build("val")
    assert [fid.split("/")[0] for fid in train.frame_ids] == ["drive_csv"] * 3
    assert [fid.split("/")[0] for fid in val.frame_ids] == ["drive_json"] * 3
    for src in (train, val):
        for i in range(3):
            f = src[i]
            np.testing.assert_allclose(f.T_world_sensor, poses[i], atol=1e-8)
            np.testing.assert_allclose(apply_transform(f.T_world_sensor, f.points), WORLD, atol=1e-4)
            assert f.meta["scene"] == src.frame_ids[i].split("/")[0]


def test_depth_only_sequence_unprojects_into_the_sensor_frame(tmp_path: Path) -> None:
    (tmp_path / "depth").mkdir()
    depth_mm = np.full((6, 8), 5000, np.uint16)  # 5 m everywhere
    depth_mm[0, 0] = 0  # invalid pixel
    Image.fromarray(depth_mm).save(tmp_path / "depth" / "a.png")
    np.save(tmp_path / "depth" / "b.npy", np.full((6, 8), 2.0, np.float32))
    T_sensor_cam = make_transform(translation=[0.0, 0.0, 1.0])
    K = [[10.0, 0, 4.0], [0, 10.0, 3.0], [0, 0, 1]]
    (tmp_path / "camera.json").write_text(json.dumps({"K": K, "T_sensor_cam": T_sensor_cam.tolist()}))
    (tmp_path / "poses.json").write_text(json.dumps({"a": np.eye(4).tolist(), "b": np.eye(4).tolist()}))
    src = FolderSourceConfig(root=str(tmp_path), val_fraction=0.0).build("train")
    a, b = src[0], src[1]
    assert a.meta["points_from"] == "depth" and len(a.points) == 47 and a.pseudo_points is a.points
    np.testing.assert_allclose(a.points[:, 2], 6.0, atol=1e-5)  # 5 m depth + 1 m camera offset
    np.testing.assert_allclose(b.points[:, 2], 3.0, atol=1e-5)
    assert a.cameras[0].depth.shape == (6, 8) and (a.cameras[0].width, a.cameras[0].height) == (8, 6)
    assert a.cameras[0].image is None

    (tmp_path / "images").mkdir()
    Image.fromarray(np.full((6, 8, 3), 7, np.uint8)).save(tmp_path / "images" / "a.png")
    T_world = make_transform(translation=[10.0, 0.0, 0.0])
    (tmp_path / "poses.json").write_text(json.dumps({"a": T_world.tolist(), "b": np.eye(4).tolist()}))
    a = FolderSourceConfig(root=str(tmp_path), val_fraction=0.0, load_images=True).build("train")[0]
    assert a.cameras[0].image.shape == (6, 8, 3) and a.cameras[0].image_path.endswith("a.png")
    np.testing.assert_allclose(a.cameras[0].T_world_cam, T_world @ T_sensor_cam)
    (tmp_path / "camera.json").unlink()
    with pytest.raises(InputFileError, match="depth/ needs camera.json"):
        FolderSourceConfig(root=str(tmp_path)).build()


def test_bad_pose_files_name_the_file_and_the_line(tmp_path: Path) -> None:
    poses = _poses(3)
    _write_scans(tmp_path, poses)
    (tmp_path / "poses.txt").write_text("\n".join(_kitti_line(T) for T in poses[:2]) + "\n")
    with pytest.raises(InputFileError, match=r"poses.txt: has 2 poses but .* has 3 frames"):
        FolderSourceConfig(root=str(tmp_path)).build()
    bad = poses[2].copy()
    bad[:3, :3] *= 2.0
    (tmp_path / "poses.txt").write_text("\n".join(_kitti_line(T) for T in [*poses[:2], bad]) + "\n")
    with pytest.raises(PoseError, match=r"poses.txt: line 3"):
        FolderSourceConfig(root=str(tmp_path)).build()
    (tmp_path / "poses.txt").write_text("1 2 3\n")
    with pytest.raises(InputFileError, match="line 1: expected 12 numbers"):
        FolderSourceConfig(root=str(tmp_path)).build()


def test_missing_poses_warn_and_unknown_names_are_config_errors(tmp_path: Path) -> None:
    _write_scans(tmp_path / "s1", _poses(2))
    with pytest.warns(FolderSourceWarning, match="identity pose"):
        src = FolderSourceConfig(root=str(tmp_path), val_fraction=0.0).build()
    np.testing.assert_allclose(src[0].T_world_sensor, np.eye(4))
    with pytest.raises(ConfigError, match=r"data.source.sequences: \['nope'\]"):
        FolderSourceConfig(root=str(tmp_path), sequences=["nope"]).build()
    with pytest.raises(InputFileError, match="no sequence found"):
        FolderSourceConfig(root=str(tmp_path / "s1" / "scans")).build()


def test_fingerprint_changes_with_files_and_settings(tmp_path: Path) -> None:
    poses = _poses(2)
    _write_scans(tmp_path, poses)
    (tmp_path / "poses.txt").write_text("\n".join(_kitti_line(T) for T in poses) + "\n")
    cfg = FolderSourceConfig(root=str(tmp_path), val_fraction=0.0)
    fp = cfg.build().fingerprint()
    assert fp == cfg.build().fingerprint()
    assert FolderSourceConfig(root=str(tmp_path), val_fraction=0.0, accumulate=2).build().fingerprint() != fp
    np.save(tmp_path / "scans" / "000001.npy", np.zeros((3, 3), np.float32))
    assert cfg.build().fingerprint() != fp


REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "aerial_classified.las"


@pytest.mark.skipif(not REAL.is_file(), reason=f"real LAS scan not found at {REAL}")
def test_real_georeferenced_las_keeps_float32_points_small_and_the_origin_in_the_pose(tmp_path: Path) -> None:
    from occkit.io.points import read_points

    (tmp_path / "scans").mkdir()
    (tmp_path / "scans" / "survey.las").symlink_to(REAL)
    with pytest.warns(FolderSourceWarning):
        f = FolderSourceConfig(root=str(tmp_path), val_fraction=0.0).build()[0]
    pc = read_points(REAL)
    assert np.abs(f.points).max() < 1e3 and f.points.dtype == np.float32  # metres near the origin, not UTM
    np.testing.assert_allclose(f.T_world_sensor[:3, 3], pc.origin)
    np.testing.assert_allclose(apply_transform(f.T_world_sensor, f.points.astype(np.float64)), pc.absolute_xyz(),
                               atol=1e-3)
    assert "classification" in f.point_fields and len(f.point_fields["classification"]) == len(f.points)
