"""SemanticKITTI source: Velodyne scans, point labels and the semantic-scene-completion voxel grids.

On-disk layout (the official one)::

    <root>/sequences/<seq>/velodyne/<frame>.bin     float32 x y z remission, Velodyne frame
    <root>/sequences/<seq>/labels/<frame>.label     uint32 per point (lower 16 bits semantic)
    <root>/sequences/<seq>/voxels/<frame>.label     uint16 raw ids per voxel: the *completed* scene (target)
    <root>/sequences/<seq>/voxels/<frame>.invalid   bit-packed: voxels never observed (ignored in training)
    <root>/sequences/<seq>/voxels/<frame>.bin       bit-packed: the single scan voxelized (an input, not a target)
    <root>/sequences/<seq>/voxels/<frame>.occluded  bit-packed
    <root>/sequences/<seq>/poses.txt, calib.txt     camera-0 poses (3x4 per line); ``Tr`` = Velodyne -> camera 0
    <root>/sequences/<seq>/image_2/<frame>.png      left colour camera (optional; ``P2`` = K [I | t] in calib.txt)

The SSC grid lives in the Velodyne frame (x forward 0..51.2 m), so ``meta["T_grid_sensor"]`` is the identity.
``Frame.target`` holds the 20 training classes (``LEARNING_MAP``) with ``free_label=0`` and
``mask_lidar = ~invalid``. Poses follow semantic-kitti-api: ``T_world_velo = Tr^-1 @ pose @ Tr`` (world = the
first scan's Velodyne frame, z up).
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from occkit.errors import ConfigError, InputFileError
from occkit.frame import CameraView, Frame, OccupancyTarget
from occkit.geometry.grid import GridSpec
from occkit.geometry.transforms import check_rigid, invert_transform
from occkit.io.images import size_and_rgb
from occkit.io.points import read_points
from occkit.io.semantickitti import (
    read_calib,
    read_point_labels,
    read_poses,
    read_voxel_bits,
    read_voxel_labels,
    remap_labels,
)
from occkit.sources.base import SPLITS

DEFAULT_SEQUENCES: dict[str, list[str]] = {
    "train": ["00", "01", "02", "03", "04", "05", "06", "07", "09", "10"],
    "val": ["08"],
    "test": [f"{i:02d}" for i in range(11, 22)],
}
FREE_LABEL = 0


@dataclass(frozen=True)
class KITTIEntry:
    """Paths and pose of one scan; files are read on access."""

    sequence: str
    frame: str
    scan: Path
    point_labels: Path | None
    voxel_stem: Path | None
    T_world_velo: np.ndarray
    image: Path | None = None
    K: np.ndarray | None = None
    T_velo_cam: np.ndarray | None = None


class SemanticKITTISource:
    """Indexable SemanticKITTI frames."""

    def __init__(self, entries: list[KITTIEntry], spec: GridSpec, settings: dict[str, Any],
                 load_input_voxels: bool = False, load_images: bool = False) -> None:
        self.entries = entries
        self.spec = spec
        self._settings = settings
        self.load_input_voxels = load_input_voxels
        self.load_images = load_images

    def _camera(self, e: KITTIEntry) -> CameraView:
        (width, height), image = size_and_rgb(e.image, self.load_images)
        return CameraView(name=e.image.parent.name, K=e.K, T_world_cam=e.T_world_velo @ e.T_velo_cam, width=width,
                          height=height, image=image, image_path=str(e.image))

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def frame_ids(self) -> list[str]:
        return [f"{e.sequence}/{e.frame}" for e in self.entries]

    def _target(self, stem: Path) -> OccupancyTarget:
        shape = self.spec.shape
        semantics = remap_labels(read_voxel_labels(stem.with_name(stem.name + ".label"), shape))
        invalid_path = stem.with_name(stem.name + ".invalid")
        mask = ~read_voxel_bits(invalid_path, shape) if invalid_path.is_file() else None
        return OccupancyTarget(self.spec, semantics, FREE_LABEL, mask_lidar=mask)

    def __getitem__(self, index: int) -> Frame:
        e = self.entries[index]
        cloud = read_points(e.scan, columns=["x", "y", "z", "intensity"])
        labels = None
        if e.point_labels is not None:
            raw, _ = read_point_labels(e.point_labels, num_points=len(cloud))
            labels = remap_labels(raw)
        meta: dict[str, Any] = {"sequence": e.sequence, "frame": e.frame, "scan_path": str(e.scan),
                                "T_grid_sensor": np.eye(4), "grid_frame": "sensor"}
        target = None
        if e.voxel_stem is not None:
            if e.voxel_stem.with_name(e.voxel_stem.name + ".label").is_file():
                target = self._target(e.voxel_stem)
            if self.load_input_voxels:
                meta["input_voxels"] = read_voxel_bits(e.voxel_stem.with_name(e.voxel_stem.name + ".bin"),
                                                       self.spec.shape)
        cameras = [self._camera(e)] if e.image is not None else []
        return Frame(frame_id=f"{e.sequence}/{e.frame}", points=cloud.xyz, T_world_sensor=e.T_world_velo,
                     point_fields=cloud.fields, point_labels=labels, cameras=cameras, target=target, meta=meta)

    def fingerprint(self) -> str:
        """Hash of the settings and of every file's name, size and mtime."""
        h = hashlib.sha256(json.dumps(self._settings, sort_keys=True, default=str).encode())
        for e in self.entries:
            paths = [e.scan, e.point_labels]
            if e.voxel_stem is not None:
                paths += [e.voxel_stem.with_name(e.voxel_stem.name + s) for s in (".label", ".invalid")]
            for p in paths:
                if p is not None and p.is_file():
                    st = p.stat()
                    h.update(f"{p}|{st.st_size}|{st.st_mtime_ns}\n".encode())
            h.update(np.ascontiguousarray(e.T_world_velo).tobytes())
        return h.hexdigest()[:16]


class SemanticKITTISourceConfig(BaseModel):
    """Where and how to read SemanticKITTI frames.

    ``frames="voxels"`` (semantic scene completion) keeps the scans that have ``voxels/<frame>.label`` or
    ``.bin`` (every 5th; the test split ships no labels, so its frames have no target); ``"all"`` keeps every
    scan, with a target only where a voxel label exists.
    """

    model_config = ConfigDict(extra="forbid")
    kind: Literal["semantickitti"] = "semantickitti"
    root: Path = Field(description="dataset root holding sequences/ (the 'dataset' folder of the download)")
    sequences: dict[str, list[str]] = Field(default_factory=lambda: {k: list(v) for k, v in DEFAULT_SEQUENCES.items()},
                                            description="sequence names per split; default is the official split")
    frames: Literal["voxels", "all"] = "voxels"
    grid: str | GridSpec = Field("semantickitti", description="GridSpec preset name or a GridSpec")
    load_input_voxels: bool = Field(False, description="also read voxels/<frame>.bin into meta['input_voxels']")
    camera: Literal["image_2", "image_3"] | None = Field(
        None, description="attach this colour camera (K and pose from calib.txt P2/P3 and Tr) as a CameraView")
    load_images: bool = Field(False, description="also decode the camera image into CameraView.image")

    @field_validator("sequences", mode="before")
    @classmethod
    def _pad(cls, v: Any) -> Any:
        """Accept 8 or "8" for sequence "08", as the folder names are zero-padded."""
        if isinstance(v, dict):
            return {k: [f"{int(s):02d}" if str(s).isdigit() else str(s) for s in seqs] for k, seqs in v.items()}
        return v

    @field_validator("sequences")
    @classmethod
    def _known_splits(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        if set(v) - set(SPLITS):
            raise ValueError(f"sequences keys must be among {SPLITS}, got {sorted(v)}")
        return v

    def grid_spec(self) -> GridSpec:
        if isinstance(self.grid, GridSpec):
            return self.grid
        try:
            return GridSpec.preset(self.grid)
        except KeyError as exc:
            raise ConfigError(f"data.source.grid: {exc.args[0]}") from exc

    def build(self, split: str = "train") -> SemanticKITTISource:
        """Return a Source of Frames for split (train/val/test)."""
        if split not in SPLITS:
            raise ConfigError(f"split must be one of {SPLITS}, got {split!r}")
        seq_root = self.root / "sequences"
        if not seq_root.is_dir():
            raise InputFileError(seq_root, "SemanticKITTI sequences/ folder not found (data.source.root should be "
                                           "the folder that contains sequences/)")
        wanted = self.sequences.get(split, [])
        present = [s for s in wanted if (seq_root / s).is_dir()]
        if wanted and not present:
            raise InputFileError(seq_root, f"none of the {split} sequences {wanted} exist "
                                           "(set data.source.sequences)")
        entries = [e for seq in present for e in self._sequence_entries(seq_root / seq)]
        settings = {"kind": self.kind, "split": split, "frames": self.frames, "grid": self.grid_spec().describe(),
                    "sequences": present, "camera": self.camera}
        return SemanticKITTISource(entries, self.grid_spec(), settings, self.load_input_voxels, self.load_images)

    def _calib(self, seq_dir: Path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """(Tr = T_cam0_velo, all calib matrices); Tr is identity (with a warning) when calib.txt is absent."""
        calib_path = seq_dir / "calib.txt"
        if not calib_path.is_file():
            if self.camera is not None:
                raise InputFileError(calib_path, f"calibration needed for data.source.camera={self.camera!r}")
            warnings.warn(f"{calib_path} not found: Tr taken as identity for sequence {seq_dir.name}", stacklevel=3)
            return np.eye(4), {}
        calib = read_calib(calib_path)
        if "Tr" not in calib:
            raise InputFileError(calib_path, f"no 'Tr' (Velodyne -> camera 0) line; found {sorted(calib)}")
        return check_rigid(calib["Tr"], f"{calib_path}: Tr"), calib

    def _camera_model(self, seq_dir: Path, Tr: np.ndarray, calib: dict[str, np.ndarray]) -> tuple[np.ndarray,
                                                                                                    np.ndarray]:
        """(K, T_velo_cam) of the chosen camera: P = K [I | t] in rectified camera 0 coordinates."""
        key = "P" + self.camera[-1]  # image_2 -> P2
        if key not in calib:
            raise InputFileError(seq_dir / "calib.txt", f"no {key!r} line for data.source.camera={self.camera!r}")
        P = calib[key]
        K = P[:, :3].copy()
        T_cam_cam0 = np.eye(4)
        T_cam_cam0[:3, 3] = np.linalg.solve(K, P[:, 3])
        return K, invert_transform(Tr) @ invert_transform(T_cam_cam0)

    def _sequence_poses(self, seq_dir: Path, n_scans: int, Tr: np.ndarray) -> np.ndarray:
        poses_path = seq_dir / "poses.txt"
        if not poses_path.is_file():
            warnings.warn(f"{poses_path} not found: identity poses for sequence {seq_dir.name}", stacklevel=3)
            return np.tile(np.eye(4), (n_scans, 1, 1))
        poses = read_poses(poses_path)
        if len(poses) < n_scans:
            raise InputFileError(poses_path, f"{len(poses)} poses for {n_scans} scans in {seq_dir / 'velodyne'}")
        for i, p in enumerate(poses):
            check_rigid(p, f"{poses_path}: line {i + 1}")
        return invert_transform(Tr) @ poses @ Tr

    def _sequence_entries(self, seq_dir: Path) -> list[KITTIEntry]:
        velo = seq_dir / "velodyne"
        if not velo.is_dir():
            raise InputFileError(velo, "velodyne/ scan folder not found")
        scans = sorted(velo.glob("*.bin"))
        Tr, calib = self._calib(seq_dir)
        poses = self._sequence_poses(seq_dir, len(scans), Tr)
        K, T_velo_cam = self._camera_model(seq_dir, Tr, calib) if self.camera is not None else (None, None)
        entries = []
        for scan in scans:
            frame = scan.stem
            if not frame.isdigit():
                raise InputFileError(scan, "scan names must be frame numbers like 000123.bin")
            stem = seq_dir / "voxels" / frame
            # the SSC frames: a completed .label (train/val) or at least the voxelized scan .bin (test split)
            has_voxels = any(stem.with_name(frame + s).is_file() for s in (".label", ".bin"))
            if self.frames == "voxels" and not has_voxels:
                continue
            labels = seq_dir / "labels" / f"{frame}.label"
            idx = int(frame)
            if idx >= len(poses):
                raise InputFileError(seq_dir / "poses.txt", f"no pose for scan {frame} ({len(poses)} poses)")
            image = None
            if self.camera is not None:
                image = seq_dir / self.camera / f"{frame}.png"
                if not image.is_file():
                    raise InputFileError(image, f"camera image for scan {scan.name} not found")
            entries.append(KITTIEntry(seq_dir.name, frame, scan, labels if labels.is_file() else None,
                                      stem if has_voxels else None, poses[idx], image, K, T_velo_cam))
        return entries
