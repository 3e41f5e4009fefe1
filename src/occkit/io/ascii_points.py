"""ASCII point tables as LiDAR tools export them: ``.txt``, ``.csv``, ``.xyz`` and ``.pts``.

Rows of numbers separated by spaces, tabs, commas or semicolons, with ``#`` comments. A first line of names
names the columns, as exports write it: ``x,y,z,intensity``, PDAL's ``"X","Y","Z","Intensity"``, CloudCompare's
``//X,Y,Z,R,G,B``; x, y and z are then found by name wherever they stand. A ``.pts`` file (Leica, CloudCompare)
may start with its point count, which is checked against the rows, and its 4 or 7 columns are x y z intensity
[r g b]. Other files without names have x y z first.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np

from occkit.errors import InputFileError

ASCII_SUFFIXES = (".txt", ".csv", ".xyz", ".pts")
# the Leica PTS layouts: x y z, then intensity, then colour
PTS_COLUMNS = {4: ["x", "y", "z", "intensity"], 7: ["x", "y", "z", "intensity", "r", "g", "b"]}
_HEAD_BYTES = 65536


def read_ascii_table(path: Path) -> tuple[np.ndarray, list[str] | None]:
    """(N, C) float64 rows and the header's column names (lower case, None without a header)."""
    lines = _head_lines(path)
    index = next((i for i, line in enumerate(lines) if line.strip() and not line.lstrip().startswith("#")), None)
    if index is None:
        raise InputFileError(path, "holds no points (expected ASCII rows 'x y z [extra ...]')")
    first = lines[index]
    delimiter = "," if "," in first else (";" if ";" in first else None)
    tokens = _split(first, delimiter)
    declared = None
    names = None
    skip = 0
    if path.suffix.lower() == ".pts" and len(tokens) == 1 and tokens[0].isdigit():
        declared, skip = int(tokens[0]), index + 1
        later = next((line for line in lines[skip:] if line.strip() and not line.lstrip().startswith("#")), "")
        delimiter = "," if "," in later else (";" if ";" in later else None)
    elif not all(is_number(t) for t in tokens):
        names = [_column_name(t) for t in tokens]
        skip = index + 1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data" -> handled below
            table = np.loadtxt(path, dtype=np.float64, ndmin=2, comments="#", delimiter=delimiter, skiprows=skip)
    except ValueError as exc:
        raise InputFileError(path, f"expected ASCII rows 'x y z [extra ...]' with the same column count: {exc}") \
            from None
    if table.size == 0:
        raise InputFileError(path, "holds no points (expected ASCII rows 'x y z [extra ...]')")
    if names is not None and len(names) != table.shape[1]:
        raise InputFileError(path, f"its first line names {len(names)} columns ({', '.join(names)}) but the rows "
                                   f"have {table.shape[1]}")
    if declared is not None and declared != len(table):
        raise InputFileError(path, f"its first line declares {declared} points but it holds {len(table)} rows")
    if names is None and path.suffix.lower() == ".pts":
        names = PTS_COLUMNS.get(table.shape[1])
    return table, names


def xyz_first(path: Path, table: np.ndarray, names: list[str]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Coordinates and the other columns by their header names; x, y and z wherever the header puts them."""
    if len(set(names)) != len(names):
        raise InputFileError(path, f"its first line names a column twice: {', '.join(names)}")
    missing = [axis for axis in ("x", "y", "z") if axis not in names]
    if missing:
        raise InputFileError(path, f"its first line names the columns {', '.join(names)}; expected x, y and z among "
                                   "them (or pass columns= / --columns)")
    where = [names.index(axis) for axis in ("x", "y", "z")]
    fields = {name: table[:, i] for i, name in enumerate(names) if i not in where}
    return table[:, where], fields


def _head_lines(path: Path) -> list[str]:
    with path.open("r", errors="replace") as fh:
        return fh.read(_HEAD_BYTES).splitlines()


def _split(line: str, delimiter: str | None) -> list[str]:
    return [t.strip() for t in (line.split(delimiter) if delimiter else line.split()) if t.strip()]


def is_number(token: str) -> bool:
    """Whether a text field reads as a number (a header line's names do not)."""
    try:
        float(token)
    except ValueError:
        return False
    return True


def _column_name(token: str) -> str:
    """``"X"`` / ``//X`` / `` Intensity `` -> ``x`` / ``x`` / ``intensity``: the names tools write, made plain."""
    name = token.strip().strip("\"'").lstrip("/").strip().lower()
    return re.sub(r"\s+", "_", name) or "unnamed"
