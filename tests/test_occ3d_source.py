"""Occ3D source on small hand-written datasets in the exact on-disk layout, with and without an info pickle."""

import pickle

import numpy as np
import pytest

from occkit.errors import ConfigError, InputFileError
from occkit.frame import OccupancyTarget
from occkit.geometry.grid import GridSpec
from occkit.geometry.transforms import apply_transform, invert_transform, yaw_transform
from occkit.geometry.voxelize import voxelize
from occkit.sources.base import Source
from occkit.sources.config import Occ3DSourceConfig
from occkit.sources.occ3d import NUSCENES_T_EGO_LIDAR, write_occ3d_infos, write_occ3d_sample

SMALL = GridSpec(pc_range=(-4.0, -4.0, -1.0, 4.0, 4.0, 2.2), voxel_size=(0.4, 0.4, 0.4))  # 20 x 20 x 8
T_EGO_LIDAR = np.array(NUSCENES_T_EGO_LIDAR)


def _make_frame(rng, spec=SMALL):
    """Points in the ego frame -> (LiDAR-frame points, Occ3D target built in the ego frame)."""
    ego = rng.uniform(spec.lower + 0.05, spec.upper - 0.05, size=(300, 3))
    occ = voxelize(ego, spec, features=("occupancy",)).occupancy
    sem = np.where(occ, rng.integers(0, 17, occ.shape), 17).astype(np.uint8)
    target = OccupancyTarget(spec, sem, 17, mask_lidar=np.ones_like(occ), mask_camera=occ.copy())
    return apply_transform(invert_transform(T_EGO_LIDAR), ego).astype(np.float32), target


def _dataset(root, scenes=("scene-0001", "scene-0002", "scene-0003"), per_scene=2, seed=0):
    rng = np.random.default_rng(seed)
    written = {}
    for s in scenes:
        for k in range(per_scene):
            tok = f"{s[-4:]}tok{k}"
            pts, target = _make_frame(rng)
            write_occ3d_sample(root, s, tok, pts, target, {"intensity": np.arange(len(pts), dtype=np.float32)})
            written[(s, tok)] = (pts, target)
    return written


def test_layout_written_exactly(tmp_path):
    _dataset(tmp_path, scenes=("scene-0001",), per_scene=1)
    sweep = tmp_path / "samples" / "LIDAR_TOP" / "0001tok0.pcd.bin"
    assert sweep.stat().st_size == 300 * 5 * 4
    assert np.fromfile(sweep, np.float32).reshape(-1, 5)[:3, 3].tolist() == [0.0, 1.0, 2.0]
    with np.load(tmp_path / "gts" / "scene-0001" / "0001tok0" / "labels.npz") as z:
        assert z["semantics"].shape == (20, 20, 8) and z["semantics"].dtype == np.uint8


def test_without_info_pickle_pairs_by_token(tmp_path):
    written = _dataset(tmp_path)
    cfg = Occ3DSourceConfig(root=tmp_path, grid=SMALL, val_fraction=0.3, T_ego_lidar=NUSCENES_T_EGO_LIDAR)
    train, val = cfg.build("train"), cfg.build("val")
    assert isinstance(train, Source)
    assert train.frame_ids == ["scene-0001/0001tok0", "scene-0001/0001tok1", "scene-0002/0002tok0",
                               "scene-0002/0002tok1"]
    assert val.frame_ids == ["scene-0003/0003tok0", "scene-0003/0003tok1"]
    f = val[1]
    pts, target = written[("scene-0003", "0003tok1")]
    np.testing.assert_array_equal(f.points, pts)
    np.testing.assert_array_equal(f.point_fields["intensity"], np.arange(300, dtype=np.float32))
    np.testing.assert_array_equal(f.target.semantics, target.semantics)
    np.testing.assert_array_equal(f.target.mask_camera, target.mask_camera)
    assert f.target.spec == SMALL and f.target.free_label == 17
    np.testing.assert_allclose(f.T_world_sensor, T_EGO_LIDAR)  # identity ego pose, known LiDAR -> ego
    # The frame's own transform puts its points exactly into the target's occupied voxels.
    occ = voxelize(f.points, SMALL, features=("occupancy",), T_grid_points=f.meta["T_grid_sensor"]).occupancy
    np.testing.assert_array_equal(occ, f.target.occupancy)


def test_with_info_pickle_poses_and_both_key_styles(tmp_path):
    _dataset(tmp_path, scenes=("scene-0001", "scene-0002"))
    T_world_ego = yaw_transform(0.3, [100.0, 50.0, 0.0])
    infos = {
        "scene-0002": [{"token": "0002tok1", "lidar_path": "./data/nuscenes/samples/LIDAR_TOP/0002tok1.pcd.bin",
                        "T_ego_lidar": T_EGO_LIDAR, "T_world_ego": T_world_ego, "timestamp": 2},
                       {"token": "0002tok0", "lidar2ego_translation": [0.943713, 0.0, 1.84023],
                        "lidar2ego_rotation": [0.7071067811865476, 0.0, 0.0, -0.7071067811865476],
                        "ego2global_translation": [100.0, 50.0, 0.0],
                        "ego2global_rotation": [np.cos(0.15), 0.0, 0.0, np.sin(0.15)], "timestamp": 3}],
    }
    write_occ3d_infos(tmp_path, "val", infos)
    src = Occ3DSourceConfig(root=tmp_path, grid=SMALL).build("val")
    assert src.frame_ids == ["scene-0002/0002tok1", "scene-0002/0002tok0"]  # pickle order (temporal) kept
    for f in (src[0], src[1]):
        np.testing.assert_allclose(f.T_world_sensor, T_world_ego @ T_EGO_LIDAR, atol=1e-9)
        np.testing.assert_allclose(f.meta["T_grid_sensor"], T_EGO_LIDAR, atol=1e-9)
    assert src[1].meta["timestamp"] == 3
    # train has no pickle: falls back to pairing files
    assert len(Occ3DSourceConfig(root=tmp_path, grid=SMALL).build("train")) == 2
    # explicit info_file with {split}; scenes filter must name scenes in the pickle
    cfg = Occ3DSourceConfig(root=tmp_path, grid=SMALL, info_file="occ_infos_{split}.pkl",
                            scenes={"val": ["scene-0001"]})
    with pytest.raises(ConfigError, match=r"scenes.val: scenes \['scene-0001'\] are not in"):
        cfg.build("val")
    with pytest.raises(InputFileError, match="occ_infos_train.pkl.*not found"):
        cfg.build("train")
    fp = src.fingerprint()
    assert fp == Occ3DSourceConfig(root=tmp_path, grid=SMALL).build("val").fingerprint()
    (tmp_path / "samples" / "LIDAR_TOP" / "0002tok0.pcd.bin").write_bytes(b"\0" * 40)
    assert Occ3DSourceConfig(root=tmp_path, grid=SMALL).build("val").fingerprint() != fp


def test_bad_inputs_name_the_file(tmp_path):
    _dataset(tmp_path, scenes=("scene-0001",), per_scene=1)
    (tmp_path / "samples" / "LIDAR_TOP" / "0001tok0.pcd.bin").unlink()
    with pytest.raises(InputFileError, match=r"0001tok0\.pcd\.bin.*not found"):
        Occ3DSourceConfig(root=tmp_path, grid=SMALL).build("train")
    (tmp_path / "occ_infos_train.pkl").write_bytes(pickle.dumps({"frames": []}))
    with pytest.raises(InputFileError, match=r"occ_infos_train\.pkl.*'infos'"):
        Occ3DSourceConfig(root=tmp_path, grid=SMALL).build("train")
    with pytest.raises(InputFileError, match="root directory not found"):
        Occ3DSourceConfig(root=tmp_path / "nope").build("train")
    with pytest.raises(ConfigError, match="unknown grid preset"):
        Occ3DSourceConfig(root=tmp_path, grid="nope").build("val")


def test_default_grid_is_occ3d_preset_and_labels_must_match(tmp_path):
    _dataset(tmp_path, scenes=("scene-0001",), per_scene=1)
    src = Occ3DSourceConfig(root=tmp_path).build("train")
    assert src.spec == GridSpec.preset("occ3d_nuscenes")
    with pytest.raises(InputFileError, match=r"shape \(20, 20, 8\); expected \(200, 200, 16\)"):
        src[0]


def test_cameras_from_info_pickle(tmp_path):
    from PIL import Image

    _dataset(tmp_path, scenes=("scene-0001",), per_scene=2)
    (tmp_path / "samples" / "CAM_FRONT").mkdir(parents=True)
    for k in range(2):
        Image.fromarray(np.zeros((90, 160, 3), np.uint8)).save(tmp_path / "samples" / "CAM_FRONT" / f"f{k}.jpg")
    K = np.array([[100.0, 0, 79.5], [0, 100.0, 44.5], [0, 0, 1]])
    T_lidar_cam = yaw_transform(-0.2, [0.1, 0.5, -0.3]) @ np.array(
        [[0, 0, 1.0, 0], [-1.0, 0, 0, 0], [0, -1.0, 0, 0], [0, 0, 0, 1]])
    T_world_ego = yaw_transform(0.7, [10.0, 0.0, 0.0])
    infos = {"scene-0001": [
        {"token": "0001tok0", "T_ego_lidar": T_EGO_LIDAR, "T_world_ego": T_world_ego,
         "cams": {"CAM_FRONT": {"data_path": "./data/nuscenes/samples/CAM_FRONT/f0.jpg", "cam_intrinsic": K,
                                "sensor2lidar_rotation": T_lidar_cam[:3, :3],
                                "sensor2lidar_translation": T_lidar_cam[:3, 3]}}},
        {"token": "0001tok1", "T_ego_lidar": T_EGO_LIDAR, "T_world_ego": T_world_ego,
         "cams": {"CAM_FRONT": {"image_path": str(tmp_path / "samples" / "CAM_FRONT" / "f1.jpg"), "K": K,
                                "T_lidar_cam": T_lidar_cam}}},
    ]}
    write_occ3d_infos(tmp_path, "train", infos)
    assert Occ3DSourceConfig(root=tmp_path, grid=SMALL).build("train")[0].cameras == []  # off by default
    src = Occ3DSourceConfig(root=tmp_path, grid=SMALL, cameras=["CAM_FRONT"], load_images=True).build("train")
    for f, name in zip((src[0], src[1]), ("f0.jpg", "f1.jpg"), strict=True):
        (cam,) = f.cameras
        assert (cam.name, cam.width, cam.height, cam.image.shape) == ("CAM_FRONT", 160, 90, (90, 160, 3))
        assert cam.image_path.endswith(name)
        np.testing.assert_allclose(cam.K, K)
        np.testing.assert_allclose(cam.T_world_cam, T_world_ego @ T_EGO_LIDAR @ T_lidar_cam, atol=1e-9)
    with pytest.raises(ConfigError, match="'CAM_BACK' not in"):
        Occ3DSourceConfig(root=tmp_path, grid=SMALL, cameras=["CAM_BACK"]).build("train")
    (tmp_path / "samples" / "CAM_FRONT" / "f0.jpg").unlink()
    with pytest.raises(InputFileError, match="camera image for occ_infos_train.pkl"):
        Occ3DSourceConfig(root=tmp_path, grid=SMALL, cameras=True).build("train")
