"""UAVScenes source: camera + Livox LiDAR flights over Macau/Hong Kong, with 26-id point labels and 6-DoF poses.

On-disk layout: docs/ARCHITECTURE.md ("UAVScenes on-disk format"); discovery and joins:
:mod:`occkit.sources.uavscenes_index`; palette, 19-class remap and calibration parsing:
:mod:`occkit.sources.uavscenes_meta`.

Poses: the json gives ``T_world_cam`` (camera -> world); ``calibration_results.py`` gives ``T_cam_lidar``;
the frame's sensor pose is ``T_world_lidar = T_world_cam @ T_cam_lidar`` and ``points`` stay in the LiDAR
frame.

Usage::

    from occkit.sources.uavscenes import UAVScenesSourceConfig
    src = UAVScenesSourceConfig(root="data/UAVScenes", scenes=["AMtown"], accumulate=5).build("train")
    frame = src[0]  # points (LiDAR frame), T_world_sensor, point_labels (26 ids), cameras[0], target_points

    occkit verify --data data/UAVScenes --scenes AMtown --samples 200   # check the grids before training

Splits (run names such as ``AMtown01``): ``val_runs`` defaults to the last run of each scene that has two
or more runs (if that is none at all, the last run of each scene, which then overlaps train), ``test_runs``
to none, and ``train_runs`` to every run not in val or test.
"""

from __future__ import annotations

import hashlib
import json
from functools import cached_property
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from occkit.errors import ConfigError, InputFileError
from occkit.frame import CameraView, Frame
from occkit.geometry.transforms import apply_transform, check_rigid, invert_transform, make_transform
from occkit.io.images import read_pixels, read_rgb
from occkit.sources.base import SPLITS
from occkit.sources.uavscenes_index import UAVRun, UAVSample, discover_runs, index_run
from occkit.sources.uavscenes_meta import (
    IGNORE_INDEX,
    LABEL_NAMES,
    NAMES_19,
    PALETTE,
    PALETTE_19,
    REMAP_19,
    calibration_transform,
    read_calibration,
    remap_to_19,
    scene_of_run,
)

__all__ = ["IGNORE_INDEX", "LABEL_NAMES", "NAMES_19", "PALETTE", "PALETTE_19", "REMAP_19", "UAVScenesSource",
           "UAVScenesSourceConfig", "remap_to_19"]


class UAVScenesSourceConfig(BaseModel):
    """Where and how to read UAVScenes flights."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["uavscenes"] = "uavscenes"
    root: str = "data/uavscenes"
    scenes: list[str] = Field(default_factory=list, description="scene (AMtown) or run (AMtown01) names; [] = all")
    interval: Literal[1, 5] = 5
    train_runs: list[str] | None = None
    val_runs: list[str] | None = None
    test_runs: list[str] | None = None
    load_images: bool = False
    calibration_file: str | None = Field(None, description="default: calibration_results.py found under root")
    extrinsics: dict[str, list[list[float]]] = Field(
        default_factory=dict, description="T_cam_lidar 4x4 per scene or run; wins over the calibration file")
    accumulate: int = Field(1, ge=1, description="scans merged (world frame) into target_points, centred on each")
    on_missing_pose: Literal["error", "skip"] = "error"
    load_labels: bool = Field(True, description="read the per-point label files (off: point_labels=None)")
    remap_labels: bool = Field(False, description="point_labels in the 19-class remap (255 = ignore)")
    points_frame: Literal["lidar", "world"] = Field(
        "lidar", description="frame of the scan files; 'world' if your export already applied the poses")

    @field_validator("extrinsics")
    @classmethod
    def _rigid(cls, v: dict[str, list[list[float]]]) -> dict[str, list[list[float]]]:
        for key, T in v.items():
            check_rigid(np.asarray(T, dtype=np.float64), f"extrinsics[{key!r}] (T_cam_lidar)")
        return v

    def build(self, split: str = "train") -> UAVScenesSource:
        """Return the Source of Frames for split (train/val/test)."""
        if split not in SPLITS:
            raise ConfigError(f"data.source split: expected one of {SPLITS}, got {split!r}")
        runs = self.select_runs()
        names = split_runs(self, [r.name for r in runs])[split]
        return UAVScenesSource(self, [r for r in runs if r.name in names], split)

    def select_runs(self) -> list[UAVRun]:
        """Runs under root at this interval, filtered by ``scenes``."""
        runs = [r for r in discover_runs(self.root) if r.interval == self.interval]
        if not runs:
            raise InputFileError(self.root, f"no interval{self.interval} run found (expected folders "
                                            f"interval{self.interval}_<RUN>/ holding sampleinfos_interpolated.json)")
        if self.scenes:
            known = {r.name for r in runs} | {r.scene for r in runs}
            unknown = [s for s in self.scenes if s not in known]
            if unknown:
                raise ConfigError(f"data.source.scenes: {unknown} not found under {self.root}; "
                                  f"known scenes and runs: {sorted(known)}")
            runs = [r for r in runs if r.name in self.scenes or r.scene in self.scenes]
        return runs


def split_runs(cfg: UAVScenesSourceConfig, runs: list[str]) -> dict[str, list[str]]:
    """Run names per split (see the module docstring for the defaults)."""
    for field in ("train_runs", "val_runs", "test_runs"):
        unknown = [r for r in getattr(cfg, field) or [] if r not in runs]
        if unknown:
            raise ConfigError(f"data.source.{field}: runs {unknown} are not among the selected runs {runs}")
    by_scene: dict[str, list[str]] = {}
    for r in runs:
        by_scene.setdefault(scene_of_run(r), []).append(r)
    val = cfg.val_runs
    if val is None:
        last = {scene: sorted(rs)[-1] for scene, rs in by_scene.items()}
        val = [last[s] for s, rs in by_scene.items() if len(rs) > 1] or list(last.values())
    test = cfg.test_runs or []
    train = cfg.train_runs if cfg.train_runs is not None else [r for r in runs if r not in val and r not in test]
    if not train:
        train = list(runs)
    return {"train": list(train), "val": list(val), "test": list(test)}


class UAVScenesSource:
    """Frames of the selected runs; points are read from disk on ``__getitem__``."""

    def __init__(self, cfg: UAVScenesSourceConfig, runs: list[UAVRun], split: str = "train") -> None:
        from rich.progress import Progress

        self.cfg, self.runs, self.split = cfg, runs, split
        self.samples: list[UAVSample] = []
        self._run_slices: dict[str, tuple[int, int]] = {}
        with Progress(transient=True) as progress:
            for run in progress.track(runs, description=f"indexing UAVScenes {split}"):
                start = len(self.samples)
                self.samples += index_run(run, on_missing_pose=cfg.on_missing_pose)
                self._run_slices[run.name] = (start, len(self.samples))
        self._T_cam_lidar = {run.name: self._extrinsic(run) for run in runs}

    # ---- Source protocol --------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.samples)

    @cached_property
    def frame_ids(self) -> list[str]:
        return [f"{s.run.name}/{s.timestamp}" for s in self.samples]

    def __getitem__(self, index: int) -> Frame:
        if not -len(self) <= index < len(self):
            raise IndexError(f"UAVScenes {self.split} has {len(self)} frames, asked for {index}")
        index %= len(self)
        s = self.samples[index]
        points = self._points(index)
        labels = self._labels(s, len(points))
        T_world_lidar = self.T_world_lidar(index)
        return Frame(
            frame_id=self.frame_ids[index], points=points, T_world_sensor=T_world_lidar, point_labels=labels,
            cameras=[self._camera(s)], target_points=self._accumulated(index, points, T_world_lidar),
            meta={"scene": s.run.scene, "run": s.run.name, "timestamp": s.timestamp, "interval": s.run.interval,
                  "lidar_path": str(s.lidar_path), "dataset": "uavscenes"},
        )

    def fingerprint(self) -> str:
        """sha256 of settings, split and every file a frame reads (path, size, mtime)."""
        h = hashlib.sha256()
        h.update(self.cfg.model_dump_json().encode())
        h.update(self.split.encode())
        files = {r.json_path for r in self.runs}
        if self.cfg.calibration_file or not self.cfg.extrinsics:
            files.add(self._calibration_path())
        for s in self.samples:
            files.update(p for p in (s.lidar_path, s.label_path, s.image_path if self.cfg.load_images else None)
                         if p is not None)
        for path in sorted(files):
            st = path.stat()
            h.update(f"{path}|{st.st_size}|{st.st_mtime_ns}\n".encode())
        return h.hexdigest()

    # ---- pieces -----------------------------------------------------------------------------------
    def T_world_lidar(self, index: int) -> np.ndarray:
        """Pose of sample ``index``'s LiDAR: T_world_cam (json) @ T_cam_lidar (calibration)."""
        s = self.samples[index]
        return s.T_world_cam @ self._T_cam_lidar[s.run.name]

    def _calibration_path(self) -> Path:
        if self.cfg.calibration_file:
            return Path(self.cfg.calibration_file)
        root = Path(self.cfg.root)
        found = sorted(root.glob("calibration_results.py")) or sorted(root.glob("*/calibration_results.py"))
        if not found:
            raise InputFileError(root, "no calibration_results.py under the root; set calibration_file or "
                                       "extrinsics (T_cam_lidar per scene) in the config")
        return found[0]

    @cached_property
    def _calibration(self) -> dict[str, dict]:
        return read_calibration(self._calibration_path())

    def _extrinsic(self, run: UAVRun) -> np.ndarray:
        for key in (run.name, run.scene):
            if key in self.cfg.extrinsics:
                return np.asarray(self.cfg.extrinsics[key], dtype=np.float64)
        return calibration_transform(self._calibration, run.name, self._calibration_path())

    def _points(self, index: int) -> np.ndarray:
        """Scan ``index`` in its LiDAR frame (moved there from the world when ``points_frame='world'``)."""
        from occkit.io.points import read_points

        pc = read_points(self.samples[index].lidar_path)
        if self.cfg.points_frame == "world":
            T_lidar_world = invert_transform(self.T_world_lidar(index))
            return apply_transform(T_lidar_world @ make_transform(translation=pc.origin), pc.xyz).astype(np.float32)
        return pc.xyz if not np.any(pc.origin) else pc.absolute_xyz().astype(np.float32)

    def _labels(self, s: UAVSample, n: int) -> np.ndarray | None:
        if s.label_path is None or not self.cfg.load_labels:
            return None
        from occkit.io.points import read_labels_txt

        labels = read_labels_txt(s.label_path, num_points=n)
        return remap_to_19(labels) if self.cfg.remap_labels else labels

    def _camera(self, s: UAVSample) -> CameraView:
        image = semantics = None
        if self.cfg.load_images:
            if s.image_path is None:
                raise InputFileError(s.run.dir, f"image {s.timestamp}.jpg not found but load_images=True")
            image = read_rgb(s.image_path)
            if image.shape[:2] != (s.height, s.width):
                raise InputFileError(s.image_path, f"is {image.shape[1]}x{image.shape[0]} but its record in "
                                                   f"{s.run.json_path} says Width x Height = {s.width}x{s.height} "
                                                   "(K would not match the pixels)")
            if s.cam_label_path is not None:
                semantics = read_pixels(s.cam_label_path, "camera label image", np.uint8)
        return CameraView(name="cam", K=s.K, T_world_cam=s.T_world_cam, width=s.width, height=s.height,
                          image=image, semantics=semantics,
                          image_path=None if s.image_path is None else str(s.image_path), distortion=s.distortion)

    def _accumulated(self, index: int, points: np.ndarray, T_world_lidar: np.ndarray) -> np.ndarray:
        """``accumulate`` scans of the same run around ``index``, moved into this scan's LiDAR frame."""
        n = self.cfg.accumulate
        if n == 1:
            return points
        lo, hi = self._run_slices[self.samples[index].run.name]
        start = min(max(lo, index - (n - 1) // 2), max(lo, hi - n))
        T_lidar_world = invert_transform(T_world_lidar)
        parts = []
        for j in range(start, min(hi, start + n)):
            pts = points if j == index else self._points(j)
            parts.append(pts if j == index else apply_transform(T_lidar_world @ self.T_world_lidar(j), pts))
        return np.concatenate(parts).astype(np.float32)

    def describe(self) -> str:
        """One line for logs: runs and frame count."""
        return f"UAVScenes interval{self.cfg.interval} {self.split}: {len(self)} frames from " + \
            json.dumps([r.name for r in self.runs])
