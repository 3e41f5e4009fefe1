"""Written synthetic data read back by the real readers (UAVScenes, Occ3D sources) and the data pipeline.

Nothing downstream special-cases synthetic data, so what the writers put on disk must come back unchanged
through the same code that reads the real datasets.
"""

from __future__ import annotations

import numpy as np

from occkit.data.config import DataConfig
from occkit.data.grids import FrameToGrids
from occkit.geometry import GridSpec
from occkit.sources.occ3d import Occ3DSourceConfig
from occkit.sources.synthetic import SyntheticSourceConfig
from occkit.sources.uavscenes import UAVScenesSourceConfig
from occkit.synthetic import classes as C
from occkit.synthetic.writers import occ3d_scene_name, write_occ3d, write_uavscenes

SMALL = {"accumulate_poses": 2, "lidar": {"points_per_frame": 2000, "beams": 8, "h_step_deg": 2.0},
         "camera": {"width": 64, "height": 48}}


def samples(preset: str, n: int):
    src = SyntheticSourceConfig(preset=preset, train_frames=n, **SMALL).build("train")
    return [src.sample(i) for i in range(n)]


def test_uavscenes_reader_gets_back_points_poses_labels_images(tmp_path):
    ss = samples("uav_town", 2)
    write_uavscenes(ss, tmp_path)
    src = UAVScenesSourceConfig(root=str(tmp_path), load_images=True, train_runs=["AMtown01"]).build("train")
    assert len(src) == 2
    for s, i in zip(ss, range(2), strict=True):
        f = src[i]
        np.testing.assert_allclose(f.points, s.points, atol=1e-4)
        np.testing.assert_allclose(f.T_world_sensor, s.T_world_lidar, atol=1e-6)
        np.testing.assert_array_equal(f.point_labels, C.to_label_space(s.labels, "uavscenes"))
        assert f.cameras[0].image.shape == (48, 64, 3)
        np.testing.assert_allclose(f.cameras[0].K, s.camera.K, atol=1e-6)


def test_occ3d_reader_gets_back_points_poses_and_grids(tmp_path):
    ss = samples("street", 2)
    spec = GridSpec.preset("occ3d_nuscenes")
    write_occ3d(ss, tmp_path, spec)
    src = Occ3DSourceConfig(root=tmp_path, scenes={"train": [occ3d_scene_name(ss[0])]}).build("train")
    assert len(src) == 2
    got = {f.meta["token"]: f for f in (src[0], src[1])}
    from occkit.synthetic.writers import token_of

    for s in ss:
        f = got[token_of(s.frame_id)]
        np.testing.assert_allclose(f.points, s.points, atol=1e-6)
        np.testing.assert_allclose(f.T_world_sensor, s.T_world_lidar, atol=1e-6)
        assert f.target.semantics.shape == spec.shape
        assert 0.003 < f.target.occupancy.mean() < 0.15


def test_data_pipeline_grid_frame_is_the_synthetic_ego_frame():
    """FrameToGrids' ego alignment must equal the writers' T_world_ego, so Occ3D labels written here and grids
    built from live frames line up voxel for voxel."""
    from occkit.data.alignment import ego_transform
    from occkit.geometry import channels_to_grid, voxelize
    from occkit.geometry.transforms import invert_transform

    for preset, grid in (("uav_town", "uav"), ("street", "occ3d_nuscenes")):
        spec = GridSpec.preset(grid)
        cfg = DataConfig(source=SyntheticSourceConfig(preset=preset, **SMALL), grid=spec)
        s = cfg.source.build("train").sample(0)
        sample = FrameToGrids(cfg)(s.to_frame())
        assert sample["alignment_path"] == "ego", sample["alignment_message"]
        T_ego_lidar = invert_transform(s.T_world_ego) @ s.T_world_lidar
        mine = voxelize(s.target_points, spec, T_grid_points=T_ego_lidar, features=("occupancy",)).occupancy
        assert mine.sum() > 100
        np.testing.assert_allclose(ego_transform(s.T_world_lidar), T_ego_lidar, atol=1e-9)
        theirs = channels_to_grid(sample["target"]) > 0.5
        assert (theirs != mine).sum() <= 0.005 * mine.sum()  # only float rounding at voxel faces may differ


def test_shipped_targets_lidar_and_solid_flow_through_the_pipeline():
    from occkit.geometry import channels_to_grid

    cfgs = {kind: SyntheticSourceConfig(preset="street", ship_target=kind, **SMALL) for kind in ("lidar", "solid")}
    frames = {kind: c.build("train")[0] for kind, c in cfgs.items()}
    spec = GridSpec.preset("occ3d_nuscenes")
    lid, sol = frames["lidar"].target, frames["solid"].target
    assert lid.spec.is_close(spec) and lid.semantics.dtype == np.uint8 and lid.free_label == 17
    assert lid.mask_lidar[lid.occupancy].all() and lid.mask_camera.any()
    # solid fills objects and the ground below the surface: far more occupied than the LiDAR surface
    assert sol.occupancy.mean() > 2 * lid.occupancy.mean()
    # LiDAR-occupied voxels are solid or touch a solid voxel (returns lie on the solids' faces)
    from scipy import ndimage

    touching = ndimage.binary_dilation(sol.occupancy, structure=np.ones((3, 3, 3), bool))
    assert touching[lid.occupancy].mean() > 0.97
    data = DataConfig(source=cfgs["solid"], grid=spec)
    sample = FrameToGrids(data)(frames["solid"])
    assert sample["alignment_path"] == "dataset"
    np.testing.assert_array_equal(channels_to_grid(sample["target"]) > 0.5, sol.occupancy)
