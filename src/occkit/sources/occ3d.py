"""nuScenes / Occ3D / OccWorld source: LiDAR sweeps plus the Occ3D ground-truth grids.

On-disk layout (docs/ARCHITECTURE.md)::

    <root>/samples/LIDAR_TOP/<token>.pcd.bin      float32 x y z intensity ring, LiDAR frame
    <root>/gts/<scene>/<token>/labels.npz         Occ3D labels (semantics 17 = free, masks), ego frame
    <root>/occ_infos_<split>.pkl                  optional info pickle: OccWorld {"infos": {scene: [frames]}},
                                                  the occupancy challenge {"infos": [...]} or mmdet3d v1.x
                                                  {"data_list": [...]} (occkit.sources.occ3d_infos)

Info pickles are read with a restricted unpickler that refuses any pickle that would run code; a trusted
legacy file holding custom classes needs ``trust_pickle=True``.

Info records may use occkit's keys (``token``, ``lidar_path``, ``T_ego_lidar``, ``T_world_ego``, ``timestamp``)
or the mmdet3d/OccWorld ones (``lidar2ego_translation``/``lidar2ego_rotation``, ``ego2global_translation``/
``ego2global_rotation``; quaternions w, x, y, z). With ``cameras`` set, each record's ``cams`` dict gives one
``CameraView`` per camera: ``data_path``/``image_path``, ``cam_intrinsic``/``K`` and ``T_lidar_cam`` or mmdet3d's
``sensor2lidar_rotation`` (3x3) + ``sensor2lidar_translation`` (or ``sensor2ego_*``).

Without a pickle, frames pair ``gts/<scene>/<token>/`` with ``samples/LIDAR_TOP/<token>.pcd.bin`` (tokens sorted
by name) and poses are identity: the world is the ego frame, and ``T_world_sensor`` is the configured
``T_ego_lidar`` (identity unless given).

Frames carry points in the LiDAR frame, ``T_world_sensor = T_world_ego @ T_ego_lidar``, the Occ3D grid as
``Frame.target`` and ``meta["T_grid_sensor"] = T_ego_lidar``: the exact LiDAR -> grid transform, because Occ3D
grids live in the ego frame (origin at the rear axle on the ground), not under the LiDAR.
"""

from __future__ import annotations

import hashlib
import json
import math
import pickle
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from occkit.errors import ConfigError, InputFileError, PoseError
from occkit.frame import CameraView, Frame, OccupancyTarget
from occkit.geometry.grid import GridSpec
from occkit.geometry.transforms import apply_transform, check_rigid, invert_transform, make_transform
from occkit.io.images import size_and_rgb
from occkit.io.occ3d import read_occ3d_labels, write_occ3d_target
from occkit.io.points import read_points
from occkit.io.safe_pickle import safe_load_pickle
from occkit.sources.base import SPLITS
from occkit.utils.atomic import atomic_write, atomic_write_bytes

LIDAR_DIR = Path("samples") / "LIDAR_TOP"
GTS_DIR = Path("gts")
LIDAR_COLUMNS = ("x", "y", "z", "intensity", "ring")

# A typical nuScenes LIDAR_TOP -> ego calibration (translation [0.9437, 0, 1.8402] m, yaw about -90 deg); the
# exact one varies by log, so prefer the info pickle. Pass it as T_ego_lidar when no pickle is at hand.
NUSCENES_T_EGO_LIDAR = (
    (0.0, 1.0, 0.0, 0.943713),
    (-1.0, 0.0, 0.0, 0.0),
    (0.0, 0.0, 1.0, 1.84023),
    (0.0, 0.0, 0.0, 1.0),
)


def _quat_wxyz_to_matrix(q: Sequence[float]) -> np.ndarray:
    """Unit quaternion (w, x, y, z), the nuScenes order, -> 3x3 rotation."""
    w, x, y, z = np.asarray(q, dtype=np.float64) / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def _record_transform(rec: Mapping[str, Any], key: str, prefix: str, where: str) -> np.ndarray | None:
    """A 4x4 from ``rec[key]``, or from ``<prefix>_translation`` + ``<prefix>_rotation``; None when absent."""
    try:
        if key in rec:
            return check_rigid(np.asarray(rec[key], dtype=np.float64), f"{where}: {key}")
        if f"{prefix}_translation" in rec and f"{prefix}_rotation" in rec:
            R = _quat_wxyz_to_matrix(rec[f"{prefix}_rotation"])
            return check_rigid(make_transform(R, rec[f"{prefix}_translation"]), f"{where}: {prefix}")
    except (PoseError, ValueError, TypeError) as exc:
        raise PoseError(f"{where}: bad {key} / {prefix}_*: {exc}") from exc
    return None


@dataclass(frozen=True)
class Occ3DCamera:
    """One camera of a frame, from the info pickle's ``cams``."""

    name: str
    image_path: Path
    K: np.ndarray
    T_lidar_cam: np.ndarray


@dataclass(frozen=True)
class Occ3DEntry:
    """Everything needed to read one frame lazily."""

    scene: str
    token: str
    lidar_path: Path
    labels_path: Path
    T_ego_lidar: np.ndarray
    T_world_ego: np.ndarray
    timestamp: int | None = None
    cameras: tuple[Occ3DCamera, ...] = ()
    ray_origins: np.ndarray | None = None  # SparseOcc's RayIoU origins, this sensor's frame (infos with poses)


class Occ3DSource:
    """Indexable Occ3D frames; files are read on access, never up front."""

    def __init__(self, entries: list[Occ3DEntry], spec: GridSpec, settings: dict[str, Any],
                 load_images: bool = False) -> None:
        self.entries = entries
        self.spec = spec
        self._settings = settings
        self.load_images = load_images

    def _camera_view(self, cam: Occ3DCamera, T_world_lidar: np.ndarray) -> CameraView:
        (width, height), image = size_and_rgb(cam.image_path, self.load_images, f"camera {cam.name} image")
        return CameraView(name=cam.name, K=cam.K, T_world_cam=T_world_lidar @ cam.T_lidar_cam, width=width,
                          height=height, image=image, image_path=str(cam.image_path))

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def frame_ids(self) -> list[str]:
        return [f"{e.scene}/{e.token}" for e in self.entries]

    def __getitem__(self, index: int) -> Frame:
        e = self.entries[index]
        cloud = read_points(e.lidar_path, columns=list(LIDAR_COLUMNS))
        target = read_occ3d_labels(e.labels_path, self.spec)
        T_world_lidar = e.T_world_ego @ e.T_ego_lidar
        return Frame(
            frame_id=f"{e.scene}/{e.token}",
            points=cloud.xyz,
            T_world_sensor=T_world_lidar,
            point_fields=cloud.fields,
            cameras=[self._camera_view(c, T_world_lidar) for c in e.cameras],
            target=target,
            meta={"scene": e.scene, "token": e.token, "timestamp": e.timestamp, "T_ego_lidar": e.T_ego_lidar,
                  "ray_origins": e.ray_origins,
                  "T_world_ego": e.T_world_ego, "T_grid_sensor": e.T_ego_lidar, "grid_frame": "ego",
                  "lidar_path": str(e.lidar_path), "labels_path": str(e.labels_path)},
        )

    def fingerprint(self) -> str:
        """Hash of the settings and every file's name, size and mtime (a touched file invalidates caches)."""
        h = hashlib.sha256(json.dumps(self._settings, sort_keys=True, default=str).encode())
        for e in self.entries:
            for p in (e.lidar_path, e.labels_path):
                st = p.stat()
                h.update(f"{p}|{st.st_size}|{st.st_mtime_ns}\n".encode())
            h.update(np.ascontiguousarray(e.T_world_ego @ e.T_ego_lidar).tobytes())
        return h.hexdigest()[:16]


class Occ3DSourceConfig(BaseModel):
    """Where and how to read Occ3D-nuScenes frames (see the module docstring for the layout).

    Scenes per split come, in this order, from ``scenes[split]``, from the split's info pickle, or from a
    deterministic cut of the sorted ``gts/`` scene list: the last ``val_fraction`` of scenes (at least one) is
    ``val``, the rest ``train``; ``test`` reads the ``val`` scenes unless ``scenes["test"]`` is given.
    """

    model_config = ConfigDict(extra="forbid")
    kind: Literal["occ3d"] = "occ3d"
    root: Path = Field(description="dataset root holding samples/ and gts/")
    info_file: str | None = Field(
        None, description="info pickle, relative to root or absolute; '{split}' is replaced by the split. "
                          "None: use occ_infos_<split>.pkl when it exists, else pair files by token")
    scenes: dict[str, list[str]] | None = Field(None, description="scene names per split (train/val/test)")
    val_fraction: float = Field(0.15, ge=0.0, lt=1.0)
    grid: str | GridSpec = Field("occ3d_nuscenes", description="GridSpec preset name or a GridSpec")
    T_ego_lidar: tuple[tuple[float, float, float, float], ...] | None = Field(
        None, description="LiDAR -> ego 4x4 used when no info pickle gives one (None = identity); "
                          "occkit.sources.occ3d.NUSCENES_T_EGO_LIDAR is a typical nuScenes value")

    cameras: bool | list[str] = Field(
        False, description="read cameras from the info pickle's 'cams' (True = all, or a list such as "
                           "['CAM_FRONT']); each becomes a CameraView with K and T_world_cam (for depth / DA3)")
    load_images: bool = Field(False, description="also decode camera images into CameraView.image")
    trust_pickle: bool = Field(
        False, description="load the info pickle with plain pickle.load, which runs any code it carries; only for "
                           "a file you trust that holds custom classes (the default reader refuses code)")

    @field_validator("scenes")
    @classmethod
    def _known_splits(cls, v: dict[str, list[str]] | None) -> dict[str, list[str]] | None:
        if v is not None and set(v) - set(SPLITS):
            raise ValueError(f"scenes keys must be among {SPLITS}, got {sorted(v)}")
        return v

    def grid_spec(self) -> GridSpec:
        if isinstance(self.grid, GridSpec):
            return self.grid
        try:
            return GridSpec.preset(self.grid)
        except KeyError as exc:
            raise ConfigError(f"data.source.grid: {exc.args[0]}") from exc

    def _default_T_ego_lidar(self) -> np.ndarray:
        if self.T_ego_lidar is None:
            return np.eye(4)
        try:
            return check_rigid(np.array(self.T_ego_lidar, dtype=np.float64), "data.source.T_ego_lidar")
        except PoseError as exc:
            raise ConfigError(str(exc)) from exc

    def _info_path(self, split: str) -> Path | None:
        if self.info_file is None:
            p = self.root / f"occ_infos_{split}.pkl"
            return p if p.is_file() else None
        p = Path(self.info_file.replace("{split}", split))
        p = p if p.is_absolute() else self.root / p
        if not p.is_file():
            raise InputFileError(p, f"info pickle for split {split!r} not found (data.source.info_file)")
        return p

    def build(self, split: str = "train") -> Occ3DSource:
        """Return a Source of Frames for split (train/val/test)."""
        if split not in SPLITS:
            raise ConfigError(f"split must be one of {SPLITS}, got {split!r}")
        if not self.root.is_dir():
            raise InputFileError(self.root, "Occ3D root directory not found (data.source.root)")
        spec = self.grid_spec()
        info = self._info_path(split)
        if info is not None:
            entries = self._entries_from_infos(info, split)
        else:
            entries = self._entries_from_files(split)
        settings = {"kind": self.kind, "split": split, "grid": spec.describe(), "info": str(info),
                    "cameras": self.cameras, "ray_origins": "sparseocc"}  # caches made before them rebuild
        return Occ3DSource(entries, spec, settings, self.load_images)

    # ---- indexing -------------------------------------------------------------------------------
    def _split_scenes(self, available: list[str], split: str) -> list[str]:
        if self.scenes is not None and split in self.scenes:
            missing = sorted(set(self.scenes[split]) - set(available))
            if missing:
                raise ConfigError(f"data.source.scenes.{split}: scenes {missing[:5]} not found under "
                                  f"{self.root / GTS_DIR} (have {len(available)} scenes)")
            return list(self.scenes[split])
        ordered = sorted(available)
        if len(ordered) == 1 and split != "train":
            warnings.warn(f"{self.root}: only one scene ({ordered[0]}); split {split!r} reuses the training scene",
                          stacklevel=2)
            return ordered
        n_val = math.ceil(self.val_fraction * len(ordered)) if self.val_fraction > 0 else 0
        cut = len(ordered) - min(n_val, max(len(ordered) - 1, 0))
        return ordered[:cut] if split == "train" else ordered[cut:]

    def _entries_from_files(self, split: str) -> list[Occ3DEntry]:
        gts = self.root / GTS_DIR
        if not gts.is_dir():
            raise InputFileError(gts, "Occ3D ground-truth folder gts/<scene>/<token>/labels.npz not found")
        available = sorted(p.name for p in gts.iterdir() if p.is_dir())
        T_ego_lidar = self._default_T_ego_lidar()
        entries = []
        for scene in self._split_scenes(available, split):
            for tok_dir in sorted(p for p in (gts / scene).iterdir() if p.is_dir()):
                labels = tok_dir / "labels.npz"
                if not labels.is_file():
                    continue
                lidar = self.root / LIDAR_DIR / f"{tok_dir.name}.pcd.bin"
                if not lidar.is_file():
                    raise InputFileError(lidar, f"LiDAR sweep for {labels} not found; without an info pickle "
                                                "samples/LIDAR_TOP/<token>.pcd.bin must exist (set info_file)")
                entries.append(Occ3DEntry(scene, tok_dir.name, lidar, labels, T_ego_lidar, np.eye(4)))
        return entries

    def _load_infos(self, path: Path) -> dict[str, list[Mapping[str, Any]]]:
        from occkit.sources.occ3d_infos import normalize_infos

        data = safe_load_pickle(path, trust=self.trust_pickle, option="data.source.trust_pickle")
        index: dict[str, str] | None = None

        def scene_of_token(token: str) -> str | None:  # mmdet3d v1.x records name no scene: find gts/*/<token>
            nonlocal index
            if index is None:
                gts = self.root / GTS_DIR
                index = {t.name: d.name for d in (gts.iterdir() if gts.is_dir() else ()) if d.is_dir()
                         for t in d.iterdir() if t.is_dir()}
            return index.get(token)

        return normalize_infos(data, path, scene_of_token)

    def _labels_path(self, rec: Mapping[str, Any], scene: str, token: str) -> Path:
        """``occ_gt_path`` as given or relative to root (prefixes such as ./data/occ3d-nus/ are tolerated),
        else ``gts/<scene>/<token>/labels.npz``."""
        default = self.root / GTS_DIR / scene / token / "labels.npz"
        raw = rec.get("occ_gt_path")
        if raw is None:
            return default
        p = Path(str(raw))
        parts = p.parts
        tail = Path(*parts[parts.index("gts"):]) if "gts" in parts else p
        for cand in (p, self.root / p, self.root / tail):
            if cand.is_file():
                return cand
        return default

    def _lidar_path(self, rec: Mapping[str, Any], token: str) -> Path:
        """Resolve ``lidar_path``: as given, relative to root, or its file name under samples/LIDAR_TOP."""
        raw = rec.get("lidar_path")
        if raw is None:
            return self.root / LIDAR_DIR / f"{token}.pcd.bin"
        return self._resolve(raw, LIDAR_DIR)

    def _resolve(self, raw: Any, folder: Path) -> Path:
        """A path from an info record: as given, relative to root, or its file name under ``folder``."""
        p = Path(str(raw))
        for cand in (p, self.root / p, self.root / folder / p.name):
            if cand.is_file():
                return cand
        return self.root / folder / p.name

    def _cameras(self, rec: Mapping[str, Any], T_ego_lidar: np.ndarray, path: Path,
                 where: str) -> tuple[Occ3DCamera, ...]:
        """Cameras of one record (mmdet3d ``cams`` keys or occkit's ``image_path``/``K``/``T_lidar_cam``)."""
        cams = rec.get("cams")
        if not isinstance(cams, Mapping) or not cams:
            raise InputFileError(path, f"{where} has no 'cams' but data.source.cameras is set")
        names = list(cams) if self.cameras is True else list(self.cameras)
        out = []
        for name in names:
            if name not in cams:
                raise ConfigError(f"data.source.cameras: {name!r} not in {where} cams {sorted(cams)}")
            c, here = cams[name], f"{where}.cams[{name!r}]"
            raw = c.get("image_path", c.get("data_path"))
            K = np.asarray(c.get("K", c.get("cam_intrinsic")), dtype=np.float64)
            if raw is None or K.shape != (3, 3):
                raise InputFileError(path, f"{here} needs data_path/image_path and a 3x3 cam_intrinsic/K")
            if "T_lidar_cam" in c:
                T = check_rigid(np.asarray(c["T_lidar_cam"], dtype=np.float64), f"{path}: {here}: T_lidar_cam")
            elif "sensor2lidar_rotation" in c:  # mmdet3d: a 3x3 matrix, p_lidar = R @ p_cam + t
                T = check_rigid(make_transform(c["sensor2lidar_rotation"], c["sensor2lidar_translation"]),
                                f"{path}: {here}: sensor2lidar")
            else:
                T_ego_cam = _record_transform(c, "T_ego_cam", "sensor2ego", f"{path}: {here}")
                if T_ego_cam is None:
                    raise PoseError(f"{path}: {here}: no camera pose (T_lidar_cam, sensor2lidar_* or sensor2ego_*)")
                T = invert_transform(T_ego_lidar) @ T_ego_cam
            image = self._resolve(raw, Path("samples") / name)
            if not image.is_file():
                raise InputFileError(image, f"camera image for {path.name}: {here} not found")
            out.append(Occ3DCamera(name, image, K, T))
        return tuple(out)

    def _entries_from_infos(self, path: Path, split: str) -> list[Occ3DEntry]:
        infos = self._load_infos(path)
        scenes = list(self.scenes[split]) if self.scenes is not None and split in self.scenes else list(infos)
        missing = [s for s in scenes if s not in infos]
        if missing:
            raise ConfigError(f"data.source.scenes.{split}: scenes {missing[:5]} are not in {path}")
        default_T = self._default_T_ego_lidar()
        entries = []
        for scene in scenes:
            for i, rec in enumerate(infos[scene]):
                where = f"infos[{scene!r}][{i}]"
                token, T_ego_lidar, T_world_ego, ts = _record_pose(rec, path, where)
                labels = self._labels_path(rec, scene, token)
                lidar = self._lidar_path(rec, token)
                for p, what in ((labels, "Occ3D labels"), (lidar, "LiDAR sweep")):
                    if not p.is_file():
                        raise InputFileError(p, f"{what} for {path.name}: {where} not found")
                T_ego_lidar = default_T if T_ego_lidar is None else T_ego_lidar
                cams = self._cameras(rec, T_ego_lidar, path, where) if self.cameras else ()
                entries.append(Occ3DEntry(scene, token, lidar, labels, T_ego_lidar,
                                          np.eye(4) if T_world_ego is None else T_world_ego, ts, cams))
        return _with_ray_origins(entries)


def _record_pose(rec: Any, path: Path, where: str) -> tuple[str, np.ndarray | None, np.ndarray | None, int | None]:
    """One info record's token, LiDAR-to-ego and ego-to-world transforms (None where absent) and timestamp."""
    if not isinstance(rec, Mapping) or "token" not in rec:
        raise InputFileError(path, f"{where} has no 'token'")
    T_ego_lidar = _record_transform(rec, "T_ego_lidar", "lidar2ego", f"{path}: {where}")
    T_world_ego = _record_transform(rec, "T_world_ego", "ego2global", f"{path}: {where}")
    ts = rec.get("timestamp")
    return str(rec["token"]), T_ego_lidar, T_world_ego, None if ts is None else int(ts)


def ray_origins_by_token(path: Path, scene_of_token: Callable[[str], str | None]) -> dict[str, np.ndarray]:
    """SparseOcc's RayIoU origins of every frame an Occ3D info file lists, in that frame's ego frame (Occ3D's grid
    frame), by token: what ``occkit score --infos`` casts from. The file is read by the restricted unpickler."""
    from occkit.sources.occ3d_infos import normalize_infos

    infos = normalize_infos(safe_load_pickle(path, option="a trusted info file"), path, scene_of_token)
    entries = []
    for scene, records in infos.items():
        for i, rec in enumerate(records):
            where = f"infos[{scene!r}][{i}]"
            token, T_ego_lidar, T_world_ego, ts = _record_pose(rec, path, where)
            if T_world_ego is None:
                raise InputFileError(path, f"{where} has no ego pose (T_world_ego or ego2global_*): RayIoU's "
                                           "origins need every frame's pose")
            entries.append(Occ3DEntry(scene, token, Path(), Path(), np.eye(4) if T_ego_lidar is None else T_ego_lidar,
                                      T_world_ego, ts))
    return {e.token: apply_transform(e.T_ego_lidar, e.ray_origins) for e in _with_ray_origins(entries)}


def _with_ray_origins(entries: list[Occ3DEntry]) -> list[Occ3DEntry]:
    """Each entry with SparseOcc's RayIoU origins: its scene's LiDAR positions in time order (by timestamp where
    every frame has one, else in the info file's order), occkit.metrics.ray_origins."""
    from dataclasses import replace

    from occkit.metrics.ray_origins import scene_ray_origins

    scenes: dict[str, list[int]] = {}
    for i, e in enumerate(entries):
        scenes.setdefault(e.scene, []).append(i)
    out = list(entries)
    for members in scenes.values():
        if all(entries[i].timestamp is not None for i in members):
            members = sorted(members, key=lambda i: entries[i].timestamp)  # type: ignore[arg-type,return-value]
        poses = [entries[i].T_world_ego @ entries[i].T_ego_lidar for i in members]
        for k, i in enumerate(members):
            out[i] = replace(entries[i], ray_origins=scene_ray_origins(poses, entries[i].T_ego_lidar, k))
    return out


# ---- writing the same layout ---------------------------------------------------------------------
def write_occ3d_sample(
    root: str | Path,
    scene: str,
    token: str,
    points: np.ndarray,
    target: OccupancyTarget,
    fields: Mapping[str, np.ndarray] | None = None,
) -> tuple[Path, Path]:
    """Write one frame in the Occ3D layout: ``samples/LIDAR_TOP/<token>.pcd.bin`` + ``gts/<scene>/<token>/labels.npz``.

    ``points`` (N, 3) in the LiDAR frame; ``fields`` may hold ``intensity`` and ``ring`` (zeros otherwise).
    ``target`` must use Occ3D's free label 17. Both files are written atomically.
    """
    root = Path(root)
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] < 3 or not np.all(np.isfinite(pts[:, :3])):
        raise ValueError(f"write_occ3d_sample({scene}/{token}): points must be finite (N, 3), got {pts.shape}")
    fields = dict(fields or {})
    table = np.zeros((len(pts), 5), dtype="<f4")
    table[:, :3] = pts[:, :3]
    for col, name in ((3, "intensity"), (4, "ring")):
        if name in fields:
            table[:, col] = np.asarray(fields[name], dtype=np.float32)
    lidar = root / LIDAR_DIR / f"{token}.pcd.bin"
    atomic_write_bytes(lidar, table.tobytes())
    labels = write_occ3d_target(root / GTS_DIR / scene / token / "labels.npz", target)
    return lidar, labels


def write_occ3d_infos(root: str | Path, split: str, infos: Mapping[str, list[Mapping[str, Any]]]) -> Path:
    """Write ``occ_infos_<split>.pkl`` ({"infos": {scene: [records]}}) atomically, transforms as 4x4 arrays."""
    clean = {scene: [{k: (np.asarray(v, dtype=np.float64) if k.startswith("T_") else v) for k, v in rec.items()}
                     for rec in recs] for scene, recs in infos.items()}
    path = Path(root) / f"occ_infos_{split}.pkl"

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            pickle.dump({"infos": clean, "metadata": {"version": "occkit"}}, f)

    atomic_write(path, write)
    return path
