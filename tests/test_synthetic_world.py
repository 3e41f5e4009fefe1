"""The synthetic source: deterministic frames, split/seed separation, frame contents, mono-depth stand-in."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from occkit.data.alignment import ego_transform
from occkit.depth.unproject import confidence_floor
from occkit.errors import ConfigError
from occkit.frame import Frame
from occkit.geometry import GridSpec, voxelize
from occkit.geometry.transforms import check_rigid, invert_transform
from occkit.sources.base import Source
from occkit.sources.config import SyntheticSourceConfig as FromUnion
from occkit.sources.synthetic import SyntheticSourceConfig
from occkit.synthetic.monodepth import DepthNoiseConfig, degrade_depth, pseudo_points_of
from occkit.synthetic.scene import make_scene


def small(preset: str = "uav_town", **kw) -> SyntheticSourceConfig:
    """A fast config: fewer LiDAR points, a small camera, two accumulated sweeps."""
    base = {"preset": preset, "train_frames": 3, "val_frames": 2, "test_frames": 1, "accumulate_poses": 2,
            "lidar": {"points_per_frame": 3000, "beams": 8, "h_step_deg": 1.5},
            "camera": {"width": 80, "height": 64}}
    base.update(kw)
    return SyntheticSourceConfig.model_validate(base)


def test_same_seed_same_frames_and_different_seed_different_scene():
    a = small().build("train")[1]
    b = small().build("train")[1]
    for name in ("points", "target_points", "pseudo_points", "T_world_sensor", "point_labels"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    np.testing.assert_array_equal(a.cameras[0].image, b.cameras[0].image)
    c = small(seed=1).build("train")[1]
    assert not np.array_equal(a.T_world_sensor, c.T_world_sensor)
    assert make_scene("uav_town", 1).num_primitives != make_scene("uav_town", 2).num_primitives or not np.allclose(
        make_scene("uav_town", 1).box_center[:5], make_scene("uav_town", 2).box_center[:5])


def test_splits_use_different_scenes():
    cfg = small()
    tr, va = cfg.build("train"), cfg.build("val")
    assert tr[0].meta["scene_seed"] != va[0].meta["scene_seed"]
    assert not set(tr.frame_ids) & set(va.frame_ids)
    assert tr.fingerprint() != va.fingerprint()
    assert tr.fingerprint() == cfg.build("train").fingerprint()
    assert small(seed=3).build("train").fingerprint() != tr.fingerprint()


def test_source_protocol_and_frame_contents_uav():
    src = small().build("train")
    assert isinstance(src, Source) and len(src) == 3 and len(src.frame_ids) == 3
    f = src[0]
    assert isinstance(f, Frame) and f.frame_id == src.frame_ids[0]
    check_rigid(f.T_world_sensor)
    assert f.points.dtype == np.float32 and f.points.shape[1] == 3 and 2000 < len(f.points) <= 3000
    assert f.point_labels.shape == (len(f.points),) and f.point_labels.max() < 26
    assert f.point_fields["intensity"].shape == (len(f.points),)
    cam = f.cameras[0]
    assert cam.image.shape == (64, 80, 3) and cam.image.dtype == np.uint8
    assert cam.depth.shape == (64, 80) and cam.depth.dtype == np.float32 and cam.semantics.dtype == np.uint8
    assert f.pseudo_points.dtype == np.float32 and f.target_points.dtype == np.float32
    assert len(f.target_points) > len(f.points)
    np.testing.assert_array_equal(f.target_points[: len(f.points)], f.points)  # this sweep comes first
    assert f.meta["preset"] == "uav_town" and f.meta["label_space"] == "uavscenes"
    # the drone flies 40-140 m above ground that sits near world z = 0
    world = f.points @ f.T_world_sensor[:3, :3].T + f.T_world_sensor[:3, 3]
    assert 35.0 < f.T_world_sensor[2, 3] < 145.0
    assert abs(np.median(world[:, 2])) < 10.0
    # target occupancy on the UAV grid in the ego frame is sparse, as in UAVScenes
    grids = voxelize(f.target_points, GridSpec.preset("uav"), T_grid_points=ego_transform(f.T_world_sensor),
                     features=("occupancy",))
    assert 0.0005 < grids.occupied_fraction < 0.03


def test_camera_depth_agrees_with_lidar_and_pseudo_points_are_in_the_sensor_frame():
    f = small(depth_noise={"scale_sigma": 0.0, "shift_sigma_m": 0.0, "noise_rel": 0.0, "noise_quad": 0.0,
                           "edge_blur_px": 0.0}).build("train")[0]
    cam = f.cameras[0]
    # noise-free pseudo points, moved to the world, lie on surfaces the LiDAR saw: compare median heights
    T_ws = f.T_world_sensor
    pseudo_w = f.pseudo_points @ T_ws[:3, :3].T + T_ws[:3, 3]
    lidar_w = f.points @ T_ws[:3, :3].T + T_ws[:3, 3]
    assert abs(np.median(pseudo_w[:, 2]) - np.median(lidar_w[:, 2])) < 2.0
    # a pseudo point projects back into the camera at its depth
    T_cam_world = invert_transform(cam.T_world_cam)
    p_cam = pseudo_w @ T_cam_world[:3, :3].T + T_cam_world[:3, 3]
    uv = p_cam @ cam.K.T
    u, v = np.round(uv[:, 0] / uv[:, 2]).astype(int), np.round(uv[:, 1] / uv[:, 2]).astype(int)
    np.testing.assert_allclose(p_cam[:, 2], cam.depth[v, u], rtol=1e-4)


def test_street_frame_is_a_ground_level_spinning_scan():
    f = small("street").build("train")[0]
    assert f.meta["label_space"] == "occ3d" and f.point_labels.max() <= 16
    assert 1.0 < f.T_world_sensor[2, 3] < 3.0
    assert np.ptp(f.points[:, 2]) > 5  # facades rise above the sensor
    grids = voxelize(f.target_points, GridSpec.preset("occ3d_nuscenes"),
                     T_grid_points=ego_transform(f.T_world_sensor), features=("occupancy",))
    assert grids.in_range_ratio > 0.6 and 0.003 < grids.occupied_fraction < 0.15


def test_degrade_depth_blurs_edges_keeps_sky_empty_and_grows_noise():
    rng = np.random.default_rng(0)
    depth = np.full((40, 40), 50.0, np.float32)
    depth[:, :20] = 10.0  # a foreground wall
    depth[:5] = 0.0  # sky
    cfg = DepthNoiseConfig(scale_sigma=0.0, shift_sigma_m=0.0, noise_rel=0.0, noise_quad=0.0, edge_blur_px=1.5)
    out, conf = degrade_depth(depth, cfg, rng)
    assert np.all(out[:5] == 0) and np.all(conf[:5] == 0)
    assert 10.5 < out[20, 19] < 49.5 and 10.5 < out[20, 20] < 49.5  # smeared between fore- and background
    assert out[20, 5] == pytest.approx(10.0) and out[20, 35] == pytest.approx(50.0)
    noisy, _ = degrade_depth(depth, DepthNoiseConfig(scale_sigma=0, shift_sigma_m=0, edge_blur_px=0), rng)
    err = noisy - depth
    assert np.std(err[10:, 25:]) > 3 * np.std(err[10:, :15])  # far is noisier than near


def test_a_confidence_percentile_drops_the_flying_pixels_of_a_blurred_edge():
    """A roof 30 m under a nadir camera over ground 50 m under it: the blurred edge's points fly between the two.
    Dropping the least confident pixels, as occkit's DA3 path does, removes them and keeps the surfaces."""
    rng = np.random.default_rng(1)
    depth = np.full((60, 60), 50.0, np.float32)
    depth[15:45, 15:45] = 30.0
    cfg = DepthNoiseConfig(scale_sigma=0.0, shift_sigma_m=0.0, noise_rel=0.0, noise_quad=0.0, edge_blur_px=1.5)
    out, conf = degrade_depth(depth, cfg, rng)
    K = np.array([[60.0, 0.0, 29.5], [0.0, 60.0, 29.5], [0.0, 0.0, 1.0]])

    def flying(points: np.ndarray) -> int:
        return int(((points[:, 2] > 30.5) & (points[:, 2] < 49.5)).sum())

    kept_all = pseudo_points_of(out, conf, K, np.eye(4), cfg)
    kept = pseudo_points_of(out, conf, K, np.eye(4), cfg.model_copy(update={"conf_percentile": 40.0}))
    assert len(kept_all) == 3600 and flying(kept_all) > 200
    assert flying(kept) == 0
    assert ((np.abs(kept[:, 2] - 30.0) < 0.01).sum() > 500) and ((np.abs(kept[:, 2] - 50.0) < 0.01).sum() > 1000)
    assert confidence_floor(out, conf, None) is None and confidence_floor(out, conf, None, 0.2) == 0.2
    assert confidence_floor(out, conf, 40.0, 2.0) == 2.0  # an absolute floor above the percentile wins
    # the setting is hashed only when used: caches made before it existed keep their fingerprint
    source = SyntheticSourceConfig(preset="uav_town", train_frames=2, val_frames=1)
    unset = source.build("train").fingerprint()
    same = source.model_copy(update={"depth_noise": DepthNoiseConfig(conf_percentile=None)}).build("train")
    used = source.model_copy(update={"depth_noise": DepthNoiseConfig(conf_percentile=40.0)}).build("train")
    assert same.fingerprint() == unset != used.fingerprint()


def test_config_validation_and_union():
    with pytest.raises(ValidationError):
        SyntheticSourceConfig(preset="mars")
    with pytest.raises(ValidationError):
        SyntheticSourceConfig(frames=3)
    with pytest.raises(ValidationError):
        SyntheticSourceConfig(lidar={"beams": 0})
    with pytest.raises(ValidationError, match="vfov_deg"):
        SyntheticSourceConfig(lidar={"vfov_deg": (10.0, -30.0)})
    with pytest.raises(ValidationError, match="max_range"):
        SyntheticSourceConfig(lidar={"max_range": 0.2, "min_range": 0.5})
    assert FromUnion is SyntheticSourceConfig
    with pytest.raises(IndexError, match="3 frames"):
        small().build("train")[3]
    with pytest.raises(ConfigError, match="split"):
        small().build("holdout")


def test_solid_grid_matches_point_in_primitive_and_contains_the_lidar_surface():
    from scipy import ndimage

    from occkit.geometry.transforms import apply_transform
    from occkit.synthetic.groundtruth import solid_grid
    from occkit.synthetic.world import cached_scene, generate_sample

    cfg = small("street")
    s = generate_sample(cfg, "train", 0)
    scene = cached_scene("street", s.meta["scene_seed"])
    spec = GridSpec.preset("occ3d_nuscenes")
    solid = solid_grid(scene, spec, s.T_world_ego)
    assert solid.shape == spec.shape and solid.dtype == np.int16
    rng = np.random.default_rng(0)
    idx = rng.integers(0, np.array(spec.shape), (5000, 3))
    ref = scene.contains(apply_transform(s.T_world_ego, spec.indices_to_centers(idx)))
    same = solid[tuple(idx.T)] == ref
    assert same.mean() > 0.995  # differs only where thin primitives were widened to half a voxel
    assert np.all(solid[tuple(idx.T)][ref >= 0] >= 0)
    # LiDAR returns lie on solid surfaces: (almost) every LiDAR-occupied voxel touches a solid voxel
    T_ego_lidar = invert_transform(s.T_world_ego) @ s.T_world_lidar
    occ = voxelize(s.target_points, spec, T_grid_points=T_ego_lidar, features=("occupancy",)).occupancy
    near_solid = ndimage.binary_dilation(solid >= 0, structure=np.ones((3, 3, 3), bool))
    assert occ.sum() > 500 and near_solid[occ].mean() > 0.97


def test_valley_has_stronger_relief_than_town_but_stays_in_the_uav_grid():
    def relief(preset: str) -> float:
        f = small(preset).build("train")[0]
        world = f.points @ f.T_world_sensor[:3, :3].T + f.T_world_sensor[:3, 3]
        ground = world[np.isin(f.point_labels, [3, 13, 19])]  # road, field, walk in the UAVScenes-like ids
        assert np.percentile(ground[:, 2], 1) > -10.0  # the uav grid floor
        return float(np.percentile(ground[:, 2], 95) - np.percentile(ground[:, 2], 5))

    assert relief("uav_valley") > relief("uav_town")


def test_accumulation_seed_redraws_only_the_accumulated_sweeps() -> None:
    from occkit.sources.synthetic import SyntheticSourceConfig

    base = SyntheticSourceConfig(preset="uav_town", train_frames=1, val_frames=0, accumulate_poses=3,
                                 accumulate_pose_noise_m=0.05)
    a = base.build("train").sample(0)
    again = base.model_copy(update={"accumulation_seed": 0}).build("train").sample(0)
    b = base.model_copy(update={"accumulation_seed": 1}).build("train").sample(0)
    np.testing.assert_array_equal(a.target_points, again.target_points)  # seed 0 keeps the frames as they were
    np.testing.assert_array_equal(a.points, b.points)  # the input sweep and the poses are the same ...
    # the sweeps' origins differ only by their registration error (5 cm sigma)
    np.testing.assert_allclose(a.accumulation_origins, b.accumulation_origins, atol=0.3)
    own = a.target_sweep == 0
    np.testing.assert_array_equal(a.target_points[own], b.target_points[b.target_sweep == 0])
    assert not np.array_equal(a.target_points[~own][:100], b.target_points[b.target_sweep != 0][:100])  # ... not these


def test_a_lidar_only_source_skips_the_camera_and_keeps_the_lidar_and_the_target(tmp_path) -> None:
    """render_camera=False: the same LiDAR sweep and accumulated target, no camera, depth or pseudo points; the
    frame carries no camera and a LiDAR-input pipeline builds the same grids; the default's fingerprint is what
    it was before the setting existed (existing caches stay valid), the LiDAR-only one differs; shipped targets
    (camera masks) and UAVScenes files (images) refuse it with one line."""
    from occkit.config import load_config
    from occkit.data.grids import FrameToGrids
    from occkit.errors import ConfigError as OccConfigError
    from occkit.synthetic.writers import write_uavscenes

    full = small()
    lidar_only = small(render_camera=False)
    a, b = full.build("train").sample(1), lidar_only.build("train").sample(1)
    np.testing.assert_array_equal(a.points, b.points)
    np.testing.assert_array_equal(a.target_points, b.target_points)
    assert a.camera is not None and a.pseudo_points is not None
    assert b.camera is None and b.pseudo_points is None and b.noisy_depth is None
    frame = lidar_only.build("train")[1]
    assert frame.cameras == [] and frame.pseudo_points is None
    data = load_config("synthetic_uav").data
    grids = [FrameToGrids(data.model_copy(update={"source": src}))(src.build("train")[1])
             for src in (full, lidar_only)]
    for key in ("input", "target"):
        np.testing.assert_array_equal(grids[0][key], grids[1][key])
    explicit = small(render_camera=True)
    assert explicit.build("train").fingerprint() == full.build("train").fingerprint()
    assert lidar_only.build("train").fingerprint() != full.build("train").fingerprint()
    with pytest.raises(ValidationError, match="render_camera=True"):
        small(render_camera=False, ship_target="lidar")
    with pytest.raises(OccConfigError, match="render_camera=True"):
        write_uavscenes([b], tmp_path / "uav")


def test_each_frame_carries_its_terrain_as_a_dem_that_fixes_the_pseudo_scale_on_hilly_ground() -> None:
    """meta['ground_dem'] is the scene's terrain around the drone (one offset of dem_noise_m for the DEM's error);
    with data.input.pseudo_ground_z='dem' the pseudo points' recovered scale is closer to the one that undoes the
    depth error (median true / noisy depth) than with the flat datum, whose ground is not this valley's; a frame
    without a DEM gets one line naming the setting."""
    from occkit.config import load_config
    from occkit.data.grids import FrameToGrids
    from occkit.depth.scale_align import GroundRaster
    from occkit.synthetic.world import cached_scene

    exact = small("uav_valley", dem_noise_m=0.0, camera={"width": 96, "height": 80})
    src = exact.build("train")
    sample, frame = src.sample(0), src[0]
    tile = GroundRaster.from_meta(frame.meta["ground_dem"], "test")
    xy = frame.T_world_sensor[:2, 3][None] + np.array([[0.0, 0.0], [31.3, -12.7], [-80.0, 95.0]])
    terrain = cached_scene("uav_valley", sample.meta["scene_seed"]).terrain.height(xy[:, 0], xy[:, 1])
    np.testing.assert_allclose(tile.at(xy[:, 0], xy[:, 1]), terrain, atol=0.05)  # bilinear at 2.5 m cells
    noisy = GroundRaster.from_meta(small("uav_valley", dem_noise_m=0.3).build("train")[0].meta["ground_dem"], "t")
    offset = noisy.heights - tile.heights
    assert np.ptp(offset) < 1e-4 and 0 < abs(float(offset.mean())) < 1.5  # one offset for the whole tile

    data = load_config("synthetic_refinement").data
    errors = {}
    for ground in (0.0, "dem"):
        f2g = FrameToGrids(data.model_copy(update={"source": exact, "input": data.input.model_copy(
            update={"pseudo_ground_z": ground})}))
        errors[ground] = []
        for i in range(3):
            s, fr = src.sample(i), src[i]
            aligned = f2g.model_points(fr, f2g.align(fr, fr.pseudo_points).T_grid_sensor, fr.pseudo_points)
            cam = (invert_transform(fr.T_world_sensor) @ fr.cameras[0].T_world_cam)[:3, 3]
            scale = np.median(np.linalg.norm(aligned - cam, axis=1) / np.linalg.norm(fr.pseudo_points - cam, axis=1))
            ok = (s.noisy_depth > 0) & (s.camera.depth > 0)
            errors[ground].append(abs(scale / np.median(s.camera.depth[ok] / s.noisy_depth[ok]) - 1))
    assert max(errors["dem"]) < 0.005 and np.mean(errors["dem"]) < 0.5 * np.mean(errors[0.0])

    del frame.meta["ground_dem"]
    f2g = FrameToGrids(data.model_copy(update={"source": exact, "input": data.input.model_copy(
        update={"pseudo_ground_z": "dem"})}))
    with pytest.raises(ConfigError, match="ground_dem.*has none"):
        f2g.model_points(frame, np.eye(4), frame.pseudo_points)
