"""Read and write point-cloud files: one entry point per direction, dispatching on the file suffix.

Formats
    ``.bin``       raw little-endian float32 rows. ``.pcd.bin`` (nuScenes) has 5 columns
                   (x y z intensity ring); a KITTI scan (``velodyne/`` folder or a 6-digit stem) has 4
                   (x y z intensity); Waymo's KITTI-format export (``velodyne/`` with 7-digit stems) has 6
                   (x y z intensity elongation timestamp). The name's count is used only when it gives plausible
                   coordinates; other names are inferred from the byte count and plausibility. When the guess is
                   absurd or ambiguous the reader refuses and names ``columns=`` (``--columns``).
    ``.pcd``       ascii / binary / binary_compressed via pypcd4, with occkit's header check (VERSION .5
                   and .6 headers accepted; see occkit.io.pcd).
    ``.ply``       via plyfile (the ``vertex`` element; damaged later elements are skipped with a warning).
    ``.las/.laz``  via laspy (lazrs backend for LAZ); coordinates in feet (WKT or GeoTIFF units) are
                   converted to metres with a warning.
    ``.npy``       an (N, >=3) array; ``.npz`` key ``points`` or ``xyz`` plus other per-point keys.
    ``.txt``, ``.csv``, ``.xyz``, ``.pts``  ASCII "x y z [extra ...]" per line (UAVScenes LiDAR, tool exports):
                   ``#`` comments, spaces, tabs, commas or semicolons; a first line of names (``x,y,z,intensity``,
                   PDAL's quoted names, CloudCompare's ``//X,Y,Z``) names the columns and says where x y z stand;
                   a .pts point count is checked (occkit.io.ascii_points).

Column names for the column formats (``.bin``, ``.npy``, ``points`` in ``.npz``, ASCII without names): x y z, then
``intensity``, ``ring``, then ``col5``, ``col6`` ... unless ``columns=`` names them.

Bad input policy (the same for every format)
    * a missing, empty, truncated or malformed file, a wrong column count, or a scan with no points
      raises :class:`occkit.errors.InputFileError` naming the file and what was expected;
    * rows whose x, y or z is NaN/inf raise ``InputFileError`` by default (``nonfinite="error"``), since a
      silently shortened scan hides sensor or export bugs. ``nonfinite="drop"`` drops those rows and
      warns with their count. An organized PCD (``HEIGHT`` > 1, as ROS, PCL and Ouster drivers write a
      scan) marks each missing return with NaN by the format's own convention: those cells are left out
      as no return, whatever ``nonfinite`` says. Extra fields may hold NaN; they are not checked.

Precision: ``PointCloud.xyz`` is float32 (what networks eat). Georeferenced clouds (UTM coordinates in
the millions of metres) would lose decimetres in float32, so when any coordinate exceeds
``RECENTER_ABOVE`` metres the reader subtracts ``origin`` (the floor of the bounding-box minimum, float64)
first; ``PointCloud.absolute_xyz()`` gives the float64 coordinates back. Points more than 10 km from the
cloud's median are stray outliers: they are left in place (outside any grid), warned about with their count,
and never decide the recentring.

Headers that claim more points than the file holds (``.npy``, ``.pcd``, ``.las``) are refused before
anything is allocated.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from occkit.errors import InputFileError
from occkit.io.ascii_points import ASCII_SUFFIXES, read_ascii_table, xyz_first
from occkit.io.las_units import las_units
from occkit.io.pcd import read_pcd_structured
from occkit.io.plausibility import check_las_point_count, check_npy_header, far_outliers, plausible_xyz
from occkit.io.ply import read_ply_vertices

RECENTER_ABOVE = 1.0e4  # metres; float32 spacing below it is <= 1 mm
DEFAULT_EXTRA_COLUMNS = ("intensity", "ring")
SUFFIXES = (".bin", ".pcd", ".ply", ".las", ".laz", ".npy", ".npz", *ASCII_SUFFIXES)

NonFinite = Literal["error", "drop"]
Columns = int | Sequence[str] | None


class NonFinitePointsWarning(UserWarning):
    """Rows with NaN/inf coordinates were dropped while reading (``nonfinite="drop"``)."""


class OutlierPointsWarning(UserWarning):
    """Points far from the rest of the cloud (likely sensor or export errors) were found and left out of
    the recentring decision."""


class UnitsWarning(UserWarning):
    """Coordinates declared in another length unit were converted to metres."""


@dataclass
class PointCloud:
    """Points of one scan: float32 ``xyz`` (N, 3) relative to ``origin``, per-point ``fields``."""

    xyz: np.ndarray
    fields: dict[str, np.ndarray] = field(default_factory=dict)
    path: Path | None = None
    origin: np.ndarray = field(default_factory=lambda: np.zeros(3))

    def __post_init__(self) -> None:
        self.xyz = np.ascontiguousarray(self.xyz, dtype=np.float32)
        if self.xyz.ndim != 2 or self.xyz.shape[1] != 3:
            raise ValueError(f"PointCloud.xyz must be (N, 3), got shape {self.xyz.shape}")
        self.origin = np.asarray(self.origin, dtype=np.float64).reshape(3)
        for name, values in self.fields.items():
            if len(values) != len(self.xyz):
                raise ValueError(f"PointCloud field {name!r} has {len(values)} values for {len(self.xyz)} points")

    def __len__(self) -> int:
        return len(self.xyz)

    def absolute_xyz(self) -> np.ndarray:
        """float64 (N, 3) coordinates with ``origin`` added back."""
        return self.xyz.astype(np.float64) + self.origin


# ---- reading ----------------------------------------------------------------------------------------


def read_points(path: str | Path, *, columns: Columns = None, nonfinite: NonFinite = "error") -> PointCloud:
    """Read any supported point file (see module docstring) into a PointCloud.

    ``columns`` (column formats only): the column count, or the names of all columns (x, y, z first).
    """
    path = Path(path)
    if nonfinite not in ("error", "drop"):
        raise ValueError(f"nonfinite must be 'error' or 'drop', got {nonfinite!r}")
    if path.is_dir():
        raise InputFileError(path, "is a directory; expected a point-cloud file (" + ", ".join(SUFFIXES) + ")")
    if not path.is_file():
        raise InputFileError(path, "file not found (expected a point-cloud file: " + ", ".join(SUFFIXES) + ")")
    suffix = path.suffix.lower()
    reader = _READERS.get(suffix)
    if reader is None:
        raise InputFileError(path, f"unsupported point-cloud suffix {suffix!r}; expected one of {SUFFIXES}")
    if columns is not None and suffix not in COLUMN_SUFFIXES:
        raise InputFileError(path, f"columns= (--columns) applies to {', '.join(COLUMN_SUFFIXES)} files, "
                                   f"not {suffix}")
    _requested_count(columns)  # a bad count is an error before any file is read
    if path.stat().st_size == 0:
        raise InputFileError(path, "file is empty (expected a point cloud with at least one point)")
    xyz, fields = reader(path, columns) if suffix in COLUMN_SUFFIXES else reader(path)
    return _finish(path, xyz, fields, nonfinite)


def read_labels_txt(path: str | Path, *, num_points: int | None = None) -> np.ndarray:
    """One integer class id per line -> int64 (N,); ``num_points`` checks the count against the scan."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "label file not found (expected one integer class id per line)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data" -> handled below
            labels = np.loadtxt(path, dtype=np.int64, ndmin=1, comments="#")
    except ValueError as exc:
        raise InputFileError(path, f"expected one integer class id per line: {exc}") from None
    if labels.ndim != 1:
        raise InputFileError(path, f"expected one integer per line, found {labels.shape[1]} columns")
    if len(labels) == 0:
        raise InputFileError(path, "label file is empty (expected one integer class id per line)")
    if num_points is not None and len(labels) != num_points:
        raise InputFileError(path, f"has {len(labels)} labels but the scan has {num_points} points")
    return labels


def _rows(xyz: np.ndarray, fields: dict[str, np.ndarray], keep: np.ndarray) -> tuple[np.ndarray, dict]:
    """The points ``keep`` selects, with their per-point fields."""
    return xyz[keep], {k: np.asarray(v)[keep] for k, v in fields.items()}


def _finish(path: Path, xyz: np.ndarray, fields: dict[str, np.ndarray], nonfinite: NonFinite) -> PointCloud:
    """Shared tail of every reader: emptiness, NaN/inf policy, recentring, float32."""
    if len(xyz) == 0:
        raise InputFileError(path, "holds no points (expected a scan with at least one point)")
    finite = np.isfinite(xyz).all(axis=1)
    bad = int(len(finite) - finite.sum())
    if bad:
        if nonfinite == "error":
            first = int(np.flatnonzero(~finite)[0])
            raise InputFileError(path, f"{bad} of {len(xyz)} points have NaN/inf coordinates (first at row {first}); "
                                       "expected finite x y z, or read with nonfinite='drop' (occkit voxelize "
                                       "--drop-nonfinite)")
        warnings.warn(f"{path}: dropped {bad} of {len(xyz)} points with NaN/inf coordinates",
                      NonFinitePointsWarning, stacklevel=3)
        xyz, fields = _rows(xyz, fields, finite)
        if len(xyz) == 0:
            raise InputFileError(path, "every point has NaN/inf coordinates (expected finite x y z)")
    origin = np.zeros(3)
    if np.abs(xyz).max() > RECENTER_ABOVE:
        body = np.ones(len(xyz), dtype=bool)
        stray = far_outliers(xyz)
        if stray.any() and not stray.all():
            body = ~stray
            far = np.abs(np.asarray(xyz, np.float64)[stray]).max()
            warnings.warn(f"{path}: {int(stray.sum())} of {len(xyz)} points lie more than 10 km from the rest of the "
                          f"cloud (max |coordinate| {far:.3g}); kept as they are, and not used to place the cloud",
                          OutlierPointsWarning, stacklevel=3)
        if np.abs(xyz[body]).max() > RECENTER_ABOVE:
            origin = np.floor(xyz[body].min(axis=0).astype(np.float64))
            xyz = xyz.astype(np.float64) - origin
    return PointCloud(xyz=xyz, fields={k: np.ascontiguousarray(v) for k, v in fields.items()},
                      path=path, origin=origin)


def _column_names(path: Path, ncols: int, columns: Columns) -> list[str]:
    """Names of all ncols columns: given names, or x y z + DEFAULT_EXTRA_COLUMNS + colK."""
    if ncols < 3:
        raise InputFileError(path, f"has {ncols} columns; expected at least 3 (x y z)")
    if columns is not None and not isinstance(columns, int):
        names = list(columns)
        if len(names) != ncols:
            raise InputFileError(path, f"has {ncols} columns but columns= names {len(names)}: {names}")
        if len(set(names)) != len(names):
            raise ValueError(f"columns= has duplicate names: {names}")
        return names
    extra = [*DEFAULT_EXTRA_COLUMNS, *(f"col{k}" for k in range(5, ncols))][: ncols - 3]
    return ["x", "y", "z", *extra]


# no point format carries more per-point fields than this (PCL's richest, xyz + rgb + normals + curvature, has 10):
# a wider table is a depth map or an image, which would read as rows of "points" without a word
MAX_POINT_COLUMNS = 32


def _split_columns(path: Path, table: np.ndarray, columns: Columns) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    if table.shape[1] > MAX_POINT_COLUMNS and columns is None:
        raise InputFileError(path, f"array has shape {table.shape}: {table.shape[1]} columns is an image or a depth "
                                   f"map, not points (N rows of x y z, then at most {MAX_POINT_COLUMNS - 3} per-point "
                                   "fields); `occkit predict --camera camera.json` reads depth maps")
    names = _column_names(path, table.shape[1], columns)
    return table[:, :3], {name: table[:, i] for i, name in enumerate(names[3:], start=3)}


def _requested_count(columns: Columns) -> int | None:
    if columns is None:
        return None
    if isinstance(columns, int):
        if columns < 3:
            raise InputFileError("--columns", f"must be at least 3 (x y z), got {columns}")
        return columns
    return len(list(columns))


def _bin_columns_by_name(path: Path) -> int | None:
    """Column count the file name promises: nuScenes ``*.pcd.bin`` -> 5; Waymo's KITTI-format export
    (mmdetection3d's converter: ``velodyne/`` + prefix, 3-digit file and 3-digit frame index, ``0000000.bin``) -> 6;
    KITTI ``velodyne/NNNNNN.bin`` -> 4."""
    if path.name.lower().endswith(".pcd.bin"):
        return 5
    in_velodyne = path.parent.name.lower() == "velodyne"
    if in_velodyne and re.fullmatch(r"\d{7}", path.stem):
        return 6
    if in_velodyne or re.fullmatch(r"\d{6}", path.stem):
        return 4
    return None


BIN_COLUMN_NAMES = {4: ("intensity",), 5: ("intensity", "ring"), 6: ("intensity", "elongation", "timestamp")}
_BIN_GUESSES = (4, 5, 6)


def _read_bin(path: Path, columns: Columns) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    size = path.stat().st_size
    ncols = _requested_count(columns)
    if ncols is None:
        ncols = _guess_bin_columns(path, size)
    row = 4 * ncols
    if size % row:
        raise InputFileError(path, f"{size} bytes is not a whole number of {ncols}-column float32 rows "
                                   f"({row} bytes each; {size % row} bytes left over): truncated or wrong column count")
    table = np.fromfile(path, dtype="<f4").reshape(-1, ncols)
    if (columns is None or isinstance(columns, int)) and ncols in BIN_COLUMN_NAMES:
        columns = ["x", "y", "z", *BIN_COLUMN_NAMES[ncols]]
    return _split_columns(path, table, columns)


def _guess_bin_columns(path: Path, size: int) -> int:
    """The column count of a header-less .bin: the name's promise or the byte count, checked for plausibility."""
    fits = [c for c in _BIN_GUESSES if size % (4 * c) == 0]
    plausible = [c for c in fits if plausible_xyz(_peek_bin(path, c))]
    named = _bin_columns_by_name(path)
    hint = "pass columns= / --columns (KITTI .bin has 4, nuScenes .pcd.bin 5, Waymo KITTI-format 6)"
    if named is not None:
        if named in plausible:
            return named
        if named not in fits:
            return named  # the size check then names the truncation
        others = f"; {plausible} columns give plausible coordinates" if plausible else ""
        raise InputFileError(path, f"its name promises {named} float32 columns, but read that way the coordinates "
                                   f"are absurd (far beyond any sensor's range){others}: {hint}")
    if len(plausible) == 1:
        return plausible[0]
    if not fits:
        why = f"none of {list(_BIN_GUESSES)} float32 columns fit"
    elif plausible:
        why = f"{plausible} columns all fit and give plausible coordinates"
    else:
        why = f"{fits} columns fit, none with plausible coordinates"
    raise InputFileError(path, f"{size} bytes: {why}; {hint}")


def _peek_bin(path: Path, ncols: int, rows: int = 4096) -> np.ndarray:
    """Up to ``rows`` rows spread through the file (start, middle, end) as an (n, ncols) float32 table."""
    table = np.memmap(path, dtype="<f4", mode="r").reshape(-1, ncols)
    step = max(1, len(table) // rows)
    return np.asarray(table[::step][:rows])


def _read_npy(path: Path, columns: Columns) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    check_npy_header(path)
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InputFileError(path, f"not a readable .npy array ({exc})") from None
    if arr.ndim != 2:
        raise InputFileError(path, f"array has shape {arr.shape}; expected (N, >=3) with columns x y z ...")
    return _split_columns(path, arr, columns)


def _read_npz(path: Path, columns: Columns) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            data = {k: npz[k] for k in npz.files}
    except (ValueError, OSError, EOFError) as exc:
        raise InputFileError(path, f"not a readable .npz archive ({exc})") from None
    key = "points" if "points" in data else "xyz" if "xyz" in data else None
    if key is None:
        raise InputFileError(path, f"has keys {sorted(data)}; expected a 'points' or 'xyz' array of shape (N, >=3)")
    table = data.pop(key)
    if table.ndim != 2 or table.shape[1] < 3:
        raise InputFileError(path, f"key {key!r} has shape {table.shape}; expected (N, >=3)")
    xyz, fields = _split_columns(path, table, columns)
    for name, values in data.items():
        if values.shape[:1] != (len(xyz),):
            raise InputFileError(path, f"key {name!r} has shape {values.shape}; expected {len(xyz)} per-point values")
        if name in fields:
            raise InputFileError(path, f"key {name!r} clashes with a column of {key!r}")
        fields[name] = values
    return xyz, fields


def _read_ascii(path: Path, columns: Columns) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    table, names = read_ascii_table(path)
    want = _requested_count(columns)
    if want is not None and want != table.shape[1]:
        raise InputFileError(path, f"has {table.shape[1]} columns per row but columns= expects {want}")
    if names is not None and columns is None:
        return xyz_first(path, table, names)
    return _split_columns(path, table, columns)


def _read_pcd(path: Path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    data, organized = read_pcd_structured(path)
    # pypcd4 renames PCL's "_" padding fields to "#$%&~~<random>" and splits COUNT > 1 fields into name__0000 ...
    keep = [n for n in data.dtype.names or () if not n.startswith("#$%&~~")]
    xyz, fields = _structured_to_points(path, data[keep] if len(keep) != len(data.dtype.names or ()) else data)
    if organized:  # NaN is how an organized cloud says "no return here", not a damaged point: leave those out
        returned = np.isfinite(xyz).all(axis=1)
        if not returned.any():
            raise InputFileError(path, f"organized PCD ({len(xyz)} cells) holds no return: every point is NaN/inf")
        if not returned.all():
            xyz, fields = _rows(xyz, fields, returned)
    return xyz, fields


def _read_ply(path: Path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    return _structured_to_points(path, read_ply_vertices(path))


def _structured_to_points(path: Path, data: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    names = data.dtype.names or ()
    # x y z as PCL and most tools write them, else X Y Z (some photogrammetry and LAS-to-PLY exports)
    axes = next((case for case in ("xyz", "XYZ") if all(c in names for c in case)), None)
    if axes is None:
        raise InputFileError(path, f"has fields {list(names)}; expected x, y and z")
    if any(data.dtype[c].shape for c in axes):
        raise InputFileError(path, "has multi-count x/y/z fields; expected one scalar per point")
    xyz = np.stack([np.asarray(data[c], dtype=np.float64) for c in axes], axis=1)
    fields = {n: np.array(data[n]) for n in names if n not in axes}
    return xyz, fields


def _read_las(path: Path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    import laspy

    try:
        with laspy.open(path) as reader:
            h = reader.header
            check_las_point_count(path, int(h.point_count), int(h.point_format.size), int(h.offset_to_point_data),
                                  compressed=path.suffix.lower() == ".laz" or h.point_format.id >= 128)
            las = reader.read()
    except InputFileError:
        raise
    except Exception as exc:  # laspy raises LaspyException, ValueError, OSError on bad files
        raise InputFileError(path, f"not a readable LAS/LAZ file: {type(exc).__name__}: {exc}") from None
    if len(las.points) != las.header.point_count:
        raise InputFileError(path, f"header promises {las.header.point_count} points but {len(las.points)} were read")
    xyz = np.stack([np.asarray(las.x), np.asarray(las.y), np.asarray(las.z)], axis=1)
    units = las_units(las.header)
    if not units.is_metric:
        xyz = xyz * np.array([units.horizontal, units.horizontal, units.vertical])
        warnings.warn(f"{path}: coordinates declared in {units.horizontal_name} (x, y) and {units.vertical_name} (z); "
                      "converted to metres", UnitsWarning, stacklevel=3)
    fields = {n: np.array(las[n]) for n in las.point_format.dimension_names if n not in ("X", "Y", "Z")}
    return xyz, fields


_READERS = {".bin": _read_bin, ".npy": _read_npy, ".npz": _read_npz,
            **dict.fromkeys(ASCII_SUFFIXES, _read_ascii),
            ".pcd": _read_pcd, ".ply": _read_ply, ".las": _read_las, ".laz": _read_las}
COLUMN_SUFFIXES = (".bin", ".npy", ".npz", *ASCII_SUFFIXES)


# ---- writing ----------------------------------------------------------------------------------------


def write_points(path: str | Path, xyz: np.ndarray, fields: Mapping[str, np.ndarray] | None = None, *,
                 origin: np.ndarray | None = None, pcd_encoding: str = "binary_compressed") -> Path:
    """Write (N, 3) points (+ per-point fields) in the format the suffix names; returns the path.

    ``origin`` (float64 (3,)) is added to ``xyz`` first, so ``write_points(p, pc.xyz, pc.fields,
    origin=pc.origin)`` writes a cloud back at its true coordinates. Column formats store fields as
    float32 columns in the given order (``.npy`` and ``.bin`` lose the names; ``.npz`` keeps them).
    A ``.bin`` written without fields gets zero ``intensity`` (and ``ring`` for ``.pcd.bin``) so
    KITTI/nuScenes readers accept it.
    """
    path = Path(path)
    pts = np.asarray(xyz)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise ValueError(f"write_points({path}): xyz must be (N, 3), got shape {pts.shape}")
    if origin is not None:
        pts = pts.astype(np.float64) + np.asarray(origin, dtype=np.float64).reshape(3)
    fields = {k: np.asarray(v) for k, v in (fields or {}).items()}
    for name, values in fields.items():
        if values.shape != (len(pts),):
            raise ValueError(f"write_points({path}): field {name!r} has shape {values.shape}, expected ({len(pts)},)")
    suffix = path.suffix.lower()
    writer = _WRITERS.get(suffix)
    if writer is None:
        raise ValueError(f"write_points({path}): unsupported suffix {suffix!r}; expected one of {tuple(_WRITERS)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".pcd":
        _write_pcd(path, pts, fields, pcd_encoding)
    else:
        writer(path, pts, fields)
    return path


def _columns_table(pts: np.ndarray, fields: dict[str, np.ndarray], dtype: type) -> np.ndarray:
    return np.column_stack([pts, *fields.values()]).astype(dtype) if fields else pts.astype(dtype)


def _write_bin(path: Path, pts: np.ndarray, fields: dict[str, np.ndarray]) -> None:
    expected = _bin_columns_by_name(path)
    if not fields:
        pad = (expected or 4) - 3
        fields = {name: np.zeros(len(pts), np.float32) for name in DEFAULT_EXTRA_COLUMNS[:pad]}
    ncols = 3 + len(fields)
    if expected is not None and ncols != expected:
        raise ValueError(f"write_points({path}): this name means {expected} float32 columns, got x y z + "
                         f"{list(fields)} = {ncols}")
    _columns_table(pts, fields, np.float32).astype("<f4").tofile(path)


def _write_npy(path: Path, pts: np.ndarray, fields: dict[str, np.ndarray]) -> None:
    np.save(path, _columns_table(pts, fields, np.float32))


def _write_npz(path: Path, pts: np.ndarray, fields: dict[str, np.ndarray]) -> None:
    if "xyz" in fields:
        raise ValueError(f"write_points({path}): a field may not be called 'xyz'")
    np.savez_compressed(path, xyz=pts.astype(np.float32), **fields)


def _write_txt(path: Path, pts: np.ndarray, fields: dict[str, np.ndarray]) -> None:
    np.savetxt(path, _columns_table(pts, fields, np.float64), fmt="%.9g")


def _write_csv(path: Path, pts: np.ndarray, fields: dict[str, np.ndarray]) -> None:
    """With a header line of names, so the fields come back under them."""
    np.savetxt(path, _columns_table(pts, fields, np.float64), fmt="%.9g", delimiter=",",
               header=",".join(("x", "y", "z", *fields)), comments="")


def _write_pcd(path: Path, pts: np.ndarray, fields: dict[str, np.ndarray], encoding: str) -> None:
    import pypcd4

    names = ("x", "y", "z", *fields)
    cols = [pts[:, 0], pts[:, 1], pts[:, 2], *fields.values()]
    xyz_type = np.float64 if pts.dtype == np.float64 else np.float32
    types = (xyz_type,) * 3 + tuple(v.dtype.type for v in fields.values())
    try:
        enc = pypcd4.Encoding(encoding)
    except ValueError:
        raise ValueError(f"pcd_encoding must be one of {[e.value for e in pypcd4.Encoding]}, got {encoding!r}") \
            from None
    pypcd4.PointCloud.from_points(cols, names, types).save(path, encoding=enc)


def _write_ply(path: Path, pts: np.ndarray, fields: dict[str, np.ndarray]) -> None:
    import plyfile

    xyz_type = "f8" if pts.dtype == np.float64 else "f4"
    dtype = [("x", xyz_type), ("y", xyz_type), ("z", xyz_type), *((n, v.dtype.str) for n, v in fields.items())]
    vertex = np.empty(len(pts), dtype=dtype)
    vertex["x"], vertex["y"], vertex["z"] = pts[:, 0], pts[:, 1], pts[:, 2]
    for name, values in fields.items():
        vertex[name] = values
    plyfile.PlyData([plyfile.PlyElement.describe(vertex, "vertex")]).write(str(path))


def _write_las(path: Path, pts: np.ndarray, fields: dict[str, np.ndarray]) -> None:
    """LAS 1.4 point format 6; standard dimensions by name, the rest as extra bytes. xyz kept to 0.1 mm."""
    import laspy

    header = laspy.LasHeader(point_format=6, version="1.4")
    p = pts.astype(np.float64)
    header.offsets = np.floor(p.min(axis=0)) if len(p) else np.zeros(3)
    header.scales = np.array([1e-4, 1e-4, 1e-4])
    standard = set(header.point_format.dimension_names)
    extras = {n: v for n, v in fields.items() if n not in standard}
    header.add_extra_dims([laspy.ExtraBytesParams(name=n, type=v.dtype) for n, v in extras.items()])
    las = laspy.LasData(header)
    las.x, las.y, las.z = p[:, 0], p[:, 1], p[:, 2]
    for name, values in fields.items():
        if name in standard:
            std = las[name].dtype
            cast = values.astype(std)
            if not np.array_equal(cast, values):
                raise ValueError(f"write_points({path}): LAS field {name!r} is stored as {std}; "
                                 f"its values ({values.dtype}) do not fit without change")
            values = cast
        las[name] = values
    las.write(str(path))


_WRITERS = {".bin": _write_bin, ".npy": _write_npy, ".npz": _write_npz, ".txt": _write_txt, ".csv": _write_csv,
            ".pcd": _write_pcd, ".ply": _write_ply, ".las": _write_las, ".laz": _write_las}
