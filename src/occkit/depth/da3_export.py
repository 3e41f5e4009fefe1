"""Depth Anything 3's own export files, read as depth maps: ``exports/npz/results.npz`` and ``mini_npz``.

DA3 run elsewhere (``model.inference(..., export_format="npz")``, or ``mini_npz``) writes one file per set of
images: ``depth`` (N, H, W), ``conf`` (N, H, W), ``extrinsics`` (N, 3, 4) world-to-camera in OpenCV axes (DA3's
own world frame and scale), ``intrinsics`` (N, 3, 3) at DA3's processed resolution, and in ``npz`` (not
``mini_npz``) ``image`` (N, H, W, 3) uint8, the processed images. Checked against
``depth_anything_3/utils/export/npz.py`` of depth-anything-3 0.1.1; ``tests/data/recorded/da3_export/`` holds
files written by that code.

A DA3-Metric model's raw output is ``depth * 300 / focal`` (``metric_scaling="focal300"`` turns it into metres,
as :class:`occkit.depth.da3.DA3Depth` does); nested and any-view models export metres. Nothing here unpickles.
"""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path
from typing import Literal

import numpy as np

from occkit.depth.da3 import METRIC_FOCAL_DIVISOR, DepthPrediction
from occkit.errors import InputFileError
from occkit.geometry.transforms import check_rigid, invert_transform

ExportScaling = Literal["none", "focal300"]
REQUIRED_KEYS = ("depth", "intrinsics")


def is_da3_export(path: str | Path) -> bool:
    """An .npz holding a 3-D ``depth`` stack and ``intrinsics``: what DA3's npz exports write, and no point file."""
    path = Path(path)
    if path.suffix.lower() != ".npz" or not path.is_file():
        return False
    try:
        with np.load(path, allow_pickle=False) as data:
            if not all(key in data.files for key in REQUIRED_KEYS):
                return False
            return data["depth"].ndim == 3
    except (OSError, ValueError, zipfile.BadZipFile, zlib.error, EOFError):
        return False


def read_da3_export(path: str | Path, *, metric_scaling: ExportScaling = "none") -> list[DepthPrediction]:
    """One :class:`DepthPrediction` per view: depth in metres (0 = no depth), its K, confidence, the processed
    image where the file has it, and ``T_world_cam`` in DA3's own world frame (its extrinsics inverted)."""
    path = Path(path)
    if metric_scaling not in ("none", "focal300"):
        raise ValueError(f"metric_scaling must be 'none' or 'focal300', got {metric_scaling!r}")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise InputFileError(path, f"not a readable DA3 export (.npz of depth, conf, extrinsics, intrinsics): "
                                   f"{exc}") from None
    missing = [key for key in REQUIRED_KEYS if key not in arrays]
    if missing:
        raise InputFileError(path, f"holds {sorted(arrays)}; a DA3 export needs {', '.join(missing)} too")
    depth = _stack(path, arrays, "depth", None)
    n, height, width = depth.shape
    intrinsics = _stack(path, arrays, "intrinsics", (n, 3, 3))
    conf = _stack(path, arrays, "conf", (n, height, width)) if "conf" in arrays else None
    images = arrays.get("image")
    if images is not None and (images.shape != (n, height, width, 3) or images.dtype != np.uint8):
        raise InputFileError(path, f"'image' is {images.dtype} {images.shape}; expected uint8 "
                                   f"{(n, height, width, 3)} like 'depth'")
    poses = _poses(path, arrays["extrinsics"], n) if "extrinsics" in arrays else [None] * n
    views = []
    for i in range(n):
        K = intrinsics[i].astype(np.float64)
        if not (np.isfinite(K).all() and K[0, 0] > 0 and K[1, 1] > 0):
            raise InputFileError(path, f"'intrinsics'[{i}] is {K.tolist()}; expected positive focal lengths")
        d = np.nan_to_num(depth[i].astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
        d[d < 0] = 0.0
        if metric_scaling == "focal300":
            d *= np.float32(0.5 * (K[0, 0] + K[1, 1]) / METRIC_FOCAL_DIVISOR)
        views.append(DepthPrediction(
            depth=d, K=K, conf=None if conf is None else conf[i].astype(np.float32), T_world_cam=poses[i],
            processed_image=None if images is None else images[i], source=f"{path}[{i}]",
            meta={"view": i, "pose_frame": "DA3's own world frame" if poses[i] is not None else None}))
    return views


def _stack(path: Path, arrays: dict[str, np.ndarray], key: str, shape: tuple[int, ...] | None) -> np.ndarray:
    a = arrays[key]
    if a.dtype.kind not in "fiu":
        raise InputFileError(path, f"'{key}' is {a.dtype}; expected numbers")
    if shape is None and (a.ndim != 3 or 0 in a.shape):
        raise InputFileError(path, f"'{key}' has shape {a.shape}; expected (views, height, width)")
    if shape is not None and a.shape != shape:
        raise InputFileError(path, f"'{key}' has shape {a.shape}; expected {shape} (one per view of 'depth')")
    return a


def _poses(path: Path, extrinsics: np.ndarray, n: int) -> list[np.ndarray]:
    """World-to-camera (N, 3, 4) or (N, 4, 4) -> camera-to-world 4x4 per view."""
    if extrinsics.shape not in ((n, 3, 4), (n, 4, 4)) or extrinsics.dtype.kind != "f":
        raise InputFileError(path, f"'extrinsics' is {extrinsics.dtype} {extrinsics.shape}; expected float "
                                   f"{(n, 3, 4)} world-to-camera matrices, one per view")
    poses = []
    for i, E in enumerate(extrinsics.astype(np.float64)):
        T_cam_world = np.vstack([E[:3], [0.0, 0.0, 0.0, 1.0]])
        poses.append(invert_transform(check_rigid(T_cam_world, f"{path}: 'extrinsics'[{i}]")))
    return poses
