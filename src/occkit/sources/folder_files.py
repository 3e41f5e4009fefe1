"""Readers for the generic folder layout (docs/folder_layout.md): pose files, camera.json, depth maps.

Every reader names the file (and line or key) and what it expected when the content is wrong.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from occkit.errors import InputFileError
from occkit.geometry.transforms import check_rigid
from occkit.io.ascii_points import is_number

POSE_FILES = ("poses.txt", "poses.csv", "poses.json")


def _matrix(values: object, path: Path, where: str) -> np.ndarray:
    """12 (3x4) or 16 (4x4) numbers, flat or nested, -> rigid 4x4 (PoseError names path and where)."""
    try:
        arr = np.asarray(values, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise InputFileError(path, f"{where}: expected 12 or 16 numbers (3x4 or 4x4 T_world_sensor)") from None
    if arr.size == 12:
        arr = np.r_[arr, 0.0, 0.0, 0.0, 1.0]
    if arr.size != 16:
        raise InputFileError(path, f"{where}: expected 12 or 16 numbers (3x4 or 4x4 T_world_sensor), got {arr.size}")
    return check_rigid(arr.reshape(4, 4), f"{path}: {where}")


def read_kitti_poses(path: Path) -> list[np.ndarray]:
    """KITTI ``poses.txt``: one row-major 3x4 matrix (12 numbers) per line, in scan order."""
    poses = []
    for i, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            nums = [float(x) for x in line.replace(",", " ").split()]
        except ValueError:
            raise InputFileError(path, f"line {i}: expected 12 numbers (KITTI 3x4 pose), got {line[:60]!r}") from None
        if len(nums) not in (12, 16):
            raise InputFileError(path, f"line {i}: expected 12 numbers (KITTI 3x4 pose), got {len(nums)}")
        poses.append(_matrix(nums, path, f"line {i}"))
    if not poses:
        raise InputFileError(path, "holds no poses (expected one line of 12 numbers per scan)")
    return poses


def read_named_poses(path: Path) -> dict[str, np.ndarray]:
    """``poses.csv`` (``name`` then 12 or 16 numbers per row, header optional) or ``poses.json``
    (``{name: 4x4}`` or ``[{"name": ..., "T_world_sensor": 4x4}, ...]``), keyed by scan stem."""
    out: dict[str, np.ndarray] = {}
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise InputFileError(path, f"not valid JSON: {exc}") from None
        if isinstance(data, list):
            try:
                data = {str(rec["name"]): rec.get("T_world_sensor", rec.get("T")) for rec in data}
            except (TypeError, KeyError):
                raise InputFileError(path, "list records need 'name' and 'T_world_sensor' (4x4)") from None
        if not isinstance(data, dict):
            raise InputFileError(path, "expected {scan name: 4x4 T_world_sensor} or a list of records")
        for name, T in data.items():
            out[Path(name).stem] = _matrix(T, path, f"pose of {name!r}")
    else:
        with path.open(newline="") as fh:
            rows = [r for r in csv.reader(fh) if r and not r[0].lstrip().startswith("#")]
        for i, row in enumerate(rows, start=1):
            if i == 1 and not is_number(row[-1]):
                continue  # header
            out[Path(row[0].strip()).stem] = _matrix([c.strip() for c in row[1:]], path, f"row {i} ({row[0]!r})")
    if not out:
        raise InputFileError(path, "holds no poses")
    return out


def read_camera_json(path: Path) -> dict:
    """``{"K": 3x3, "width", "height", "T_sensor_cam": 4x4 (default identity), "distortion"}``."""
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InputFileError(path, f"not readable JSON ({exc}); expected {{'K': 3x3, 'T_sensor_cam': 4x4}}") from None
    try:
        K = np.asarray(data["K"], dtype=np.float64).reshape(3, 3)
    except (KeyError, TypeError, ValueError):
        raise InputFileError(path, "expected key 'K' holding a 3x3 intrinsic matrix") from None
    if K[0, 0] <= 0 or K[1, 1] <= 0:
        raise InputFileError(path, f"K must have positive focal lengths, got {K.tolist()}")
    T = check_rigid(np.asarray(data.get("T_sensor_cam", np.eye(4)), dtype=np.float64), f"{path}: T_sensor_cam")
    dist = data.get("distortion")
    return {"K": K, "T_sensor_cam": T, "width": data.get("width"), "height": data.get("height"),
            "distortion": None if dist is None else np.asarray(dist, dtype=np.float64)}


def read_depth(path: Path, png_scale: float) -> np.ndarray:
    """Depth map in metres, float32 (H, W), 0 = invalid: 16-bit png times ``png_scale``, or npy metres."""
    if path.suffix.lower() == ".npy":
        try:
            depth = np.load(path)
        except (OSError, ValueError) as exc:
            raise InputFileError(path, f"not a readable .npy depth map: {exc}") from None
        depth = np.squeeze(depth)
        if depth.ndim != 2 or depth.dtype.kind not in "fiu":
            raise InputFileError(path, f"expected an (H, W) array of metres, got {depth.dtype} {depth.shape}")
        return np.nan_to_num(depth.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    from occkit.io.images import read_pixels

    depth = read_pixels(path, "depth image")
    if depth.ndim != 2 or depth.dtype not in (np.uint16, np.int32, np.int16):
        raise InputFileError(path, f"expected a 16-bit single-channel png (millimetres), got {depth.dtype} "
                                   f"{depth.shape}; use .npy for metres")
    return depth.astype(np.float32) * np.float32(png_scale)
