"""SemanticKITTI source on a tiny hand-written sequence in the official layout."""

import numpy as np
import pytest

from occkit.errors import ConfigError, InputFileError
from occkit.geometry.grid import GridSpec
from occkit.geometry.transforms import invert_transform, make_transform, yaw_transform
from occkit.geometry.voxelize import voxelize
from occkit.io.points import write_points
from occkit.io.semantickitti import write_calib, write_point_labels, write_poses, write_voxels
from occkit.sources.base import Source
from occkit.sources.config import SemanticKITTISourceConfig

SPEC = GridSpec.preset("semantickitti")
TR = make_transform(np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]]), [0.27, -0.08, -0.01])


def _sequence(root, seq="08", n_scans=6, voxel_every=5, seed=0):
    rng = np.random.default_rng(seed)
    d = root / "sequences" / seq
    poses = np.stack([yaw_transform(0.1 * i, [i * 1.0, 0.5 * i, 0.0]) for i in range(n_scans)])
    write_poses(d / "poses.txt", poses)
    write_calib(d / "calib.txt", {"P0": np.eye(4)[:3], "Tr": TR})
    scans = {}
    for i in range(n_scans):
        frame = f"{i:06d}"
        pts = rng.uniform(SPEC.lower + 0.01, SPEC.upper - 0.01, size=(200, 3)).astype(np.float32)
        write_points(d / "velodyne" / f"{frame}.bin", pts, {"intensity": rng.random(200).astype(np.float32)})
        raw = rng.choice(np.array([10, 40, 50, 252, 70], np.uint16), 200)
        write_point_labels(d / "labels" / f"{frame}.label", raw, np.arange(200))
        if i % voxel_every == 0:
            occ = voxelize(pts, SPEC, features=("occupancy",)).occupancy
            label = np.where(occ, 50, 0).astype(np.uint16)  # building / empty
            invalid = np.zeros(SPEC.shape, bool)
            invalid[:, :, -1] = True
            write_voxels(d / "voxels" / frame, bin=occ, label=label, invalid=invalid, occluded=np.zeros_like(occ))
        scans[frame] = (pts, raw, poses[i])
    return scans


def test_voxel_frames_targets_points_and_poses(tmp_path):
    scans = _sequence(tmp_path)
    src = SemanticKITTISourceConfig(root=tmp_path).build("val")
    assert isinstance(src, Source)
    assert src.frame_ids == ["08/000000", "08/000005"]
    f = src[1]
    pts, raw, pose = scans["000005"]
    np.testing.assert_array_equal(f.points, pts)
    assert f.point_fields["intensity"].shape == (200,)
    expected_cls = {10: 1, 40: 9, 50: 13, 252: 1, 70: 15}
    np.testing.assert_array_equal(f.point_labels, [expected_cls[int(r)] for r in raw])
    np.testing.assert_allclose(f.T_world_sensor, invert_transform(TR) @ pose @ TR, atol=1e-9)
    t = f.target
    assert t.spec == SPEC and t.free_label == 0 and t.semantics.dtype == np.uint8
    assert set(np.unique(t.semantics)) == {0, 13}  # raw 50 -> class 13 (building)
    occ = voxelize(f.points, SPEC, features=("occupancy",), T_grid_points=f.meta["T_grid_sensor"]).occupancy
    np.testing.assert_array_equal(t.occupancy, occ)
    assert t.mask_lidar[:, :, :-1].all() and not t.mask_lidar[:, :, -1].any()


def test_all_frames_and_splits(tmp_path):
    _sequence(tmp_path)
    src = SemanticKITTISourceConfig(root=tmp_path, frames="all", sequences={"train": [8]}).build("train")
    assert len(src) == 6 and src[1].target is None and src[0].target is not None
    cfg = SemanticKITTISourceConfig(root=tmp_path, load_input_voxels=True)
    f = cfg.build("val")[0]
    np.testing.assert_array_equal(f.meta["input_voxels"], f.target.occupancy)
    with pytest.raises(InputFileError, match=r"none of the train sequences"):
        cfg.build("train")
    with pytest.raises(ConfigError, match="split must be one of"):
        cfg.build("everything")
    fp = cfg.build("val").fingerprint()
    write_voxels(tmp_path / "sequences" / "08" / "voxels" / "000005", label=np.zeros(SPEC.shape, np.uint16))
    assert cfg.build("val").fingerprint() != fp


def test_bad_files_name_the_file(tmp_path):
    _sequence(tmp_path, n_scans=1)
    vox = tmp_path / "sequences" / "08" / "voxels" / "000000.label"
    vox.write_bytes(vox.read_bytes()[:-2])
    with pytest.raises(InputFileError, match=r"000000\.label: 4194302 bytes; expected 4194304"):
        SemanticKITTISourceConfig(root=tmp_path).build("val")[0]
    (tmp_path / "sequences" / "08" / "poses.txt").write_text("")
    with pytest.raises(InputFileError, match=r"poses\.txt: empty"):
        SemanticKITTISourceConfig(root=tmp_path).build("val")
    with pytest.raises(InputFileError, match="sequences/ folder not found"):
        SemanticKITTISourceConfig(root=tmp_path / "nope").build("val")


def test_camera_projects_like_kitti_P2_Tr(tmp_path):
    from PIL import Image

    from occkit.depth.unproject import project_points

    _sequence(tmp_path, n_scans=1)
    d = tmp_path / "sequences" / "08"
    P2 = np.array([[700.0, 0, 600.0, 44.8], [0, 700.0, 180.0, 0.2], [0, 0, 1.0, 0.003]])
    write_calib(d / "calib.txt", {"P0": np.eye(4)[:3], "P2": P2, "Tr": TR})
    (d / "image_2").mkdir()
    Image.fromarray(np.zeros((370, 1220, 3), np.uint8)).save(d / "image_2" / "000000.png")
    f = SemanticKITTISourceConfig(root=tmp_path, camera="image_2").build("val")[0]
    (cam,) = f.cameras
    assert (cam.name, cam.width, cam.height) == ("image_2", 1220, 370)
    p_velo = np.array([[10.0, 1.0, 0.5], [20.0, -3.0, 1.0]])
    hom = (P2 @ TR @ np.c_[p_velo, np.ones(2)].T).T  # the KITTI devkit's projection
    expected = hom[:, :2] / hom[:, 2:]
    p_cam = (invert_transform(cam.T_world_cam) @ f.T_world_sensor @ np.c_[p_velo, np.ones(2)].T).T[:, :3]
    uv, _, inside = project_points(p_cam, cam.K, cam.width, cam.height)
    np.testing.assert_allclose(uv, expected, atol=1e-6)
    assert inside.all()
    (d / "image_2" / "000000.png").unlink()
    with pytest.raises(InputFileError, match="camera image for scan 000000.bin not found"):
        SemanticKITTISourceConfig(root=tmp_path, camera="image_2").build("val")


def test_test_split_without_voxel_labels(tmp_path):
    _sequence(tmp_path, seq="11", n_scans=6)
    for p in (tmp_path / "sequences" / "11" / "voxels").glob("*.label"):
        p.unlink()
    src = SemanticKITTISourceConfig(root=tmp_path, load_input_voxels=True).build("test")
    assert src.frame_ids == ["11/000000", "11/000005"]
    f = src[0]
    assert f.target is None and f.meta["input_voxels"].any()
