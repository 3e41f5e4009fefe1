"""Generic folder source: your own scans, poses and (optionally) images and depth maps.

Layout and file formats: docs/folder_layout.md. A root holding ``scans/`` or ``depth/`` is one sequence;
otherwise each sub-folder holding one is a sequence. Frames are named by file stem; frame ids are
``<sequence>/<stem>``. Without ``scans/``, the unprojected depth maps are the frame's points.

Splits: ``train_sequences`` / ``val_sequences`` / ``test_sequences`` (sequence names) when given; every
other sequence is split in time: its last ``val_fraction`` of frames go to val, the rest to train (a
contiguous tail, so neighbouring near-duplicate frames do not leak across the split).
"""

from __future__ import annotations

import hashlib
import math
import warnings
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from occkit.errors import ConfigError, InputFileError
from occkit.frame import CameraView, Frame
from occkit.geometry.transforms import apply_transform, invert_transform, make_transform
from occkit.io.points import SUFFIXES
from occkit.sources.base import SPLITS
from occkit.sources.folder_files import POSE_FILES, read_camera_json, read_depth, read_kitti_poses, read_named_poses

SCAN_SUFFIXES = SUFFIXES
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
DEPTH_SUFFIXES = (".png", ".npy")
LABEL_SUFFIXES = (".txt", ".label")


class FolderSourceWarning(UserWarning):
    """Something optional is missing (no poses file: identity poses are used)."""


class FolderSourceConfig(BaseModel):
    """Where and how to read a folder of scans / depth maps with poses."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["folder"] = "folder"
    root: str = "data/folder"
    sequences: list[str] = Field(default_factory=list, description="sub-folders to use; [] = all")
    poses: str | None = Field(None, description="pose file name in each sequence (default: first of "
                                                 "poses.txt, poses.csv, poses.json)")
    columns: int | None = Field(None, description="columns of .bin/.txt scans when they cannot be inferred")
    load_images: bool = False
    load_depth: bool = True
    depth_png_scale: float = Field(0.001, gt=0, description="16-bit png depth unit in metres (mm -> 0.001)")
    max_depth: float | None = Field(None, gt=0, description="drop depth points farther than this (m)")
    accumulate: int = Field(1, ge=1, description="scans merged (world frame) into target_points, centred")
    train_sequences: list[str] | None = None
    val_sequences: list[str] | None = None
    test_sequences: list[str] | None = None
    val_fraction: float = Field(0.1, ge=0, lt=1)

    def build(self, split: str = "train") -> FolderSource:
        """Return the Source of Frames for split (train/val/test)."""
        if split not in SPLITS:
            raise ConfigError(f"data.source split: expected one of {SPLITS}, got {split!r}")
        seqs = [_index_sequence(d, self) for d in self.sequence_dirs()]
        return FolderSource(self, [(s, s.split_slice(self, split)) for s in seqs], split)

    def sequence_dirs(self) -> list[Path]:
        root = Path(self.root)
        if not root.is_dir():
            raise InputFileError(root, "folder source root not found")
        if _is_sequence(root):
            dirs = [root]
        else:
            dirs = sorted(d for d in root.iterdir() if d.is_dir() and _is_sequence(d))
        if not dirs:
            raise InputFileError(root, "no sequence found: expected scans/ or depth/ in the root or in its sub-folders "
                                       "(see docs/folder_layout.md)")
        if self.sequences:
            names = {d.name for d in dirs}
            unknown = [s for s in self.sequences if s not in names]
            if unknown:
                raise ConfigError(f"data.source.sequences: {unknown} not found under {root}; known: {sorted(names)}")
            dirs = [d for d in dirs if d.name in self.sequences]
        for field in ("train_sequences", "val_sequences", "test_sequences"):
            unknown = [s for s in getattr(self, field) or [] if s not in {d.name for d in dirs}]
            if unknown:
                raise ConfigError(f"data.source.{field}: {unknown} are not among the sequences "
                                  f"{[d.name for d in dirs]}")
        return dirs


def _is_sequence(d: Path) -> bool:
    return (d / "scans").is_dir() or (d / "depth").is_dir()


def _by_stem(folder: Path, suffixes: tuple[str, ...]) -> dict[str, Path]:
    if not folder.is_dir():
        return {}
    out: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        name = p.name.lower()
        if p.is_file() and name.endswith(suffixes):
            stem = p.name[: -len(".pcd.bin")] if name.endswith(".pcd.bin") else p.stem
            out.setdefault(stem, p)
    return out


@dataclass
class _Sequence:
    name: str
    dir: Path
    stems: list[str]
    scans: dict[str, Path]
    depth: dict[str, Path]
    images: dict[str, Path]
    labels: dict[str, Path]
    poses: list[np.ndarray]
    pose_file: Path | None
    camera: dict | None
    camera_file: Path | None

    def split_slice(self, cfg: FolderSourceConfig, split: str) -> list[int]:
        """Indices of this sequence's frames in ``split``."""
        lists = {"train": cfg.train_sequences, "val": cfg.val_sequences, "test": cfg.test_sequences}
        named = [s for s, names in lists.items() if names and self.name in names]
        if named:
            return list(range(len(self.stems))) if split in named else []
        n = len(self.stems)
        n_val = math.ceil(cfg.val_fraction * n) if cfg.val_fraction > 0 and n > 1 else 0
        if split == "train":
            return list(range(n - n_val))
        return list(range(n - n_val, n)) if split == "val" else []


def _index_sequence(d: Path, cfg: FolderSourceConfig) -> _Sequence:
    scans = _by_stem(d / "scans", SCAN_SUFFIXES)
    depth = _by_stem(d / "depth", DEPTH_SUFFIXES) if cfg.load_depth or not scans else {}
    stems = list(scans) if scans else list(depth)
    if not stems:
        raise InputFileError(d, f"no scans ({', '.join(SCAN_SUFFIXES)}) in scans/ and no depth maps in depth/")
    camera_file = d / "camera.json" if (d / "camera.json").is_file() else (
        d.parent / "camera.json" if (d.parent / "camera.json").is_file() else None)
    if depth and camera_file is None:
        raise InputFileError(d, "depth/ needs camera.json with K (and T_sensor_cam) beside it or in the root")
    if cfg.load_images and camera_file is None and (d / "images").is_dir():
        raise InputFileError(d, "load_images=True needs camera.json with K (and T_sensor_cam) beside images/")
    pose_file, poses = _poses(d, stems, cfg)
    return _Sequence(name=d.name, dir=d, stems=stems, scans=scans, depth=depth,
                     images=_by_stem(d / "images", IMAGE_SUFFIXES), labels=_by_stem(d / "labels", LABEL_SUFFIXES),
                     poses=poses, pose_file=pose_file, camera=read_camera_json(camera_file) if camera_file else None,
                     camera_file=camera_file)


def _poses(d: Path, stems: list[str], cfg: FolderSourceConfig) -> tuple[Path | None, list[np.ndarray]]:
    names = [cfg.poses] if cfg.poses else list(POSE_FILES)
    path = next((d / n for n in names if (d / n).is_file()), None)
    if path is None:
        if cfg.poses:
            raise InputFileError(d / cfg.poses, "pose file not found (set by data.source.poses)")
        warnings.warn(f"{d}: no {'/'.join(POSE_FILES)}; every frame gets an identity pose (points taken to be in "
                      "a gravity-aligned frame already)", FolderSourceWarning, stacklevel=3)
        return None, [np.eye(4)] * len(stems)
    if path.suffix.lower() == ".txt":
        poses = read_kitti_poses(path)
        if len(poses) != len(stems):
            raise InputFileError(path, f"has {len(poses)} poses but {d} has {len(stems)} frames; KITTI poses.txt "
                                       "needs one line per scan in sorted file-name order")
        return path, poses
    table = read_named_poses(path)
    missing = [s for s in stems if s not in table]
    if missing:
        raise InputFileError(path, f"no pose for {len(missing)} of {len(stems)} frames (first: {missing[0]!r}); "
                                   "expected one entry per scan stem")
    return path, [table[s] for s in stems]


class FolderSource:
    """Frames of the chosen sequences; files are read on ``__getitem__``."""

    def __init__(self, cfg: FolderSourceConfig, parts: list[tuple[_Sequence, list[int]]], split: str) -> None:
        self.cfg, self.split = cfg, split
        self._items = [(seq, i) for seq, idx in parts for i in idx]

    def __len__(self) -> int:
        return len(self._items)

    @cached_property
    def frame_ids(self) -> list[str]:
        return [f"{seq.name}/{seq.stems[i]}" for seq, i in self._items]

    def __getitem__(self, index: int) -> Frame:
        if not -len(self) <= index < len(self):
            raise IndexError(f"folder source {self.split} has {len(self)} frames, asked for {index}")
        seq, i = self._items[index]
        stem = seq.stems[i]
        T = seq.poses[i]
        scan = self._scan(seq, i)
        points, fields = (scan[0], scan[1]) if scan else (None, {})
        if scan is not None and np.any(scan[2]):
            T = T @ make_transform(translation=scan[2])  # georeferenced file: origin folded into the pose
        camera, pseudo = self._camera(seq, stem, T)
        if points is None:
            points = pseudo
        labels = self._labels(seq, stem, len(points))
        target = points if self.cfg.accumulate == 1 or not seq.scans else self._accumulated(seq, i, points, T)
        return Frame(frame_id=self.frame_ids[index], points=points, T_world_sensor=T, point_fields=fields,
                     point_labels=labels, cameras=[camera] if camera else [], pseudo_points=pseudo,
                     target_points=target,
                     meta={"scene": seq.name, "sequence": seq.name, "name": stem, "dataset": "folder",
                           "points_from": "scan" if seq.scans else "depth",
                           "scan_path": str(seq.scans[stem]) if seq.scans else None,
                           "origin": None if scan is None else scan[2].tolist()})

    def fingerprint(self) -> str:
        """sha256 of settings, split and every file a frame reads (path, size, mtime)."""
        h = hashlib.sha256()
        h.update(self.cfg.model_dump_json().encode())
        h.update(self.split.encode())
        files: set[Path] = set()
        for seq, i in self._items:
            stem = seq.stems[i]
            files.update(p for p in (seq.scans.get(stem), seq.depth.get(stem), seq.labels.get(stem),
                                     seq.images.get(stem) if self.cfg.load_images else None,
                                     seq.pose_file, seq.camera_file) if p is not None)
        for path in sorted(files):
            st = path.stat()
            h.update(f"{path}|{st.st_size}|{st.st_mtime_ns}\n".encode())
        return h.hexdigest()

    # ---- pieces -----------------------------------------------------------------------------------
    def _scan(self, seq: _Sequence, i: int) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray] | None:
        """(float32 xyz relative to origin, fields, float64 origin) of scan i; None without scans/."""
        if not seq.scans:
            return None
        from occkit.io.points import read_points

        path = seq.scans[seq.stems[i]]
        cols = self.cfg.columns if path.suffix.lower() in (".bin", ".txt", ".npy", ".npz") else None
        pc = read_points(path, columns=cols)
        return pc.xyz, pc.fields, pc.origin

    def _labels(self, seq: _Sequence, stem: str, n: int) -> np.ndarray | None:
        path = seq.labels.get(stem)
        if path is None or not seq.scans:
            return None
        if path.suffix.lower() == ".label":  # SemanticKITTI: uint32, semantic id in the low 16 bits
            raw = np.fromfile(path, dtype=np.uint32)
            if len(raw) != n:
                raise InputFileError(path, f"has {len(raw)} labels but the scan has {n} points")
            return (raw & 0xFFFF).astype(np.int64)
        from occkit.io.points import read_labels_txt

        return read_labels_txt(path, num_points=n)

    def _camera(self, seq: _Sequence, stem: str, T_world_sensor: np.ndarray) -> tuple[CameraView | None,
                                                                                      np.ndarray | None]:
        cam = seq.camera
        if cam is None:
            return None, None
        image = depth = pseudo = None
        img_path = seq.images.get(stem)
        if self.cfg.load_images and img_path is not None:
            from occkit.io.images import read_rgb

            image = read_rgb(img_path)
        if stem in seq.depth:
            from occkit.depth.unproject import unproject_depth

            depth = read_depth(seq.depth[stem], self.cfg.depth_png_scale)
            pts_cam = unproject_depth(depth, cam["K"], max_range=self.cfg.max_depth)
            pseudo = apply_transform(cam["T_sensor_cam"], pts_cam).astype(np.float32)
        shape = depth.shape if depth is not None else image.shape[:2] if image is not None else None
        height, width = shape if shape is not None else (cam["height"], cam["width"])
        if width is None or height is None:
            raise InputFileError(seq.camera_file, "needs 'width' and 'height' when no image or depth map is loaded")
        view = CameraView(name="cam", K=cam["K"], T_world_cam=T_world_sensor @ cam["T_sensor_cam"], width=int(width),
                          height=int(height), image=image, depth=depth, distortion=cam["distortion"],
                          image_path=None if img_path is None else str(img_path))
        return view, pseudo

    def _accumulated(self, seq: _Sequence, i: int, points: np.ndarray, T_world_sensor: np.ndarray) -> np.ndarray:
        n = self.cfg.accumulate
        start = min(max(0, i - (n - 1) // 2), max(0, len(seq.stems) - n))
        T_sensor_world = invert_transform(T_world_sensor)
        parts = []
        for j in range(start, min(len(seq.stems), start + n)):
            if j == i:
                parts.append(points)
                continue
            xyz, _, origin = self._scan(seq, j)
            parts.append(apply_transform(T_sensor_world @ seq.poses[j] @ make_transform(translation=origin), xyz))
        return np.concatenate(parts).astype(np.float32)
