"""UAVScenes constants (label palette, 19-class remap) and the camera-LiDAR calibration parser.

Sources and uncertainty
    ``LABELS`` copies ``cmap.py`` of the official repository (github.com/sijieaaa/UAVScenes): 26 ids with RGB
    colours; ids 7, 8, 12, 21, 22, 23 and 25 carry no name there (unused or undocumented classes), so they
    are named ``unnamed_<id>`` here. Id 15 is ``solar_board`` in cmap.py and "solar panel" in the paper.
    ``REMAP_19`` is the contiguous 19-class map that published UAVScenes benchmarks use (the named ids in
    id order; unnamed ids -> ``IGNORE_INDEX``). The paper does not print this table, so treat it as the
    community convention, not an official one.

Calibration file
    The official ``calibration_results.py`` assigns one dict per sensor set (``AMtown_calibration = {...}``
    with ``camera_intrinsic`` 9 numbers, ``camera_ext_R`` 9 numbers row-major, ``camera_ext_t`` 3) and a
    ``scenename_to_calibration = {'AMtown01': AMtown_calibration, ...}`` table whose values are names.
    occkit's own writer uses ``calibration_results = {"AMtown": {"camera_ext_R": 3x3, "camera_ext_t": [...]}}``.
    Both are read with ``ast`` (literals only, names resolved to earlier literal assignments); nothing is
    executed. ``camera_ext_R/t`` map LiDAR -> camera, i.e. they form ``T_cam_lidar``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np

from occkit.errors import InputFileError
from occkit.geometry.transforms import check_rigid, make_transform

IGNORE_INDEX = 255

_CMAP: tuple[tuple[str, tuple[int, int, int]], ...] = (
    ("background", (0, 0, 0)), ("roof", (119, 11, 32)), ("dirt_motor_road", (180, 165, 180)),
    ("paved_motor_road", (128, 64, 128)), ("river", (173, 216, 230)), ("pool", (0, 80, 100)),
    ("bridge", (150, 100, 100)), ("unnamed_7", (150, 120, 90)), ("unnamed_8", (70, 70, 70)),
    ("container", (250, 170, 30)), ("airstrip", (81, 0, 81)), ("traffic_barrier", (102, 102, 156)),
    ("unnamed_12", (190, 153, 153)), ("green_field", (107, 142, 35)), ("wild_field", (210, 180, 140)),
    ("solar_board", (220, 220, 0)), ("umbrella", (153, 153, 153)), ("transparent_roof", (0, 0, 90)),
    ("car_park", (250, 170, 160)), ("paved_walk", (244, 35, 232)), ("sedan", (0, 0, 142)),
    ("unnamed_21", (224, 224, 192)), ("unnamed_22", (220, 20, 60)), ("unnamed_23", (192, 64, 128)),
    ("truck", (0, 0, 70)), ("unnamed_25", (0, 60, 100)),
)
LABEL_NAMES: tuple[str, ...] = tuple(name for name, _ in _CMAP)
PALETTE: np.ndarray = np.array([rgb for _, rgb in _CMAP], dtype=np.uint8)  # (26, 3), row = class id
NUM_LABELS = len(LABEL_NAMES)

_REMAPPED_IDS = (0, 1, 2, 3, 4, 5, 6, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 24)
REMAP_19: dict[int, int] = {src: dst for dst, src in enumerate(_REMAPPED_IDS)}
NAMES_19: tuple[str, ...] = tuple(LABEL_NAMES[i] for i in _REMAPPED_IDS)
PALETTE_19: np.ndarray = PALETTE[list(_REMAPPED_IDS)]
DYNAMIC_19: tuple[int, ...] = (REMAP_19[20], REMAP_19[24])  # sedan, truck

_LUT = np.full(256, IGNORE_INDEX, dtype=np.uint8)
_LUT[list(REMAP_19)] = list(REMAP_19.values())


def remap_to_19(labels: np.ndarray) -> np.ndarray:
    """26-id labels -> 19 contiguous classes (uint8); unnamed or out-of-palette ids -> IGNORE_INDEX."""
    labels = np.asarray(labels)
    out = np.full(labels.shape, IGNORE_INDEX, dtype=np.uint8)
    ok = (labels >= 0) & (labels < 256)
    out[ok] = _LUT[labels[ok].astype(np.int64)]
    return out


def scene_of_run(run: str) -> str:
    """Scene key of a run: the run name without trailing digits (AMtown01 -> AMtown)."""
    return re.sub(r"\d+$", "", run) or run


# ---- calibration --------------------------------------------------------------------------------


def read_calibration(path: str | Path) -> dict[str, dict]:
    """Every calibration dict in ``calibration_results.py``, keyed by run, scene or variable-name stem.

    Keys: entries of ``calibration_results`` / ``scenename_to_calibration`` tables, plus each
    ``<Name>_calibration`` variable under ``<Name>``. Raises InputFileError on a missing or unparsable file.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "calibration file not found (expected UAVScenes calibration_results.py)")
    try:
        tree = ast.parse(path.read_text(), filename=str(path))
    except SyntaxError as exc:
        raise InputFileError(path, f"not valid python source: {exc}") from None
    names: dict[str, object] = {}
    for node in tree.body:
        if not isinstance(node, ast.Assign) or len(node.targets) != 1 or not isinstance(node.targets[0], ast.Name):
            continue
        try:
            names[node.targets[0].id] = _literal(node.value, names)
        except ValueError:
            continue  # not a literal (function calls, imports ...): ignored, never executed
    out: dict[str, dict] = {}
    for var, value in names.items():
        if var.endswith("_calibration") and isinstance(value, dict) and "camera_ext_R" in value:
            out[var[: -len("_calibration")]] = value
    for value in names.values():
        if isinstance(value, dict) and value and all(isinstance(v, dict) and "camera_ext_R" in v
                                                     for v in value.values()):
            out.update({str(k): v for k, v in value.items()})
    if not out:
        raise InputFileError(path, "holds no calibration dict with 'camera_ext_R' and 'camera_ext_t' "
                                   "(expected e.g. AMtown_calibration = {...} or calibration_results = {...})")
    return out


def _literal(node: ast.AST, names: dict[str, object]) -> object:
    """ast.literal_eval that also resolves bare names to earlier literal assignments."""
    if isinstance(node, ast.Name):
        if node.id in names:
            return names[node.id]
        raise ValueError(node.id)
    if isinstance(node, ast.Dict):
        return {_literal(k, names): _literal(v, names) for k, v in zip(node.keys, node.values, strict=True)}
    if isinstance(node, ast.List | ast.Tuple):
        return [_literal(e, names) for e in node.elts]
    return ast.literal_eval(node)


def calibration_transform(calib: dict[str, dict], run: str, path: str | Path) -> np.ndarray:
    """``T_cam_lidar`` of ``run`` (looked up by run name, then scene name); clear error when absent."""
    scene = scene_of_run(run)
    key = run if run in calib else scene
    entry = calib.get(key)
    if entry is None:
        raise InputFileError(path, f"no calibration for run {run!r} (scene {scene!r}); it has {sorted(calib)}. "
                                   "Add it there or set extrinsics={'" + scene + "': T_cam_lidar 4x4} in the config")
    try:
        R = np.asarray(entry["camera_ext_R"], dtype=np.float64).reshape(3, 3)
        t = np.asarray(entry["camera_ext_t"], dtype=np.float64).reshape(3)
    except (KeyError, ValueError, TypeError) as exc:
        raise InputFileError(path, f"calibration of {key!r}: expected camera_ext_R (9 numbers or 3x3) and "
                                   f"camera_ext_t (3 numbers): {type(exc).__name__}: {exc}") from None
    # the official rotations are rounded to ~1e-3, so accept 1e-2 and then snap to the nearest rotation so
    # that every composed pose stays rigid (the official HKairport_calibration, which its own run table does
    # not use, is off by 0.05 and is refused)
    check_rigid(make_transform(R, t), f"{path}: camera_ext_R/t of {key!r}", tol=1e-2)
    U, _, Vt = np.linalg.svd(R)
    return make_transform(U @ Vt, t)
