"""Write synthetic samples in real dataset layouts (docs/ARCHITECTURE.md), so the real readers load them.

* ``write_uavscenes``: the doubled ``interval5_CAM_LIDAR`` tree, jpg images, ``image<ts>_lidar<lts>.txt`` scans,
  ``sampleinfos_interpolated.json`` (with extra image-less pose records, as the real file has), LiDAR and
  camera label files, ``calibration_results.py``.
* ``write_occ3d``: ``samples/LIDAR_TOP/<token>.pcd.bin``, ``gts/<scene>/<token>/labels.npz`` on the preset's
  grid in the ego frame, and the OccWorld-style ``occ_infos_<split>.pkl``.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
from PIL import Image

from occkit.geometry.grid import GridSpec
from occkit.io.occ3d import write_occ3d_labels
from occkit.io.points import write_points
from occkit.synthetic import classes as C
from occkit.synthetic.world import FRAME_DT, SyntheticSample, sample_camera, target_grids
from occkit.utils.atomic import atomic_write, atomic_write_text

LIDAR_DELAY_NS = 21_374_112  # LiDAR stamp trails the image stamp, as in the real file names
Progress = Callable[[], None]


def stamp(ns: int) -> str:
    """Timestamp string from integer nanoseconds, e.g. 1658137057.641204937 (exact, no float noise)."""
    return f"{ns // 10**9}.{ns % 10**9:09d}"


def run_dirs(root: Path, run: str) -> dict[str, Path]:
    """The folders of one UAVScenes run (interval 5), official doubled wrappers included."""
    base = root / "interval5_CAM_LIDAR" / "interval5_CAM_LIDAR" / f"interval5_{run}"
    return {"run": base, "cam": base / "interval5_CAM", "lidar": base / "interval5_LIDAR",
            "lidar_label": root / "interval5_LIDAR_label" / "interval5_LIDAR_label" / f"interval5_{run}"
            / "interval5_LIDAR_label_id",
            "cam_label": root / "interval5_CAM_label" / "interval5_CAM_label" / f"interval5_{run}"
            / "interval5_CAM_label_id"}


def _save_image(path: Path, array: np.ndarray, **kwargs: object) -> None:
    atomic_write(path, lambda p: Image.fromarray(array).save(p, format=path.suffix.lstrip(".").replace(
        "jpg", "jpeg").upper(), **kwargs))


def _pose_record(name: str, T_world_cam: np.ndarray, K: np.ndarray, width: int, height: int) -> dict:
    return {"OriginalImageName": name, "T4x4": np.round(T_world_cam, 9).tolist(), "P3x3": np.round(K, 9).tolist(),
            "Distortion": [0.0, 0.0, 0.0, 0.0, 0.0], "Width": int(width), "Height": int(height)}


def write_uavscenes(samples: Iterable[SyntheticSample], root: str | Path, *, extra_poses: int = 1,
                    progress: Progress | None = None) -> Path:
    """Write samples as UAVScenes interval-5 runs (one run per scene, e.g. AMtown01); returns ``root``.

    ``extra_poses`` image-less records per frame are added to ``sampleinfos_interpolated.json``, the
    interval-1 poses the real file carries between the interval-5 images.
    """
    root = Path(root)
    records: dict[str, list[dict]] = {}
    calib: dict[str, dict] = {}
    for s in samples:
        run, cam = s.scene_name, sample_camera(s, "a UAVScenes run (its images)")
        d = run_dirs(root, run)
        ns = int(s.meta["timestamp_ns"])
        ts, lts = stamp(ns), stamp(ns + LIDAR_DELAY_NS)
        _save_image(d["cam"] / f"{ts}.jpg", cam.image, quality=95)
        lidar_name = f"image{ts}_lidar{lts}.txt"
        write_points(d["lidar"] / lidar_name, s.points)
        d["lidar_label"].mkdir(parents=True, exist_ok=True)
        np.savetxt(d["lidar_label"] / lidar_name, C.to_label_space(s.labels, "uavscenes"), fmt="%d")
        _save_image(d["cam_label"] / f"{ts}.png", cam.semantics)
        recs = records.setdefault(run, [])
        recs.append(_pose_record(f"{ts}.jpg", cam.T_world_cam, cam.K, cam.width, cam.height))
        # image-less interpolated poses: the camera moved on between interval-5 frames
        heading = s.T_world_ego[:3, 0]
        for e in range(1, extra_poses + 1):
            frac = e / (extra_poses + 1)
            step = cam.T_world_cam.copy()
            step[:3, 3] += frac * heading  # about a metre along the flight direction per frame interval
            recs.append(_pose_record(f"{stamp(ns + int(frac * FRAME_DT * 1e9))}.jpg", step, cam.K, cam.width,
                                     cam.height))
        key = run.rstrip("0123456789")
        K, T = cam.K, s.T_cam_lidar
        calib[key] = {"camera_int": [float(K[0, 0]), float(K[1, 1]), float(K[0, 2]), float(K[1, 2])],
                      "camera_dist": [0.0, 0.0, 0.0, 0.0, 0.0],
                      "camera_ext_R": np.round(T[:3, :3], 12).tolist(), "camera_ext_t": np.round(T[:3, 3], 12).tolist()}
        if progress:
            progress()
    for run, recs in records.items():
        recs.sort(key=lambda r: r["OriginalImageName"])
        atomic_write_text(run_dirs(root, run)["run"] / "sampleinfos_interpolated.json", json.dumps(recs, indent=1))
    if calib:
        text = ("# Camera-LiDAR calibration (synthetic). camera_ext_R/t form T_cam_lidar (LiDAR -> camera).\n"
                f"calibration_results = {json.dumps(calib, indent=4, sort_keys=True)}\n")
        atomic_write_text(root / "calibration_results.py", text)
    return root


def token_of(frame_id: str) -> str:
    """A nuScenes-like 32-hex token, stable per frame id."""
    return hashlib.md5(frame_id.encode()).hexdigest()


def occ3d_scene_name(s: SyntheticSample) -> str:
    split = s.meta["split"]
    return f"scene-{split}-{s.scene_name}"


def write_occ3d(samples: Iterable[SyntheticSample], root: str | Path, spec: GridSpec, *, split: str = "train",
                progress: Progress | None = None) -> Path:
    """Write samples as nuScenes/Occ3D files with ground truth on ``spec`` in each frame's ego frame."""
    root = Path(root)
    infos: dict[str, list[dict]] = {}
    for s in samples:
        token, scene = token_of(s.frame_id), occ3d_scene_name(s)
        rel = Path("samples") / "LIDAR_TOP" / f"{token}.pcd.bin"
        write_points(root / rel, s.points, {"intensity": s.intensity, "ring": s.ring})
        sem, m_lidar, m_cam, T_ego_lidar = target_grids(s, spec, "lidar")
        write_occ3d_labels(root / "gts" / scene / token / "labels.npz", sem, m_lidar, m_cam)
        infos.setdefault(scene, []).append({
            "token": token, "lidar_path": rel.as_posix(), "T_ego_lidar": T_ego_lidar, "T_world_ego": s.T_world_ego,
            "timestamp": int(s.meta["timestamp_ns"]) // 1000, "scene_name": scene, "frame_id": s.frame_id})
        if progress:
            progress()
    payload = {"infos": infos, "metadata": {"version": "synthetic", "grid": spec.model_dump(mode="json")}}
    atomic_write(root / f"occ_infos_{split}.pkl", lambda p: p.write_bytes(pickle.dumps(payload, protocol=4)))
    return root
