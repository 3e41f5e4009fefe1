"""Writes ``da3_export/``: Depth Anything 3's own npz and mini_npz export files, by DA3's own export code.

The depth network's weights cannot be downloaded here, so the prediction handed to DA3's exporter holds two views
of the synthetic UAV town at DA3-like quality (occkit's monocular-depth stand-in: scale error, noise, smeared
edges and their low confidence) instead of a network's output; the files, their keys, dtypes, shapes, rounding and
conventions (world-to-camera extrinsics in the first view's frame, intrinsics at the exported size) are DA3's.
Beside them: the views' true camera poses and the first frame's LiDAR in the world frame, to check the geometry.

    bash scripts/setup_da3.sh && .venv-da3/bin/python -m pip install imageio tqdm
    .venv-da3/bin/python tests/data/recorded/make_da3_export.py
"""

from __future__ import annotations

import importlib.util
import json
import threading
from pathlib import Path

import numpy as np

from occkit.geometry.transforms import invert_transform
from occkit.sources.config import SyntheticSourceConfig
from occkit.synthetic.monodepth import DepthNoiseConfig, degrade_depth

OUT = Path(__file__).parent / "da3_export"


def da3_module(name: str):
    """A module of the installed depth_anything_3 package by file, past ``utils/export/__init__`` (it imports
    the Gaussian-splatting and video exporters, whose packages the npz exporter does not need)."""
    spec = importlib.util.find_spec("depth_anything_3")
    path = Path(next(iter(spec.submodule_search_locations))) / name
    module_spec = importlib.util.spec_from_file_location(f"da3_{path.stem}", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def main() -> None:
    from depth_anything_3.specs import Prediction

    exporter = da3_module("utils/export/npz.py")
    source = SyntheticSourceConfig(preset="uav_town", seed=5, train_frames=2, val_frames=0, test_frames=0,
                                   frames_per_scene=2, accumulate_poses=1,
                                   camera={"width": 168, "height": 126}).build("train")
    frames = [source[0], source[1]]
    views = [f.cameras[0] for f in frames]
    rng = np.random.default_rng(0)
    degraded = [degrade_depth(v.depth, DepthNoiseConfig(scale_sigma=0.0, shift_sigma_m=0.0), rng) for v in views]
    T_da3_world = invert_transform(views[0].T_world_cam)  # DA3's world frame: its first view's camera
    extrinsics = np.stack([invert_transform(T_da3_world @ v.T_world_cam)[:3] for v in views]).astype(np.float32)
    prediction = Prediction(depth=np.stack([d for d, _ in degraded]).astype(np.float32), is_metric=1,
                            conf=np.stack([c for _, c in degraded]).astype(np.float32), extrinsics=extrinsics,
                            intrinsics=np.stack([v.K for v in views]).astype(np.float32),
                            processed_images=np.stack([v.image for v in views]).astype(np.uint8))
    OUT.mkdir(exist_ok=True)
    before = set(threading.enumerate())
    exporter.export_to_npz(prediction, str(OUT))  # DA3 writes from threads of its own (utils.parallel_utils)
    exporter.export_to_mini_npz(prediction, str(OUT))
    for thread in set(threading.enumerate()) - before:
        thread.join()
    lidar = frames[0].points[:, :3].astype(np.float64) @ frames[0].T_world_sensor[:3, :3].T + \
        frames[0].T_world_sensor[:3, 3]
    keep = np.random.default_rng(1).choice(len(lidar), min(6000, len(lidar)), replace=False)
    np.save(OUT / "lidar_world.npy", lidar[np.sort(keep)].astype(np.float32))
    truth = {"frames": [f.frame_id for f in frames], "T_world_cam": [v.T_world_cam.tolist() for v in views],
             "T_world_sensor": [f.T_world_sensor.tolist() for f in frames],
             "T_sensor_cam": (invert_transform(frames[0].T_world_sensor) @ views[0].T_world_cam).tolist()}
    (OUT / "truth.json").write_text(json.dumps(truth, indent=1) + "\n")
    print("wrote", sorted(str(p.relative_to(OUT)) for p in OUT.rglob("*") if p.is_file()))


if __name__ == "__main__":
    main()
