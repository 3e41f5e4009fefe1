"""Checks that keep a reader from silently producing absurd coordinates.

- A raw ``.bin`` has no header: read with the wrong column count, its floats shear into coordinates like
  1.5e15. :func:`plausible_xyz` is the test a column guess must pass.
- One stray point (1e12) in a local cloud must not trigger the georeferencing shift that moves the whole cloud:
  :func:`far_outliers` finds points far from the cloud's body before the reader decides to recentre.
- A header (``.npy``, ``.las``) that claims more points than the file holds is refused before allocating.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from occkit.errors import InputFileError

MAX_PLAUSIBLE_M = 1.0e5  # no LiDAR sees 100 km; UTM-sized values are handled by recentring, not by guessing columns
OUTLIER_DISTANCE_M = 1.0e4  # a point this far from the cloud's median is not part of the scene


def plausible_xyz(table: np.ndarray) -> bool:
    """Whether the first three columns look like coordinates: mostly finite (NaN rows are the NaN policy's
    business) and, where finite, within a sane range."""
    xyz = np.asarray(table[:, :3], dtype=np.float64)
    finite = np.isfinite(xyz).all(axis=1)
    if len(xyz) == 0 or finite.mean() < 0.5:
        return False
    xyz = xyz[finite]
    spread = np.abs(xyz - np.median(xyz, axis=0)).max()
    return bool(np.abs(xyz).max() < MAX_PLAUSIBLE_M and spread < MAX_PLAUSIBLE_M)


def far_outliers(xyz: np.ndarray) -> np.ndarray:
    """Mask of points more than OUTLIER_DISTANCE_M from the per-axis median (robust to a few stray points)."""
    center = np.median(xyz, axis=0)
    return np.abs(np.asarray(xyz, dtype=np.float64) - center).max(axis=1) > OUTLIER_DISTANCE_M


def check_npy_header(path: Path) -> None:
    """Refuse a .npy whose header claims more bytes than the file holds (before np.load allocates them)."""
    with path.open("rb") as fh:
        try:
            version = np.lib.format.read_magic(fh)
            reader = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                      else np.lib.format.read_array_header_2_0)
            shape, _, dtype = reader(fh)
        except (ValueError, OSError, EOFError, SyntaxError) as exc:
            raise InputFileError(path, f"not a readable .npy array ({exc})") from None
        offset = fh.tell()
    need = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
    have = path.stat().st_size - offset
    if need > have:
        raise InputFileError(path, f".npy header claims shape {tuple(shape)} {dtype} ({need:,} bytes) but the file "
                                   f"holds {have:,} bytes of data: truncated, or a corrupt header")


def check_las_point_count(path: Path, point_count: int, record_bytes: int, data_offset: int,
                          compressed: bool) -> None:
    """Refuse a LAS/LAZ header whose point count the file cannot hold (LAZ compresses at most ~50x)."""
    have = path.stat().st_size - data_offset
    need = point_count * record_bytes
    if (not compressed and need > have) or (compressed and need > 50 * max(have, 1)):
        raise InputFileError(path, f"header claims {point_count:,} points ({need:,} bytes) but the file holds "
                                   f"{have:,} bytes of point data: truncated, or a corrupt header")
