"""Find UAVScenes runs on disk and join their files into samples (no point data is read here).

A run is a folder holding ``sampleinfos_interpolated.json``; it may sit under the doubled official wrapper
(``interval5_CAM_LIDAR/interval5_CAM_LIDAR/interval5_AMtown01``) or directly under the root. Samples are
keyed by the image timestamp string ``<ts>`` of ``interval5_CAM/<ts>.jpg``; the LiDAR scan is the file
``interval5_LIDAR/image<ts>_lidar<lts>.txt``, its labels the same basename in the LiDAR label tree, and
the pose the json record whose ``OriginalImageName`` is ``<ts>.jpg`` (the json may hold more records).
"""

from __future__ import annotations

import json
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from occkit.errors import InputFileError
from occkit.geometry.transforms import check_rigid
from occkit.sources.uavscenes_meta import scene_of_run

SAMPLEINFO_NAME = "sampleinfos_interpolated.json"
_RUN_DIR = re.compile(r"^interval(\d+)_(.+)$")
_LIDAR_NAME = re.compile(r"^image(?P<ts>.+?)_lidar(?P<lts>.+)\.txt$")
_BULK_DIR = re.compile(r"^interval\d+_(CAM|LIDAR)$")  # thousands of files each: never walked into

OnMissing = Literal["error", "skip"]


class UAVScenesWarning(UserWarning):
    """Samples were skipped while indexing a run (missing LiDAR file or pose entry)."""


@dataclass(frozen=True)
class UAVRun:
    """One flight: ``name`` like AMtown01, ``scene`` like AMtown, ``interval`` 1 or 5."""

    name: str
    scene: str
    interval: int
    dir: Path
    json_path: Path
    lidar_label_dir: Path | None
    cam_label_dir: Path | None


@dataclass(frozen=True)
class UAVSample:
    """The joined files and the camera record of one image timestamp."""

    run: UAVRun
    timestamp: str
    lidar_path: Path
    image_path: Path | None
    label_path: Path | None
    cam_label_path: Path | None
    T_world_cam: np.ndarray
    K: np.ndarray
    distortion: np.ndarray | None
    width: int
    height: int


def discover_runs(root: str | Path) -> list[UAVRun]:
    """Every run under ``root`` (label trees and the big CAM/LIDAR folders are not walked)."""
    root = Path(root)
    if not root.is_dir():
        raise InputFileError(root, "UAVScenes root folder not found")
    runs: dict[tuple[int, str], UAVRun] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if "_label" not in d.lower() and not _BULK_DIR.match(d))
        if SAMPLEINFO_NAME not in filenames:
            continue
        run = _make_run(root, Path(dirpath))
        key = (run.interval, run.name)
        if key in runs:
            raise InputFileError(run.dir, f"run {run.name} (interval {run.interval}) also found at {runs[key].dir}; "
                                          "keep one copy or point root at one of them")
        runs[key] = run
    return sorted(runs.values(), key=lambda r: (r.scene, r.name, r.interval))


def _make_run(root: Path, run_dir: Path) -> UAVRun:
    m = _RUN_DIR.match(run_dir.name)
    if m:
        interval, name = int(m.group(1)), m.group(2)
    else:  # a renamed folder: take the interval from its CAM/LIDAR subfolders
        name = run_dir.name
        found = [int(mm.group(1)) for d in run_dir.iterdir() if (mm := re.match(r"^interval(\d+)_LIDAR$", d.name))]
        if not found:
            raise InputFileError(run_dir, "holds sampleinfos_interpolated.json but no interval<N>_LIDAR folder and "
                                          "its name is not interval<N>_<RUN>")
        interval = found[0]
    return UAVRun(name=name, scene=scene_of_run(name), interval=interval, dir=run_dir,
                  json_path=run_dir / SAMPLEINFO_NAME,
                  lidar_label_dir=_label_dir(root, run_dir, interval, "LIDAR"),
                  cam_label_dir=_label_dir(root, run_dir, interval, "CAM"))


def _label_dir(root: Path, run_dir: Path, interval: int, kind: str) -> Path | None:
    """``interval<N>_<kind>_label_id`` of this run, in the doubled, single or in-run label layout."""
    tree, leaf = f"interval{interval}_{kind}_label", f"interval{interval}_{kind}_label_id"
    candidates = [root / tree / tree / run_dir.name / leaf, root / tree / run_dir.name / leaf, run_dir / leaf]
    for base in {root.parent, run_dir.parent, run_dir.parent.parent}:
        candidates += [base / tree / tree / run_dir.name / leaf, base / tree / run_dir.name / leaf]
    return next((c for c in candidates if c.is_dir()), None)


def _sub(run: UAVRun, kind: str) -> Path:
    return run.dir / f"interval{run.interval}_{kind}"


def read_sampleinfos(path: Path) -> dict[str, dict]:
    """json records keyed by OriginalImageName (``<ts>.jpg``)."""
    try:
        records = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InputFileError(path, f"not readable JSON: {exc}") from None
    if not isinstance(records, list):
        raise InputFileError(path, f"expected a JSON list of records, got {type(records).__name__}")
    out: dict[str, dict] = {}
    for i, rec in enumerate(records):
        if not isinstance(rec, dict) or "OriginalImageName" not in rec:
            raise InputFileError(path, f"record {i} has no 'OriginalImageName' (expected "
                                       "{'OriginalImageName', 'T4x4', 'P3x3', 'Width', 'Height', ...})")
        out[Path(str(rec["OriginalImageName"])).name] = rec
    return out


def index_run(run: UAVRun, *, on_missing_pose: OnMissing = "error") -> list[UAVSample]:
    """Join images, LiDAR scans, labels and poses of one run, sorted by timestamp."""
    lidar_dir = _sub(run, "LIDAR")
    if not lidar_dir.is_dir():
        raise InputFileError(lidar_dir, f"LiDAR folder of run {run.name} not found (expected image<ts>_lidar<lts>.txt)")
    lidar: dict[str, Path] = {}
    for entry in os.scandir(lidar_dir):
        m = _LIDAR_NAME.match(entry.name)
        if m:
            lidar[m.group("ts")] = Path(entry.path)
    cam_dir = _sub(run, "CAM")
    images = ({Path(e.name).stem: Path(e.path) for e in os.scandir(cam_dir) if e.name.lower().endswith(".jpg")}
              if cam_dir.is_dir() else None)
    stamps = sorted(images if images is not None else lidar, key=_ts_key)
    records = read_sampleinfos(run.json_path)

    samples: list[UAVSample] = []
    no_lidar: list[str] = []
    no_pose: list[str] = []
    for ts in stamps:
        if ts not in lidar:
            no_lidar.append(ts)
            continue
        rec = records.get(f"{ts}.jpg")
        if rec is None:
            if on_missing_pose == "error":
                raise InputFileError(run.json_path, f"no record with OriginalImageName '{ts}.jpg' (image of run "
                                                    f"{run.name}); set on_missing_pose='skip' to drop such samples")
            no_pose.append(ts)
            continue
        samples.append(_sample(run, ts, lidar[ts], images.get(ts) if images else None, rec))
    if no_lidar:
        warnings.warn(f"run {run.name}: skipped {len(no_lidar)} images without a LiDAR scan in {lidar_dir} "
                      f"(first: {no_lidar[0]}.jpg)", UAVScenesWarning, stacklevel=2)
    if no_pose:
        warnings.warn(f"run {run.name}: skipped {len(no_pose)} images without a pose record in {run.json_path} "
                      f"(first: {no_pose[0]}.jpg)", UAVScenesWarning, stacklevel=2)
    return samples


def _sample(run: UAVRun, ts: str, lidar_path: Path, image_path: Path | None, rec: dict) -> UAVSample:
    where = f"{run.json_path}: record '{ts}.jpg'"
    try:
        T = np.asarray(rec["T4x4"], dtype=np.float64)
        K = np.asarray(rec["P3x3"], dtype=np.float64).reshape(3, 3)
        width, height = int(rec["Width"]), int(rec["Height"])
    except (KeyError, ValueError, TypeError) as exc:
        raise InputFileError(run.json_path, f"record '{ts}.jpg': expected T4x4 (4x4), P3x3 (3x3), Width, Height: "
                                            f"{type(exc).__name__}: {exc}") from None
    T = check_rigid(T, f"{where}: T4x4 (T_world_cam)")  # PoseError naming the json file and the image
    dist = rec.get("Distortion")
    label = run.lidar_label_dir / lidar_path.name if run.lidar_label_dir else None
    cam_label = run.cam_label_dir / f"{ts}.png" if run.cam_label_dir else None
    return UAVSample(run=run, timestamp=ts, lidar_path=lidar_path, image_path=image_path,
                     label_path=label if label is not None and label.is_file() else None,
                     cam_label_path=cam_label if cam_label is not None and cam_label.is_file() else None,
                     T_world_cam=T, K=K, distortion=None if dist is None else np.asarray(dist, dtype=np.float64),
                     width=width, height=height)


def _ts_key(ts: str) -> tuple[float, str]:
    try:
        return float(ts), ts
    except ValueError:
        return float("inf"), ts
