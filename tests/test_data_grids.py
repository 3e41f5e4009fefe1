"""FrameToGrids: input and target share the grid frame and the (Z, Y, X) layout; shipped grids are checked."""

from __future__ import annotations

import numpy as np
import pytest
from real_data import AERIAL_LAS

from occkit.data.config import DataConfig, InputConfig, TargetConfig
from occkit.data.grids import FrameToGrids
from occkit.errors import ConfigError, GridMismatchError
from occkit.frame import Frame, OccupancyTarget
from occkit.geometry import GridSpec, apply_transform
from occkit.geometry.transforms import yaw_transform

# deliberately unequal sides so a swapped axis cannot pass: X=8, Y=6, Z=4 voxels of 1 m
SPEC = GridSpec(pc_range=(0.0, 0.0, 0.0, 8.0, 6.0, 4.0), voxel_size=(1.0, 1.0, 1.0))
VOXEL = (5, 2, 1)  # [x, y, z]


def _cluster(center: np.ndarray, n: int = 20, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (np.asarray(center) + rng.uniform(-0.3, 0.3, (n, 3))).astype(np.float32)


def _cfg(**kw) -> DataConfig:
    return DataConfig(grid=SPEC, **kw)


def test_known_voxel_lands_at_same_zyx_in_input_and_target_feature_major() -> None:
    pts = _cluster(SPEC.indices_to_centers(np.array([VOXEL]))[0])
    frame = Frame(frame_id="one", points=pts, T_world_sensor=np.eye(4))
    cfg = _cfg(input=InputConfig(features=["occupancy", "max_height", "count"]))
    s = FrameToGrids(cfg)(frame)
    Z, Y, X = 4, 6, 8
    assert s["input"].shape == (3 * Z, Y, X) and s["input"].dtype == np.float32
    assert s["target"].shape == (Z, Y, X) and s["target"].dtype == np.float32
    x, y, z = VOXEL
    occ = s["input"][0 * Z: 1 * Z]  # feature-major: channel = f*Z + z
    assert occ[z, y, x] == 1.0 and occ.sum() == 1.0
    hmax = s["input"][1 * Z + z, y, x]
    assert 0.5 < hmax <= 0.8 + 1e-6  # max height inside the voxel: centre + up to 0.3 m of a 1 m voxel
    assert s["input"][2 * Z + z, y, x] == pytest.approx(np.log1p(20))
    assert s["target"][z, y, x] == 1.0 and s["target"].sum() == 1.0
    assert s["target_rate"] == pytest.approx(1 / SPEC.num_voxels)
    assert s["alignment_path"] == "ego" and s["in_range_ratio"] == 1.0 and "mask" not in s


def test_pose_moves_input_and_target_together() -> None:
    """Sensor 100 m away, yawed 90 deg, 20 m up: the separate target cloud must land where the input does."""
    T = yaw_transform(np.pi / 2, [100.0, -50.0, 20.0])
    world = SPEC.indices_to_centers(np.array([VOXEL]))  # ego frame = world shifted by the sensor's x, y
    world_pts = apply_transform(yaw_transform(np.pi / 2, [100.0, -50.0, 0.0]), world)
    sensor_pts = apply_transform(np.linalg.inv(T), world_pts)
    frame = Frame(frame_id="posed", points=_cluster(sensor_pts[0], seed=1), T_world_sensor=T,
                  target_points=_cluster(sensor_pts[0], n=50, seed=2))
    s = FrameToGrids(_cfg(input=InputConfig(features=["occupancy"]), target=TargetConfig(kind="soft")))(frame)
    x, y, z = VOXEL
    assert s["input"][z, y, x] == 1.0 and s["input"].sum() == 1.0
    assert np.argwhere(s["target"] > 0).tolist() == [[z, y, x]]
    assert 0 < s["target"][z, y, x] < 1  # soft occupancy


def test_shipped_target_with_mismatched_spec_names_both() -> None:
    other = GridSpec(pc_range=(0.0, 0.0, 0.0, 8.0, 6.0, 4.0), voxel_size=(0.5, 0.5, 0.5))
    tgt = OccupancyTarget(spec=other, semantics=np.full(other.shape, 17, np.uint8))
    frame = Frame(frame_id="occ3d_tok", points=_cluster([1, 1, 1]), T_world_sensor=np.eye(4), target=tgt)
    with pytest.raises(GridMismatchError) as err:
        FrameToGrids(_cfg())(frame)
    msg = str(err.value)
    assert "occ3d_tok" in msg and SPEC.describe() in msg and other.describe() in msg


def test_shipped_target_and_camera_mask_are_used_in_model_layout() -> None:
    sem = np.full(SPEC.shape, 17, np.uint8)
    sem[VOXEL] = 4
    cam = np.zeros(SPEC.shape, bool)
    cam[:, :3, :] = True  # y < 3 visible
    tgt = OccupancyTarget(spec=SPEC, semantics=sem, mask_camera=cam, mask_lidar=~cam)
    frame = Frame(frame_id="t", points=_cluster([1.5, 1.5, 1.5]), T_world_sensor=np.eye(4), target=tgt)
    s = FrameToGrids(_cfg(target=TargetConfig(use_visibility_mask=True)))(frame)
    x, y, z = VOXEL
    assert np.argwhere(s["target"]).tolist() == [[z, y, x]]
    assert s["mask"].dtype == bool and s["mask"].shape == (4, 6, 8)
    assert s["mask"][:, :3, :].all() and not s["mask"][:, 3:, :].any()
    s2 = FrameToGrids(_cfg(target=TargetConfig(use_visibility_mask=True, mask_source="lidar")))(frame)
    np.testing.assert_array_equal(s2["mask"], ~s["mask"])


def test_dataset_frame_transform_is_used_for_shipped_grids() -> None:
    sem = np.full(SPEC.shape, 17, np.uint8)
    T_grid_sensor = yaw_transform(0.0, [4.0, 3.0, 1.0])
    frame = Frame(frame_id="d", points=_cluster([1.5, -0.5, 0.5]), T_world_sensor=np.eye(4),
                  target=OccupancyTarget(spec=SPEC, semantics=sem), meta={"T_grid_sensor": T_grid_sensor})
    s = FrameToGrids(_cfg(input=InputConfig(features=["occupancy"])))(frame)
    assert s["alignment_path"] == "dataset"
    assert np.argwhere(s["input"]).tolist() == [[1, 2, 5]]  # (z, y, x) of the point (5.5, 2.5, 1.5)
    # a stated frame applies without a target too (SemanticKITTI test split); it can be switched off
    frame.target = None
    assert FrameToGrids(_cfg())(frame)["alignment_path"] == "dataset"
    own = FrameToGrids(_cfg(use_dataset_grid_frame=False, fallback_to_lidar_center=False))(frame)
    assert own["alignment_path"] == "empty"  # the ego frame misses the points at y = -0.5


def test_pseudo_points_required_when_configured() -> None:
    frame = Frame(frame_id="cam_0042", points=_cluster([1, 1, 1]), T_world_sensor=np.eye(4))
    with pytest.raises(ConfigError, match="cam_0042.*pseudo_points"):
        FrameToGrids(_cfg(input=InputConfig(points="pseudo")))(frame)
    frame.pseudo_points = _cluster(SPEC.indices_to_centers(np.array([VOXEL]))[0])
    s = FrameToGrids(_cfg(input=InputConfig(points="pseudo", features=["occupancy"])))(frame)
    x, y, z = VOXEL
    assert s["input"][z, y, x] == 1.0 and s["input"].sum() == 1.0


def test_raycast_mask_marks_the_ray_path_in_model_layout() -> None:
    pytest.importorskip("occkit.geometry.visibility")  # written by the synthetic-world engineer
    # sensor frame = grid frame: the sensor sits at the grid corner, one return in voxel (5, 2, 1)
    hit = SPEC.indices_to_centers(np.array([VOXEL]))
    frame = Frame(frame_id="ray", points=hit.astype(np.float32), T_world_sensor=np.eye(4))
    cfg = _cfg(ego_frame=False, target=TargetConfig(use_visibility_mask=True, mask_source="raycast"))
    s = FrameToGrids(cfg)(frame)
    x, y, z = VOXEL
    m = s["mask"]
    assert s["alignment_path"] == "sensor"
    assert m.shape == (4, 6, 8) and m[z, y, x] and m[0, 0, 0]  # the hit voxel and the sensor's voxel
    assert not m[:, :, 6:].any() and not m[2:].any()  # nothing beyond the hit or above the ray
    assert 6 <= m.sum() <= 9  # the ray's voxels only: 5 + 2 + 1 face crossings at most, plus the start
    assert s["target"][z, y, x] == 1.0


def test_pseudo_points_unprojected_from_shipped_depth_maps() -> None:
    pytest.importorskip("occkit.depth.pseudo")
    from occkit.frame import CameraView

    # a camera at the sensor, optical axis (+z) up, seeing a flat ceiling 2.5 m away
    K = np.array([[4.0, 0, 4.0], [0, 4.0, 4.0], [0, 0, 1]])
    view = CameraView(name="cam", K=K, T_world_cam=np.eye(4), width=8, height=8,
                      depth=np.full((8, 8), 2.5, np.float32))
    spec = GridSpec(pc_range=(-2.0, -2.0, 0.0, 2.0, 2.0, 4.0), voxel_size=(1.0, 1.0, 1.0))
    frame = Frame(frame_id="cam_only", points=np.zeros((0, 3), np.float32), T_world_sensor=np.eye(4),
                  cameras=[view], target_points=np.array([[0.5, 0.5, 2.5]], np.float32))
    cfg = DataConfig(grid=spec, ego_frame=False, input=InputConfig(points="pseudo", features=["occupancy"]))
    s = FrameToGrids(cfg)(frame)
    occ = s["input"]  # (Z=4, Y, X)
    assert occ[2].sum() > 0 and occ[[0, 1, 3]].sum() == 0  # every pseudo point at height 2.5 m
    assert s["target"][2, 2, 2] == 1.0
    assert s["alignment_path"] == "sensor" and s["in_range_ratio"] > 0.5  # aligned on the pseudo points


def test_real_aerial_scan_with_altitude_off_datum_falls_back_with_ground_at_datum() -> None:
    """A real classified airborne LAS scan (BSD, ../shared/data/real) with a pose 300 m off the map datum."""

    from occkit.io.points import read_points

    path = AERIAL_LAS
    if not path.is_file():
        pytest.skip("shared real data not present")
    pc = read_points(path)
    ground = pc.fields["classification"] == 2
    # points relative to a sensor 300 m up, but the pose puts the sensor on the datum: the ego grid misses them
    frame = Frame(frame_id="aerial", points=pc.xyz - np.float32([30, 20, 300]), T_world_sensor=np.eye(4))
    cfg = DataConfig(grid=GridSpec.preset("uav"), input=InputConfig(features=["occupancy"]))
    s = FrameToGrids(cfg)(frame)
    assert s["alignment_path"] == "lidar_center" and s["in_range_ratio"] > 0.9
    np.testing.assert_array_equal(s["input"] > 0, s["target"] > 0)  # same points, same transform
    # ground returns land around the datum z = 0 (level 20 of the uav grid), as the ego path would put them
    from occkit.data.alignment import choose_grid_frame
    from occkit.geometry import apply_transform

    al = choose_grid_frame(frame, cfg.grid)
    z = apply_transform(al.T_grid_sensor, frame.points[ground])[:, 2]
    assert abs(np.median(z)) < 1.0 and z.min() > -2.0


def _free(s: dict, n_features: int) -> np.ndarray:
    return s["input"][(n_features - 1) * 4:]  # the last feature's (Z=4, Y, X)


def test_free_feature_marks_the_ray_path_short_of_its_hit() -> None:
    """A vertical ray from a sensor 3.5 m up down to a ground hit at 0.5 m: the voxels it crossed are free, the hit
    voxel is not (it is occupied), nor is the margin before the hit, nor any voxel the ray did not cross."""
    ground = np.array([[5.5, 2.5, 0.5]], np.float32)  # sensor frame = grid frame: the sensor sits at (5.5, 2.5, 3.5)
    frame = Frame(frame_id="down", points=ground - [5.5, 2.5, 3.5], T_world_sensor=np.eye(4))
    T = np.eye(4)
    T[:3, 3] = [5.5, 2.5, 3.5]
    frame.meta["T_grid_sensor"] = T
    cfg = _cfg(use_dataset_grid_frame=True, input=InputConfig(features=["occupancy", "free"], free_margin=0.0))
    s = FrameToGrids(cfg)(frame)
    occ, free = s["input"][:4], _free(s, 2)
    assert occ[0, 2, 5] == 1.0 and occ.sum() == 1.0
    assert free[1:, 2, 5].tolist() == [1.0, 1.0, 1.0] and free.sum() == 3.0  # levels 1-3 of the one column
    margin = FrameToGrids(_cfg(use_dataset_grid_frame=True,
                               input=InputConfig(features=["occupancy", "free"], free_margin=1.6)))(frame)
    # the ray now ends at 2.1 m: level 1 is no longer free
    assert _free(margin, 2)[2:, 2, 5].tolist() == [1.0, 1.0] and _free(margin, 2).sum() == 2.0
    no_free = FrameToGrids(_cfg(use_dataset_grid_frame=True, input=InputConfig(features=["occupancy"])))(frame)
    np.testing.assert_array_equal(no_free["input"], occ)  # the other features are unchanged by it


def test_free_feature_of_pseudo_points_starts_at_the_camera() -> None:
    """Pseudo points' rays start at the camera, not the sensor; without a camera the free feature is refused."""
    from occkit.frame import CameraView

    spec = GridSpec(pc_range=(0.0, 0.0, 0.0, 4.0, 4.0, 4.0), voxel_size=(1.0, 1.0, 1.0))
    T_world_cam = np.eye(4)
    T_world_cam[:3, 3] = [0.5, 0.5, 3.5]  # the camera 3.5 m above the sensor, over the hit
    view = CameraView(name="cam", K=np.eye(3), T_world_cam=T_world_cam, width=2, height=2)
    hit = np.array([[0.5, 0.5, 0.5]], np.float32)
    frame = Frame(frame_id="cam_rays", points=np.zeros((0, 3), np.float32), T_world_sensor=np.eye(4),
                  pseudo_points=hit, cameras=[view])
    frame.meta["T_grid_sensor"] = np.eye(4)
    cfg = DataConfig(grid=spec, use_dataset_grid_frame=True,
                     input=InputConfig(points="pseudo", features=["occupancy", "free"], free_margin=0.0))
    free = FrameToGrids(cfg)(frame)["input"][4:]
    assert free[1:, 0, 0].tolist() == [1.0, 1.0, 1.0] and free.sum() == 3.0  # straight down from (0.5, 0.5, 3.5)
    frame.cameras = []
    with pytest.raises(ConfigError, match="cam_rays.*'free'.*camera"):
        FrameToGrids(cfg)(frame)
