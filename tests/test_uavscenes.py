"""UAVScenes source on hand-made datasets in the official layout (tests/fixtures_uavscenes.py)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from fixtures_uavscenes import NADIR, K, write_calibration, write_uavscenes
from PIL import Image
from pydantic import ValidationError

from occkit.errors import ConfigError, InputFileError, PoseError
from occkit.geometry import apply_transform
from occkit.sources.config import UAVScenesSourceConfig
from occkit.sources.uavscenes import LABEL_NAMES, NAMES_19, PALETTE, REMAP_19, remap_to_19
from occkit.sources.uavscenes_index import UAVScenesWarning, discover_runs
from occkit.sources.uavscenes_meta import IGNORE_INDEX, read_calibration, scene_of_run


@pytest.mark.parametrize("layout", ["doubled", "flat"])
@pytest.mark.parametrize("interval", [1, 5])
def test_layouts_and_intervals_are_discovered(tmp_path: Path, layout: str, interval: int) -> None:
    fx = write_uavscenes(tmp_path, layout=layout, interval=interval)
    runs = discover_runs(tmp_path)
    assert [(r.name, r.scene, r.interval) for r in runs] == [("AMtown01", "AMtown", interval),
                                                              ("AMtown02", "AMtown", interval)]
    assert all(r.lidar_label_dir is not None for r in runs)  # the label tree is found, but never taken for a run
    src = UAVScenesSourceConfig(root=str(tmp_path), interval=interval, val_runs=[]).build("train")
    assert src.frame_ids == [f"{run}/{ts}" for run in ("AMtown01", "AMtown02") for ts in fx.timestamps[run]]


def test_interval_selects_runs_and_a_missing_interval_is_a_clear_error(tmp_path: Path) -> None:
    write_uavscenes(tmp_path, interval=5, runs=("AMtown01",), n_images=2)
    write_uavscenes(tmp_path, interval=1, runs=("AMtown01",), n_images=4)
    assert len(UAVScenesSourceConfig(root=str(tmp_path), interval=1).build()) == 4
    assert len(UAVScenesSourceConfig(root=str(tmp_path), interval=5).build()) == 2
    other = tmp_path / "only5"
    write_uavscenes(other, interval=5, runs=("AMtown01",), n_images=1)
    with pytest.raises(InputFileError, match="no interval1 run found"):
        UAVScenesSourceConfig(root=str(other), interval=1).build()


def test_frame_joins_points_labels_camera_and_composed_pose(tmp_path: Path) -> None:
    fx = write_uavscenes(tmp_path, extra_records=3)
    src = UAVScenesSourceConfig(root=str(tmp_path), scenes=["AMtown01"]).build("train")
    assert len(src) == 3  # 6 json records, 3 images: the extra records are ignored
    f = src[1]
    T_world_cam = fx.T_world_cam["AMtown01"][1]
    np.testing.assert_allclose(f.T_world_sensor, T_world_cam @ fx.T_cam_lidar, atol=1e-9)
    np.testing.assert_allclose(apply_transform(f.T_world_sensor, f.points), fx.world_points, atol=1e-4)
    np.testing.assert_array_equal(f.point_labels, fx.world_labels)
    cam = f.cameras[0]
    np.testing.assert_allclose(cam.K, K)
    np.testing.assert_allclose(cam.T_world_cam, T_world_cam)
    assert (cam.width, cam.height, cam.image) == (8, 6, None) and cam.image_path.endswith(".jpg")
    assert f.meta["scene"] == "AMtown" and f.meta["run"] == "AMtown01"
    assert f.meta["timestamp"] == fx.timestamps["AMtown01"][1] and f.meta["lidar_path"].endswith(".txt")
    assert f.target_points is f.points
    img = UAVScenesSourceConfig(root=str(tmp_path), scenes=["AMtown01"], load_images=True).build()[1]
    assert img.cameras[0].image.shape == (6, 8, 3) and img.cameras[0].image.dtype == np.uint8
    Image.new("RGB", (10, 6)).save(img.cameras[0].image_path)
    with pytest.raises(InputFileError, match=r"\.jpg: is 10x6 but its record in .*Width x Height = 8x6"):
        UAVScenesSourceConfig(root=str(tmp_path), scenes=["AMtown01"], load_images=True).build()[1]
    remapped = UAVScenesSourceConfig(root=str(tmp_path), scenes=["AMtown01"], remap_labels=True).build()[0]
    assert set(np.unique(remapped.point_labels)) == {REMAP_19[1], REMAP_19[13]}


def test_T_world_lidar_composition_on_known_matrices(tmp_path: Path) -> None:
    write_uavscenes(tmp_path, runs=("AMtown01",), n_images=1)
    # an explicit extrinsic wins over the calibration file: a 90 degree turn about z plus an offset
    T_cam_lidar = np.array([[0.0, -1, 0, 1], [1, 0, 0, 2], [0, 0, 1, 3], [0, 0, 0, 1]])
    f = UAVScenesSourceConfig(root=str(tmp_path), extrinsics={"AMtown": T_cam_lidar.tolist()}).build()[0]
    T_world_cam = np.eye(4)
    T_world_cam[:3, :3], T_world_cam[:3, 3] = NADIR, [95.0, 50.0, 30.0]
    expected = np.array([[0.0, -1, 0, 96], [-1, 0, 0, 48], [0, 0, -1, 27], [0, 0, 0, 1]])
    np.testing.assert_allclose(T_world_cam @ T_cam_lidar, expected)
    np.testing.assert_allclose(f.T_world_sensor, expected, atol=1e-12)
    with pytest.raises(ValidationError, match=r"extrinsics\['AMtown'\] \(T_cam_lidar\): last row"):
        UAVScenesSourceConfig(root=str(tmp_path), extrinsics={"AMtown": (2 * np.eye(4)).tolist()})


def test_missing_pose_entry_names_the_json_file_and_the_image(tmp_path: Path) -> None:
    fx = write_uavscenes(tmp_path, drop_pose_of=("AMtown02", 1))
    ts = fx.timestamps["AMtown02"][1]
    with pytest.raises(InputFileError, match=rf"interval5_AMtown02/sampleinfos_interpolated.json: .*'{ts}.jpg'"):
        UAVScenesSourceConfig(root=str(tmp_path)).build("val")
    with pytest.warns(UAVScenesWarning, match=rf"skipped 1 images without a pose record .*first: {ts}.jpg"):
        src = UAVScenesSourceConfig(root=str(tmp_path), on_missing_pose="skip").build("val")
    assert len(src) == 2 and f"AMtown02/{ts}" not in src.frame_ids


def test_non_rigid_pose_names_the_json_file_and_the_image(tmp_path: Path) -> None:
    fx = write_uavscenes(tmp_path, bad_pose_of=("AMtown01", 2))
    ts = fx.timestamps["AMtown01"][2]
    with pytest.raises(PoseError, match=rf"sampleinfos_interpolated.json: record '{ts}.jpg': T4x4 .*not orthonormal"):
        UAVScenesSourceConfig(root=str(tmp_path)).build("train")


def test_calibration_styles_missing_scene_and_no_execution(tmp_path: Path) -> None:
    write_uavscenes(tmp_path, runs=("AMtown01",), n_images=1, calibration_style="nested")
    nested = UAVScenesSourceConfig(root=str(tmp_path)).build()[0].T_world_sensor
    write_calibration(tmp_path / "calibration_results.py", "official", ("AMtown",))
    official = UAVScenesSourceConfig(root=str(tmp_path)).build()[0].T_world_sensor
    np.testing.assert_allclose(nested, official, atol=1e-9)

    write_calibration(tmp_path / "calibration_results.py", "official", ("HKisland",))
    with pytest.raises(InputFileError, match=r"calibration_results.py: no calibration for run 'AMtown01' "
                                             r"\(scene 'AMtown'\)"):
        UAVScenesSourceConfig(root=str(tmp_path)).build()

    marker = tmp_path / "executed"
    calib = tmp_path / "custom_calib.py"
    calib.write_text(f"open({str(marker)!r}, 'w').write('x')\nimport os\n"
                     + (tmp_path / "calibration_results.py").read_text().replace("HKisland", "AMtown"))
    UAVScenesSourceConfig(root=str(tmp_path), calibration_file=str(calib)).build()
    assert not marker.exists()
    assert "AMtown01" in read_calibration(calib) and "AMtown" in read_calibration(calib)


def test_splits_default_and_explicit(tmp_path: Path) -> None:
    write_uavscenes(tmp_path, runs=("AMtown01", "AMtown02", "AMvalley01"), n_images=1,
                    calibration_scenes=("AMtown", "AMvalley"))
    runs = {s: sorted({fid.split("/")[0] for fid in UAVScenesSourceConfig(root=str(tmp_path)).build(s).frame_ids})
            for s in ("train", "val", "test")}
    assert runs == {"train": ["AMtown01", "AMvalley01"], "val": ["AMtown02"], "test": []}
    cfg = UAVScenesSourceConfig(root=str(tmp_path), train_runs=["AMtown02"], test_runs=["AMvalley01"])
    assert {fid.split("/")[0] for fid in cfg.build("test").frame_ids} == {"AMvalley01"}
    assert {fid.split("/")[0] for fid in cfg.build("train").frame_ids} == {"AMtown02"}
    with pytest.raises(ConfigError, match=r"data.source.val_runs: runs \['AMtown09'\]"):
        UAVScenesSourceConfig(root=str(tmp_path), val_runs=["AMtown09"]).build("val")
    with pytest.raises(ConfigError, match=r"data.source.scenes: \['HKisland'\] not found"):
        UAVScenesSourceConfig(root=str(tmp_path), scenes=["HKisland"]).build()
    assert scene_of_run("HKairport_GNSS02") == "HKairport_GNSS" and scene_of_run("HKisland_GNSS_Evening") == \
        "HKisland_GNSS_Evening"


def test_accumulated_targets_and_fingerprint(tmp_path: Path) -> None:
    fx = write_uavscenes(tmp_path, runs=("AMtown01",), n_images=4)
    src = UAVScenesSourceConfig(root=str(tmp_path), accumulate=3).build()
    for i, first in ((0, 0), (2, 1), (3, 1)):  # windows clipped to the run
        f = src[i]
        back = apply_transform(f.T_world_sensor, f.target_points).reshape(3, -1, 3)
        np.testing.assert_allclose(back, np.broadcast_to(fx.world_points, back.shape), atol=2e-4)
        np.testing.assert_allclose(f.target_points[(i - first) * len(f.points):][: len(f.points)], f.points)
    fp = src.fingerprint()
    assert fp == UAVScenesSourceConfig(root=str(tmp_path), accumulate=3).build().fingerprint()
    assert fp != UAVScenesSourceConfig(root=str(tmp_path), accumulate=1).build().fingerprint()
    lidar = Path(src[0].meta["lidar_path"])
    lidar.write_text(lidar.read_text() + "0 0 0\n")
    assert UAVScenesSourceConfig(root=str(tmp_path), accumulate=3).build().fingerprint() != fp


def test_missing_label_tree_gives_no_labels_and_missing_scan_is_skipped(tmp_path: Path) -> None:
    fx = write_uavscenes(tmp_path, runs=("AMtown01",), n_images=2, layout="flat")
    for p in (tmp_path / "interval5_LIDAR_label").rglob("*.txt"):
        p.unlink()
    next((fx.run_dirs["AMtown01"] / "interval5_LIDAR").glob("*.txt")).unlink()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        src = UAVScenesSourceConfig(root=str(tmp_path)).build()
    assert len(src) == 1 and src[0].point_labels is None
    assert any("without a LiDAR scan" in str(w.message) for w in caught)


def test_palette_and_19_class_remap() -> None:
    assert len(LABEL_NAMES) == 26 and PALETTE.shape == (26, 3)
    assert LABEL_NAMES[1] == "roof" and tuple(PALETTE[20]) == (0, 0, 142) and LABEL_NAMES[24] == "truck"
    assert len(NAMES_19) == 19 and sorted(REMAP_19.values()) == list(range(19))
    assert NAMES_19[7] == "container" and NAMES_19[18] == "truck"
    out = remap_to_19(np.array([0, 1, 7, 9, 24, 25, 300, -1]))
    np.testing.assert_array_equal(out, [0, 1, IGNORE_INDEX, 7, 18, IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX])


def test_frames_feed_the_data_pipeline(tmp_path: Path) -> None:
    """A UAVScenes frame through DataConfig + FrameToGrids: ego path, building voxels occupied in the target."""
    from occkit.data.config import DataConfig
    from occkit.data.grids import FrameToGrids
    from occkit.geometry import GridSpec

    write_uavscenes(tmp_path, runs=("AMtown01",), n_images=2)
    # the ground (z = 0) sits mid-voxel so float rounding cannot split it across two levels
    spec = GridSpec(pc_range=(-20.0, -20.0, -2.25, 20.0, 20.0, 9.75), voxel_size=(0.5, 0.5, 0.5))
    cfg = DataConfig(source={"kind": "uavscenes", "root": str(tmp_path)}, grid=spec)
    frame = cfg.source.build("train")[0]
    sample = FrameToGrids(cfg)(frame)
    assert sample["alignment_path"] == "ego" and sample["in_range_ratio"] > 0.5
    target = sample["target"]  # (Z, Y, X)
    assert target.shape == (24, 80, 80)
    # the 6 m building (world x 100..104, drone at x 95 heading +x) fills levels up to 6 m above the ground
    z_levels = np.flatnonzero(target.reshape(24, -1).max(axis=1) > 0)
    assert z_levels.min() == 4 and z_levels.max() == 16  # ground at z = 0 -> level 4; roof at 6 m -> level 16


def test_rounded_official_rotation_is_accepted_and_snapped_to_a_rotation(tmp_path: Path) -> None:
    """Official extrinsics are rounded: accepted within 1e-2 and made exactly rigid; worse ones are refused."""
    from occkit.geometry import check_rigid
    from occkit.sources.uavscenes_meta import calibration_transform

    R_gnss = [0.00363212, -0.999819, -0.0213618, -0.0111679, 0.0214512, -0.999591, 0.999879, 0.00375613, -0.0111134]
    R_airport = [0.00322743, -0.999736, -0.022768, -0.0560389, 0.0227496, -0.999725, 0.999979, 0.00335414,
                 -0.00552898]  # rows 2 and 3 are 0.05 from orthogonal: the official file's HKairport_calibration
    path = tmp_path / "calibration_results.py"
    path.write_text(f"HK_GNSS_calibration = {{'camera_ext_R': {R_gnss}, 'camera_ext_t': [0.002, 0.047, -0.051]}}\n"
                    f"HKairport_calibration = {{'camera_ext_R': {R_airport}, 'camera_ext_t': [0.002, 0.08, -0.03]}}\n"
                    "scenename_to_calibration = {'HKairport01': HK_GNSS_calibration}\n")
    calib = read_calibration(path)
    T = calibration_transform(calib, "HKairport01", path)  # the run table wins over the scene variable
    check_rigid(T, tol=1e-9)
    np.testing.assert_allclose(T[:3, :3], np.reshape(R_gnss, (3, 3)), atol=1e-3)
    with pytest.raises(PoseError, match=r"calibration_results.py: camera_ext_R/t of 'HKairport': .*not orthonormal"):
        calibration_transform(calib, "HKairport02", path)
