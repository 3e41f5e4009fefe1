"""Hand-made UAVScenes datasets in the exact official layout, tiny enough for unit tests.

The world is a flat field at z = 0 (label 13, green_field) with a 4 x 4 x 6 m building (label 1, roof) at
world (102, 50); the drone flies east at 30 m with a nadir camera. Points are written in the LiDAR frame
of the true pose; ``pose_shift`` moves the poses written to the json (but not the points) to mimic a
wrong map datum; ``points_in_world`` and ``invert_pose`` write two classic export mix-ups.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

# the official AMtown extrinsic (calibration_results.py), LiDAR -> camera, row-major
AMTOWN_R = [0.00298088, -0.999728, -0.0231416, -0.00504636, 0.0231263, -0.99972, 0.999983, 0.00309683, -0.00497605]
AMTOWN_T = [0.0025563, 0.0567484, -0.0512149]
NADIR = np.diag([1.0, -1.0, -1.0])  # camera x = world x, z looking down
K = [[20.0, 0.0, 4.0], [0.0, 20.0, 3.0], [0.0, 0.0, 1.0]]
WIDTH, HEIGHT = 8, 6


@dataclass
class UAVFixture:
    """What was written, for assertions: per run, the timestamps, true poses and world points."""

    root: Path
    run_dirs: dict[str, Path] = field(default_factory=dict)
    json_paths: dict[str, Path] = field(default_factory=dict)
    timestamps: dict[str, list[str]] = field(default_factory=dict)
    T_world_cam: dict[str, list[np.ndarray]] = field(default_factory=dict)
    world_points: np.ndarray | None = None
    world_labels: np.ndarray | None = None

    @property
    def T_cam_lidar(self) -> np.ndarray:
        T = np.eye(4)
        U, _, Vt = np.linalg.svd(np.array(AMTOWN_R).reshape(3, 3))
        T[:3, :3], T[:3, 3] = U @ Vt, AMTOWN_T
        return T


def world_cloud(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Ground field + one building, with the 26-id labels."""
    rng = np.random.default_rng(seed)
    ground = np.c_[rng.uniform(85, 125, 3000), rng.uniform(30, 70, 3000), np.zeros(3000)]
    box = np.c_[rng.uniform(100, 104, 600), rng.uniform(48, 52, 600), rng.uniform(0, 6, 600)]
    return np.vstack([ground, box]), np.r_[np.full(3000, 13), np.full(600, 1)]


def write_uavscenes(
    root: Path,
    *,
    runs: tuple[str, ...] = ("AMtown01", "AMtown02"),
    interval: int = 5,
    layout: str = "doubled",
    n_images: int = 3,
    extra_records: int = 2,
    drop_pose_of: tuple[str, int] | None = None,
    bad_pose_of: tuple[str, int] | None = None,
    pose_shift: tuple[float, float, float] = (0.0, 0.0, 0.0),
    calibration_style: str = "official",
    calibration_scenes: tuple[str, ...] = ("AMtown",),
    points_in_world: bool = False,
    invert_pose: bool = False,
    tilt_deg: float = 0.0,
) -> UAVFixture:
    """Write runs under ``root`` (``layout`` "doubled" = official zips, "flat" = runs directly under root)."""
    fx = UAVFixture(root=root)
    world, labels = world_cloud()
    fx.world_points, fx.world_labels = world, labels
    T_cam_lidar = fx.T_cam_lidar
    pre = f"interval{interval}"
    for r_i, run in enumerate(runs):
        base = root / f"{pre}_CAM_LIDAR" / f"{pre}_CAM_LIDAR" if layout == "doubled" else root
        run_dir = base / f"{pre}_{run}"
        label_base = (root / f"{pre}_LIDAR_label" / f"{pre}_LIDAR_label" if layout == "doubled"
                      else root / f"{pre}_LIDAR_label")
        (run_dir / f"{pre}_CAM").mkdir(parents=True)
        (run_dir / f"{pre}_LIDAR").mkdir()
        label_dir = label_base / f"{pre}_{run}" / f"{pre}_LIDAR_label_id"
        label_dir.mkdir(parents=True)
        records, stamps, poses = [], [], []
        for i in range(n_images + extra_records):
            ts = f"{1658137057 + 100 * r_i + i}.{641204937 + i:09d}"
            T_world_cam = np.eye(4)
            c, s_ = np.cos(np.deg2rad(tilt_deg)), np.sin(np.deg2rad(tilt_deg))
            tilt = np.array([[1.0, 0.0, 0.0], [0.0, c, -s_], [0.0, s_, c]])  # oblique camera: about its x axis
            T_world_cam[:3, :3], T_world_cam[:3, 3] = NADIR @ tilt, [95.0 + 4.0 * i, 50.0, 30.0]
            written = T_world_cam.copy()
            written[:3, 3] += pose_shift
            if invert_pose:  # a world->camera export: the classic mix-up
                written = np.linalg.inv(written)
            if bad_pose_of == (run, i):
                written[:3, :3] *= 1.5  # a scaled rotation: not rigid
            rec = {"OriginalImageName": f"{ts}.jpg", "T4x4": written.tolist(), "P3x3": K,
                   "Distortion": [0.0, 0.0, 0.0, 0.0, 0.0], "Width": WIDTH, "Height": HEIGHT}
            if drop_pose_of != (run, i):
                records.append(rec)
            if i >= n_images:  # extra interval-1 records without image or scan
                continue
            stamps.append(ts)
            poses.append(T_world_cam)
            image = np.full((HEIGHT, WIDTH, 3), (40 * i) % 256, np.uint8)
            Image.fromarray(image).save(run_dir / f"{pre}_CAM" / f"{ts}.jpg")
            T_lidar_world = np.linalg.inv(T_world_cam @ T_cam_lidar)
            pts = world if points_in_world else world @ T_lidar_world[:3, :3].T + T_lidar_world[:3, 3]
            lts = f"{1658137057 + 100 * r_i + i}.{600000000 + i:09d}"
            name = f"image{ts}_lidar{lts}.txt"
            np.savetxt(run_dir / f"{pre}_LIDAR" / name, pts, fmt="%.6f")
            np.savetxt(label_dir / name, labels, fmt="%d")
        (run_dir / "sampleinfos_interpolated.json").write_text(json.dumps(records[::-1]))  # order must not matter
        fx.run_dirs[run], fx.json_paths[run] = run_dir, run_dir / "sampleinfos_interpolated.json"
        fx.timestamps[run], fx.T_world_cam[run] = stamps, poses
    write_calibration(root / "calibration_results.py", calibration_style, calibration_scenes)
    return fx


def write_calibration(path: Path, style: str, scenes: tuple[str, ...]) -> None:
    """The official style (per-scene variables + name table) or occkit's nested-literal style."""
    if style == "official":
        lines = ["'''camera - LiDAR calibrations'''", ""]
        for scene in scenes:
            lines += [f"{scene}_calibration = {{", "    'camera_intrinsic': [20.0, 0.0, 4.0, 0.0, 20.0, 3.0, 0, 0, 1],",
                      f"    'camera_ext_R': {AMTOWN_R},", f"    'camera_ext_t': {AMTOWN_T}", "}", ""]
        lines.append("scenename_to_calibration = {")
        lines += [f"    '{scene}0{k}': {scene}_calibration," for scene in scenes for k in (1, 2, 3)]
        lines.append("}")
        path.write_text("\n".join(lines) + "\n")
    else:
        R = np.array(AMTOWN_R).reshape(3, 3).tolist()
        body = {s: {"camera_int": [20.0, 20.0, 4.0, 3.0], "camera_ext_R": R, "camera_ext_t": AMTOWN_T} for s in scenes}
        path.write_text(f"calibration_results = {body!r}\n")
