"""Read the grid files users point ``occkit viz`` at: .npy [x, y, z], occkit .npz, Occ3D ``labels.npz``.

Occupancy comes from the first of these keys: ``occupancy`` (bool, 0/1 or probabilities), ``probability``,
``semantics`` (labels; ``free_label``, 17 by default, and 255 are empty), ``voxel_label`` (Occ3D-Waymo's labels,
free = 23; its ``origin_voxel_state`` and ``final_voxel_state`` are the LiDAR and camera masks). A ``grid_spec``
entry (JSON, as ``occkit voxelize`` writes) gives the grid; ``mask_camera`` / ``mask_lidar`` are kept for
evaluation masks; a ``threshold`` entry (the probability the run chose, as the report's grids carry it) is what
``occkit viz`` draws probabilities at.
"""

from __future__ import annotations

import json
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydantic import ValidationError

from occkit.errors import ConfigError, GridMismatchError, InputFileError
from occkit.geometry.grid import GridSpec, layout_hint

OCCUPANCY_KEYS = ("occupancy", "probability", "semantics", "voxel_label")
IGNORE_LABEL = 255
FREE_LABELS = {"voxel_label": 23}  # Occ3D-Waymo's free id; Occ3D-nuScenes' (and occkit's) is 17
DEFAULT_FREE_LABEL = 17
MASK_KEYS = {"mask_camera": "mask_camera", "mask_lidar": "mask_lidar",
             "final_voxel_state": "mask_camera", "origin_voxel_state": "mask_lidar"}  # Occ3D-Waymo's names


@dataclass
class GridFile:
    """One grid as read from disk: occupancy as bool or float probabilities, [x, y, z]."""

    path: Path
    occupancy: np.ndarray
    semantics: np.ndarray | None = None
    masks: dict[str, np.ndarray] = field(default_factory=dict)
    spec: GridSpec | None = None  # the grid stored in the file, if any
    free_label: int = DEFAULT_FREE_LABEL  # the label of empty voxels its semantics use
    threshold: float | None = None  # the occupancy threshold stored in the file, if any


def _occupancy_from(path: Path, key: str, a: np.ndarray, free_label: int) -> tuple[np.ndarray, np.ndarray | None]:
    if a.ndim != 3:
        raise InputFileError(path, f"'{key}' has shape {a.shape}; expected a 3-D [x, y, z] grid")
    if a.dtype == bool:
        return a, None
    if a.dtype.kind == "f":
        finite = a[np.isfinite(a)]
        if finite.size != a.size or (a.size and (finite.min() < 0 or finite.max() > 1)):
            lo, hi = (float(np.nanmin(a)), float(np.nanmax(a))) if a.size else (0.0, 0.0)
            raise InputFileError(path, f"'{key}' holds values in [{lo:g}, {hi:g}] (or NaN/inf); expected "
                                       "occupancy probabilities in [0, 1] (apply sigmoid to logits first)")
        return a.astype(np.float32), None
    if a.dtype.kind not in "iu":
        raise InputFileError(path, f"'{key}' has dtype {a.dtype}; expected bool, float or integer labels")
    if key in ("semantics", "voxel_label") or (a.size and int(a.max()) > 1):
        return (a != free_label) & (a != IGNORE_LABEL), a
    return a != 0, None


def write_grid_npz(path: str | Path, spec: GridSpec, **arrays: object) -> Path:
    """An .npz grid file :func:`read_grid_file` reads back on its own: ``arrays`` plus ``grid_spec`` (GridSpec
    JSON), written atomically."""
    from occkit.utils.atomic import atomic_write

    path = Path(path)

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:  # a file object: np.savez would append ".npz" to a bare path
            np.savez_compressed(fh, grid_spec=np.array(spec.model_dump_json()), **arrays)

    atomic_write(path, write)
    return path


def read_grid_file(path: str | Path, free_label: int | None = None) -> GridFile:
    """Load a .npy or .npz grid; raise InputFileError naming the file and the problem. ``free_label``: the label
    of empty voxels in semantic grids (default: the format's own, 23 for Occ3D-Waymo, else 17)."""
    path = Path(path)
    if path.is_dir():
        raise InputFileError(path, "is a directory; expected a .npy or .npz grid file")
    if not path.is_file():
        raise InputFileError(path, "grid file not found")
    if path.suffix.lower() not in (".npy", ".npz"):
        raise InputFileError(path, f"unsupported grid file suffix {path.suffix!r}; expected .npy or .npz")
    try:
        loaded = np.load(path, allow_pickle=False)
        arrays = {k: loaded[k] for k in loaded.files} if hasattr(loaded, "files") else {"occupancy": loaded}
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "pickle" in first:  # numpy's wording for "this is not an array file"
            first = "not numpy array data (numpy would have to unpickle it, which occkit never does)"
        raise InputFileError(path, f"not a readable .npy/.npz grid: {first.rstrip('.')}") from None
    key = next((k for k in OCCUPANCY_KEYS if k in arrays), None)
    if key is None:
        raise InputFileError(path, f"has keys {sorted(arrays)}; expected one of {list(OCCUPANCY_KEYS)}")
    free_label = free_label if free_label is not None else FREE_LABELS.get(key, DEFAULT_FREE_LABEL)
    occ, sem = _occupancy_from(path, key, arrays[key], free_label)
    masks = {}
    for file_key in (k for k in MASK_KEYS if k in arrays):
        if arrays[file_key].shape != occ.shape:
            raise InputFileError(path, f"'{file_key}' has shape {arrays[file_key].shape}; expected {occ.shape} like "
                                       f"'{key}'")
        masks[MASK_KEYS[file_key]] = arrays[file_key].astype(bool)
    spec = None
    sidecar = path.with_name(f"{path.stem}.grid.json")  # what `occkit predict --format npy` writes beside a .npy
    if "grid_spec" not in arrays and path.suffix.lower() == ".npy" and sidecar.is_file():
        arrays["grid_spec"] = np.array(sidecar.read_text())
    if "grid_spec" in arrays:
        try:
            spec = GridSpec.model_validate_json(str(arrays["grid_spec"]))
        except (ValidationError, ValueError) as exc:
            raise InputFileError(path, f"'grid_spec' is not a valid GridSpec JSON: {exc}") from None
    return GridFile(path=path, occupancy=occ, semantics=sem, masks=masks, spec=spec,
                    threshold=_stored_threshold(path, arrays), free_label=free_label)


def _stored_threshold(path: Path, arrays: dict[str, np.ndarray]) -> float | None:
    if "threshold" not in arrays:
        return None
    value = arrays["threshold"]
    if value.shape != () or value.dtype.kind != "f" or not 0 < float(value) < 1:
        raise InputFileError(path, f"'threshold' is {value!r}; expected one probability strictly between 0 and 1")
    return float(value)


def read_spec_json(path: str | Path) -> GridSpec:
    """A GridSpec from a JSON file: {"pc_range": [...6], "voxel_size": [...3]}."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "grid spec JSON not found")
    try:
        return GridSpec.model_validate(json.loads(path.read_text()))
    except (json.JSONDecodeError, UnicodeDecodeError, ValidationError, TypeError) as exc:
        raise InputFileError(path, f'expected {{"pc_range": [6 numbers], "voxel_size": [3 numbers]}}: {exc}') from None


def resolve_spec(shape: tuple[int, ...], preset: str | None = None, spec_json: str | Path | None = None,
                 stored: GridSpec | None = None) -> GridSpec:
    """--spec-json, else --grid, else the spec stored in the file, else the one preset with this shape."""
    if spec_json is not None:
        spec = read_spec_json(spec_json)
    elif preset is not None:
        if preset not in GridSpec.PRESETS:
            raise ConfigError(f"--grid: unknown preset {preset!r}; choose from {sorted(GridSpec.PRESETS)}")
        spec = GridSpec.preset(preset)
    elif stored is not None:
        spec = stored
    else:
        matches = [n for n in GridSpec.PRESETS if GridSpec.preset(n).shape == tuple(shape)]
        if len(matches) != 1:
            flipped = [n for n in GridSpec.PRESETS if GridSpec.preset(n).shape == tuple(shape)[::-1]]
            hint = layout_hint(tuple(shape), GridSpec.preset(flipped[0]).shape) if len(flipped) == 1 and \
                not matches else ""
            raise ConfigError(f"--grid/--spec-json: the file stores no grid spec and shape {tuple(shape)} matches "
                              f"{'no preset' if not matches else f'several presets {matches}'}; "
                              f"pass --grid ({', '.join(sorted(GridSpec.PRESETS))}) or --spec-json{hint}")
        spec = GridSpec.preset(matches[0])
    if tuple(shape) != spec.shape:
        raise GridMismatchError(f"grid of shape {tuple(shape)} does not fit {spec.describe()}")
    return spec
