"""Occ3D ``labels.npz``: ``semantics`` uint8 [x, y, z] (17 = free), ``mask_lidar`` / ``mask_camera`` uint8 0/1.

The format is what Occ3D-nuScenes ships (``gts/<scene>/<token>/labels.npz``, 200 x 200 x 16 at 0.4 m in the
ego frame). Reading validates keys, dtypes, values and shape, so a truncated download or a grid from another
dataset fails here, naming the file, instead of training on garbage.
"""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import numpy as np

from occkit.errors import InputFileError
from occkit.frame import OccupancyTarget
from occkit.geometry.grid import GridSpec
from occkit.utils.atomic import atomic_write

FREE_LABEL = 17
NUM_CLASSES = 18  # 0..16 semantic classes + 17 free
DEFAULT_PRESET = "occ3d_nuscenes"
KEYS = ("semantics", "mask_lidar", "mask_camera")

# Occ3D-nuScenes class names, index = label id.
CLASS_NAMES = (
    "others", "barrier", "bicycle", "bus", "car", "construction_vehicle", "motorcycle", "pedestrian",
    "traffic_cone", "trailer", "truck", "driveable_surface", "other_flat", "sidewalk", "terrain", "manmade",
    "vegetation", "free",
)


def _as_uint8(name: str, array: np.ndarray, shape: tuple[int, ...] | None, binary: bool) -> np.ndarray:
    """Check one grid the caller wants to write; raise ValueError naming it."""
    a = np.asarray(array)
    if a.ndim != 3 or (shape is not None and a.shape != shape):
        want = f"shape {shape}" if shape is not None else "a 3-D [x, y, z] grid"
        raise ValueError(f"{name}: expected {want}, got shape {a.shape}")
    if a.dtype.kind not in "biu":
        raise ValueError(f"{name}: expected integer or bool values, got dtype {a.dtype}")
    hi = 1 if binary else 255
    if a.size and (a.min() < 0 or a.max() > hi):
        raise ValueError(f"{name}: values must lie in [0, {hi}], got [{a.min()}, {a.max()}]")
    return a.astype(np.uint8)


def write_occ3d_labels(
    path: str | Path, semantics: np.ndarray, mask_lidar: np.ndarray, mask_camera: np.ndarray,
    spec: GridSpec | None = None,
) -> Path:
    """Write an Occ3D ``labels.npz`` atomically (compressed, all three arrays uint8, same shape).

    ``spec`` adds a ``grid_spec`` key (GridSpec JSON) so the file can be redrawn without naming its grid;
    Occ3D readers ignore keys they do not know."""
    path = Path(path)
    sem = _as_uint8("semantics", semantics, None, binary=False)
    lidar = _as_uint8("mask_lidar", mask_lidar, sem.shape, binary=True)
    camera = _as_uint8("mask_camera", mask_camera, sem.shape, binary=True)
    extra = {} if spec is None else {"grid_spec": np.array(spec.model_dump_json())}
    if spec is not None:
        spec.check_array(sem, f"{path}: semantics")

    def write(tmp: Path) -> None:
        # A file object, not a path: np.savez_compressed would append ".npz" to the temporary name.
        with open(tmp, "wb") as f:
            np.savez_compressed(f, semantics=sem, mask_lidar=lidar, mask_camera=camera, **extra)

    atomic_write(path, write)
    return path


def write_occ3d_target(path: str | Path, target: OccupancyTarget) -> Path:
    """Write an OccupancyTarget as Occ3D labels (missing masks are written as all-observed)."""
    if target.free_label != FREE_LABEL:
        raise ValueError(f"Occ3D marks free voxels with {FREE_LABEL}; target uses free_label={target.free_label}. "
                         "Relabel it first (semantics[semantics == old] = 17).")
    ones = np.ones(target.semantics.shape, np.uint8)
    lidar = ones if target.mask_lidar is None else target.mask_lidar
    camera = ones if target.mask_camera is None else target.mask_camera
    return write_occ3d_labels(path, target.semantics, lidar, camera)


def _load_arrays(path: Path) -> dict[str, np.ndarray]:
    """Load every array now, turning the many ways a broken zip fails into one InputFileError."""
    if not path.is_file():
        raise InputFileError(path, "Occ3D labels file not found")
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, KeyError) as exc:
        raise InputFileError(path, f"not a readable .npz archive (truncated or corrupt?): {exc}") from exc


def read_occ3d_labels(path: str | Path, spec: GridSpec | None = None) -> OccupancyTarget:
    """Read an Occ3D ``labels.npz`` into an OccupancyTarget (free_label 17, masks as bool).

    ``spec`` is the grid the labels live on; when omitted the Occ3D-nuScenes preset is assumed and the
    array shape must match it. ``mask_lidar``/``mask_camera`` may be absent (then ``None``).
    """
    path = Path(path)
    spec = spec if spec is not None else GridSpec.preset(DEFAULT_PRESET)
    arrays = _load_arrays(path)
    if "semantics" not in arrays:
        raise InputFileError(path, f"missing key 'semantics'; Occ3D labels hold {list(KEYS)}, "
                                   f"found {sorted(arrays)}")
    out: dict[str, np.ndarray | None] = {}
    for key in KEYS:
        a = arrays.get(key)
        if a is None:
            out[key] = None
            continue
        if a.shape != spec.shape:
            raise InputFileError(path, f"'{key}' has shape {a.shape}; expected {spec.shape} for {spec.describe()} "
                                       "(pass the grid these labels were made on as spec=)")
        if a.dtype.kind not in "biu":
            raise InputFileError(path, f"'{key}' has dtype {a.dtype}; expected uint8")
        binary = key != "semantics"
        hi = 1 if binary else 255
        if a.size and (a.min() < 0 or a.max() > hi):
            raise InputFileError(path, f"'{key}' values lie in [{a.min()}, {a.max()}]; expected [0, {hi}]")
        out[key] = a.astype(bool) if binary else a.astype(np.uint8)
    return OccupancyTarget(spec=spec, semantics=out["semantics"], free_label=FREE_LABEL,
                           mask_lidar=out["mask_lidar"], mask_camera=out["mask_camera"])
