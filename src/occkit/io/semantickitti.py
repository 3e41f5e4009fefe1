"""SemanticKITTI files: bit-packed voxel grids, voxel and point labels, poses and calibration.

Voxel grids (semantic scene completion, ``sequences/<seq>/voxels/<frame>.*``) are 256 x 256 x 32 indexed
``[x, y, z]`` in the Velodyne frame (x forward 0..51.2 m, y -25.6..25.6 m, z -2..4.4 m, 0.2 m voxels):

    ``.bin`` / ``.invalid`` / ``.occluded``  one bit per voxel, most significant bit first (np.packbits'
                                             default, the same as ``unpack`` in semantic-kitti-api /
                                             LMSCNet ``io_data.py``), flattened in C order over [x, y, z]
    ``.label``                               uint16 per voxel, *raw* SemanticKITTI label ids (0 = empty)

Point labels (``labels/<frame>.label``) are uint32 per point: lower 16 bits the raw semantic id, upper 16 the
instance id. ``LEARNING_MAP`` (from ``semantic-kitti.yaml``) maps raw ids to the 20 training classes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from occkit.errors import InputFileError
from occkit.utils.atomic import atomic_write_bytes

VOXEL_SHAPE = (256, 256, 32)
BIT_SUFFIXES = (".bin", ".invalid", ".occluded")
VOXEL_SUFFIXES = (*BIT_SUFFIXES, ".label")
INVALID_LABEL = 255  # what SSC code writes into voxels marked ``.invalid`` after remapping

# semantic-kitti.yaml ``learning_map``: raw label id -> training class (0 = unlabeled / empty).
LEARNING_MAP: dict[int, int] = {
    0: 0, 1: 0, 10: 1, 11: 2, 13: 5, 15: 3, 16: 5, 18: 4, 20: 5, 30: 6, 31: 7, 32: 8, 40: 9, 44: 10, 48: 11,
    49: 12, 50: 13, 51: 14, 52: 0, 60: 9, 70: 15, 71: 16, 72: 17, 80: 18, 81: 19, 99: 0, 252: 1, 253: 7,
    254: 6, 255: 8, 256: 5, 257: 5, 258: 4, 259: 5,
}
CLASS_NAMES = (
    "unlabeled", "car", "bicycle", "motorcycle", "truck", "other-vehicle", "person", "bicyclist", "motorcyclist",
    "road", "parking", "sidewalk", "other-ground", "building", "fence", "vegetation", "trunk", "terrain", "pole",
    "traffic-sign",
)


def learning_map_lut(unknown: int = 0) -> np.ndarray:
    """A uint8 lookup table over all uint16 raw ids (ids not in LEARNING_MAP map to ``unknown``)."""
    lut = np.full(1 << 16, unknown, dtype=np.uint8)
    lut[list(LEARNING_MAP)] = list(LEARNING_MAP.values())
    return lut


_LUT = learning_map_lut()


def remap_labels(raw: np.ndarray) -> np.ndarray:
    """Raw SemanticKITTI ids (any shape; uint32 point labels are masked to their lower 16 bits) -> 20 classes."""
    return _LUT[np.asarray(raw).astype(np.uint32) & 0xFFFF]


def _expect_size(path: Path, data: np.ndarray, want: int, what: str) -> None:
    if data.size != want:
        raise InputFileError(path, f"{data.size * data.itemsize} bytes; expected {want * data.itemsize} "
                                   f"({what} for a {VOXEL_SHAPE[0]}x{VOXEL_SHAPE[1]}x{VOXEL_SHAPE[2]} grid)")


def _fromfile(path: Path, dtype: type) -> np.ndarray:
    if not path.is_file():
        raise InputFileError(path, "file not found")
    return np.fromfile(path, dtype=dtype)


def read_voxel_bits(path: str | Path, shape: tuple[int, int, int] = VOXEL_SHAPE) -> np.ndarray:
    """Read a bit-packed ``.bin``/``.invalid``/``.occluded`` file -> bool [x, y, z]."""
    path = Path(path)
    n = int(np.prod(shape))
    packed = _fromfile(path, np.uint8)
    _expect_size(path, packed, (n + 7) // 8, "one bit per voxel")
    return np.unpackbits(packed, count=n).reshape(shape).astype(bool)


def write_voxel_bits(path: str | Path, grid: np.ndarray) -> Path:
    """Write a bool [x, y, z] grid bit-packed (MSB first, C order), atomically."""
    path = Path(path)
    grid = np.asarray(grid)
    if grid.ndim != 3:
        raise ValueError(f"{path.name}: expected a 3-D [x, y, z] grid, got shape {grid.shape}")
    atomic_write_bytes(path, np.packbits(grid.astype(bool).ravel()).tobytes())
    return path


def read_voxel_labels(path: str | Path, shape: tuple[int, int, int] = VOXEL_SHAPE) -> np.ndarray:
    """Read a voxel ``.label`` file -> uint16 raw label ids [x, y, z] (apply ``remap_labels`` for classes)."""
    path = Path(path)
    labels = _fromfile(path, np.dtype("<u2"))
    _expect_size(path, labels, int(np.prod(shape)), "one uint16 label per voxel")
    return labels.reshape(shape).astype(np.uint16)


def write_voxel_labels(path: str | Path, labels: np.ndarray) -> Path:
    """Write uint16 raw label ids [x, y, z] as a voxel ``.label`` file, atomically."""
    path = Path(path)
    labels = np.asarray(labels)
    if labels.ndim != 3 or labels.dtype.kind not in "biu" or (labels.size and (labels.min() < 0
                                                                               or labels.max() > 0xFFFF)):
        raise ValueError(f"{path.name}: expected a 3-D grid of integer ids in [0, 65535], "
                         f"got shape {labels.shape} dtype {labels.dtype}")
    atomic_write_bytes(path, labels.astype("<u2").tobytes())
    return path


def read_voxels(stem: str | Path, shape: tuple[int, int, int] = VOXEL_SHAPE) -> dict[str, np.ndarray]:
    """Read every ``<stem>.{bin,label,invalid,occluded}`` that exists -> {"bin": bool, "label": uint16, ...}."""
    stem = Path(stem)
    out: dict[str, np.ndarray] = {}
    for suffix in VOXEL_SUFFIXES:
        p = stem.with_name(stem.name + suffix)
        if p.is_file():
            out[suffix[1:]] = read_voxel_labels(p, shape) if suffix == ".label" else read_voxel_bits(p, shape)
    return out


def write_voxels(stem: str | Path, *, bin: np.ndarray | None = None, label: np.ndarray | None = None,
                 invalid: np.ndarray | None = None, occluded: np.ndarray | None = None) -> list[Path]:
    """Write the given grids as ``<stem>.bin`` / ``.label`` / ``.invalid`` / ``.occluded``."""
    stem = Path(stem)
    written = []
    for suffix, grid in ((".bin", bin), (".invalid", invalid), (".occluded", occluded)):
        if grid is not None:
            written.append(write_voxel_bits(stem.with_name(stem.name + suffix), grid))
    if label is not None:
        written.append(write_voxel_labels(stem.with_name(stem.name + ".label"), label))
    return written


def read_point_labels(path: str | Path, num_points: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Read ``labels/<frame>.label`` -> (raw semantic uint16, instance uint16) per point."""
    path = Path(path)
    raw = _fromfile(path, np.dtype("<u4"))
    if path.stat().st_size % 4:
        raise InputFileError(path, f"{path.stat().st_size} bytes is not a whole number of uint32 point labels")
    if num_points is not None and raw.size != num_points:
        raise InputFileError(path, f"{raw.size} labels for a scan of {num_points} points")
    return (raw & 0xFFFF).astype(np.uint16), (raw >> 16).astype(np.uint16)


def write_point_labels(path: str | Path, semantic: np.ndarray, instance: np.ndarray | None = None) -> Path:
    """Write per-point uint32 labels (``instance << 16 | semantic``), atomically."""
    sem = np.asarray(semantic).astype(np.uint32) & 0xFFFF
    inst = np.zeros_like(sem) if instance is None else np.asarray(instance).astype(np.uint32) & 0xFFFF
    atomic_write_bytes(Path(path), ((inst << 16) | sem).astype("<u4").tobytes())
    return Path(path)


def read_poses(path: str | Path) -> np.ndarray:
    """Read ``poses.txt`` (12 numbers per line: a row-major 3x4) -> (N, 4, 4) float64, camera-0 frame poses."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "poses file not found")
    if not path.read_text().strip():
        raise InputFileError(path, "empty; expected one pose (12 numbers, a row-major 3x4) per line")
    try:
        rows = np.loadtxt(path, dtype=np.float64, ndmin=2)
    except ValueError as exc:
        raise InputFileError(path, f"expected 12 numbers per line (a 3x4 pose): {exc}") from exc
    if rows.shape[1] != 12:
        raise InputFileError(path, f"{rows.shape[1]} numbers per line; expected 12 (a row-major 3x4 pose)")
    poses = np.tile(np.eye(4), (len(rows), 1, 1))
    poses[:, :3, :4] = rows.reshape(-1, 3, 4)
    return poses


def read_calib(path: str | Path) -> dict[str, np.ndarray]:
    """Read ``calib.txt`` ("KEY: 12 numbers" per line) -> {key: 4x4 (Tr) or 3x4 (P0..P3)} float64."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "calibration file not found")
    out: dict[str, np.ndarray] = {}
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        key, sep, values = line.partition(":")
        try:
            nums = np.array(values.split(), dtype=np.float64)
        except ValueError as exc:
            raise InputFileError(path, f"line {lineno}: expected 'KEY: 12 numbers', got {line!r}") from exc
        if not sep or nums.size != 12:
            raise InputFileError(path, f"line {lineno}: expected 'KEY: 12 numbers', got {line!r}")
        m = nums.reshape(3, 4)
        out[key.strip()] = np.vstack([m, [0.0, 0.0, 0.0, 1.0]]) if key.strip() == "Tr" else m
    return out


def write_poses(path: str | Path, poses: np.ndarray) -> Path:
    """Write (N, 4, 4) poses as ``poses.txt`` (row-major 3x4 per line)."""
    poses = np.asarray(poses, dtype=np.float64).reshape(-1, 4, 4)
    text = "\n".join(" ".join(f"{v:.9e}" for v in p[:3].ravel()) for p in poses) + "\n"
    atomic_write_bytes(Path(path), text.encode())
    return Path(path)


def write_calib(path: str | Path, calib: dict[str, np.ndarray]) -> Path:
    """Write ``calib.txt`` from {key: 3x4 or 4x4} (only the top 3x4 is stored)."""
    lines = [f"{k}: " + " ".join(f"{v:.12e}" for v in np.asarray(m, np.float64)[:3, :4].ravel())
             for k, m in calib.items()]
    atomic_write_bytes(Path(path), ("\n".join(lines) + "\n").encode())
    return Path(path)
