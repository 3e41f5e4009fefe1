"""occkit.io.points: every format round-trips, real LAS files read, every bad input raises InputFileError."""

from __future__ import annotations

from pathlib import Path

import laspy
import numpy as np
import pytest
from real_data import REAL_DIR

from occkit.errors import InputFileError
from occkit.io.points import (
    RECENTER_ABOVE,
    NonFinitePointsWarning,
    PointCloud,
    read_labels_txt,
    read_points,
    write_points,
)

REAL = sorted(REAL_DIR.glob("*.las"))


@pytest.fixture
def cloud() -> tuple[np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.default_rng(7)
    xyz = (rng.normal(size=(257, 3)) * 25).astype(np.float32)
    fields = {"intensity": rng.integers(0, 255, 257).astype(np.float32),
              "ring": rng.integers(0, 32, 257).astype(np.float32)}
    return xyz, fields


@pytest.mark.parametrize("name", ["scan.pcd.bin", "000042.bin", "scan.npy", "scan.npz", "scan.txt", "scan.csv",
                                  "scan.pcd", "scan.ply", "scan.las", "scan.laz"])
def test_round_trip_every_format(tmp_path: Path, cloud, name: str) -> None:
    xyz, fields = cloud
    if name == "000042.bin":  # KITTI: x y z intensity
        fields = {"intensity": fields["intensity"]}
    path = write_points(tmp_path / name, xyz, fields)
    pc = read_points(path)
    assert isinstance(pc, PointCloud) and pc.path == path and len(pc) == len(xyz)
    assert pc.xyz.dtype == np.float32 and pc.xyz.shape == xyz.shape
    tol = 1e-4 if path.suffix in (".las", ".laz") else 0.0  # LAS stores 0.1 mm integers
    np.testing.assert_allclose(pc.xyz, xyz, atol=tol, rtol=0)
    for key, values in fields.items():
        np.testing.assert_array_equal(pc.fields[key].astype(np.float32), values, err_msg=key)
    if path.suffix not in (".las", ".laz"):  # LAS adds its standard dimensions
        assert set(pc.fields) == set(fields)


@pytest.mark.parametrize("encoding", ["ascii", "binary", "binary_compressed"])
def test_pcd_encodings_keep_dtypes(tmp_path: Path, cloud, encoding: str) -> None:
    xyz, _ = cloud
    label = np.arange(len(xyz), dtype=np.uint16)
    pc = read_points(write_points(tmp_path / "a.pcd", xyz, {"label": label}, pcd_encoding=encoding))
    np.testing.assert_array_equal(pc.xyz, xyz)
    assert pc.fields["label"].dtype == np.uint16
    np.testing.assert_array_equal(pc.fields["label"], label)


def test_pcl_pcd_with_padding_and_multi_count_fields(tmp_path: Path) -> None:
    path = tmp_path / "pcl.pcd"
    path.write_text("VERSION 0.7\nFIELDS x y z _ intensity normal\nSIZE 4 4 4 1 4 4\nTYPE F F F U F F\n"
                    "COUNT 1 1 1 4 1 3\nWIDTH 2\nHEIGHT 1\nVIEWPOINT 0 0 0 1 0 0 0\nPOINTS 2\nDATA ascii\n"
                    "1 2 3 0 0 0 0 7 0 0 1\n4 5 6 0 0 0 0 8 0 1 0\n")
    pc = read_points(path)
    np.testing.assert_array_equal(pc.xyz, [[1, 2, 3], [4, 5, 6]])
    assert sorted(pc.fields) == ["intensity", "normal__0000", "normal__0001", "normal__0002"]
    np.testing.assert_array_equal(pc.fields["normal__0001"], [0, 1])


def test_bin_without_fields_is_padded_for_standard_readers(tmp_path: Path, cloud) -> None:
    xyz, _ = cloud
    nus = write_points(tmp_path / "a.pcd.bin", xyz)
    assert nus.stat().st_size == len(xyz) * 20
    assert set(read_points(nus).fields) == {"intensity", "ring"}
    with pytest.raises(ValueError, match="5 float32 columns"):
        write_points(tmp_path / "b.pcd.bin", xyz, {"intensity": np.zeros(len(xyz))})


def test_bin_columns_inferred_by_divisibility_and_named(tmp_path: Path, cloud) -> None:
    xyz, fields = cloud  # 257 rows: 257*16 is not a multiple of 20 and 257*20 not of 16
    four = write_points(tmp_path / "scan_a.bin", xyz, {"intensity": fields["intensity"]})
    five = write_points(tmp_path / "scan_b.bin", xyz, fields)
    assert set(read_points(four).fields) == {"intensity"}
    assert set(read_points(five).fields) == {"intensity", "ring"}
    named = read_points(five, columns=["x", "y", "z", "reflectance", "beam"])
    np.testing.assert_array_equal(named.fields["beam"], fields["ring"])


def test_columns_txt_with_extra_columns_and_commas(tmp_path: Path) -> None:
    path = tmp_path / "uav.txt"
    path.write_text("# x, y, z, r\n\n1.5,2,3,0.25\n-4,5.5,6,1\n")
    pc = read_points(path)
    np.testing.assert_array_equal(pc.xyz, [[1.5, 2, 3], [-4, 5.5, 6]])
    np.testing.assert_array_equal(pc.fields["intensity"], [0.25, 1])
    spaced = tmp_path / "spaced.txt"
    spaced.write_text("# x, y, z\n1 2 3\n4 5 6\n")  # a comma in the comment does not switch the delimiter
    np.testing.assert_array_equal(read_points(spaced).xyz, [[1, 2, 3], [4, 5, 6]])


def test_npz_points_key_and_per_point_keys(tmp_path: Path, cloud) -> None:
    xyz, fields = cloud
    path = tmp_path / "a.npz"
    np.savez(path, points=np.column_stack([xyz, fields["intensity"]]), label=np.arange(len(xyz)))
    pc = read_points(path)
    np.testing.assert_array_equal(pc.xyz, xyz)
    np.testing.assert_array_equal(pc.fields["intensity"], fields["intensity"])
    np.testing.assert_array_equal(pc.fields["label"], np.arange(len(xyz)))


# metres per file unit: aerial_classified.las declares US survey feet (WKT UNIT["Foot_US",0.3048006...] and
# GeoTIFF keys 3076 = 4099 = 9003); ground_vegetation.las declares no coordinate system (metres)
METRES_PER_UNIT = {"aerial_classified.las": 1200.0 / 3937.0, "ground_vegetation.las": 1.0}


@pytest.mark.parametrize("path", REAL, ids=[p.name for p in REAL])
def test_real_las_files(path: Path) -> None:
    import warnings

    from occkit.io.points import UnitsWarning

    las = laspy.read(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pc = read_points(path)
    factor = METRES_PER_UNIT[path.name]
    assert any(issubclass(w.category, UnitsWarning) for w in caught) == (factor != 1.0)
    assert len(pc) == las.header.point_count > 1000
    np.testing.assert_array_equal(pc.fields["classification"], np.asarray(las.classification))
    truth = np.stack([las.x, las.y, las.z], axis=1) * factor
    np.testing.assert_allclose(pc.absolute_xyz(), truth, atol=1e-3, rtol=0)  # float32 near the origin: ~mm
    if np.abs(truth).max() > RECENTER_ABOVE:  # georeferenced: recentred so float32 keeps millimetres
        assert np.any(pc.origin != 0) and np.abs(pc.xyz).max() < 1e4


def test_write_with_origin_restores_georeferenced_coordinates(tmp_path: Path) -> None:
    pc = read_points(REAL[0])
    back = read_points(write_points(tmp_path / "geo.las", pc.xyz, origin=pc.origin))
    np.testing.assert_allclose(back.absolute_xyz(), pc.absolute_xyz(), atol=2e-3, rtol=0)


# ---- bad input ------------------------------------------------------------------------------------


def _raises(path: Path, match: str, **kwargs) -> InputFileError:
    with pytest.raises(InputFileError, match=match) as info:
        read_points(path, **kwargs)
    assert str(path) in str(info.value)  # the message names the file
    return info.value


def test_missing_file(tmp_path: Path) -> None:
    _raises(tmp_path / "nope.pcd.bin", "not found")


@pytest.mark.parametrize("name", ["a.bin", "a.pcd", "a.ply", "a.las", "a.npy", "a.npz", "a.txt"])
def test_empty_file(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_bytes(b"")
    _raises(tmp_path / name, "empty")


def test_unsupported_suffix(tmp_path: Path) -> None:
    (tmp_path / "a.e57").write_bytes(b"ASTM-E57")
    _raises(tmp_path / "a.e57", "unsupported")


def test_ascii_exports_with_named_columns(tmp_path: Path) -> None:
    """The tables LiDAR tools export: PDAL's quoted names, CloudCompare's '//' header with x y z not first, a .pts
    with its point count, .xyz without names; and the first line's promises are checked."""
    pdal = tmp_path / "pdal.csv"
    pdal.write_text('"X","Y","Z","Intensity","ReturnNumber"\n1.5,2.5,3.5,10,1\n-1,0.5,2,20,2\n')
    pc = read_points(pdal)
    np.testing.assert_array_equal(pc.xyz, [[1.5, 2.5, 3.5], [-1, 0.5, 2]])
    assert sorted(pc.fields) == ["intensity", "returnnumber"] and list(pc.fields["intensity"]) == [10, 20]
    cloudcompare = tmp_path / "cc.txt"
    cloudcompare.write_text("//R G B X Y Z\n255 0 0 1 2 3\n0 255 0 4 5 6\n")
    pc = read_points(cloudcompare)
    np.testing.assert_array_equal(pc.xyz, [[1, 2, 3], [4, 5, 6]])
    assert list(pc.fields["g"]) == [0, 255]
    semicolons = tmp_path / "semi.csv"
    semicolons.write_text("intensity;z;y;x\n1;2;3;4\n")
    np.testing.assert_array_equal(read_points(semicolons).xyz, [[4, 3, 2]])
    pts = tmp_path / "scan.pts"
    pts.write_text("2\n1 2 3 0.5 255 0 0\n4 5 6 0.25 0 0 255\n")
    pc = read_points(pts)
    np.testing.assert_array_equal(pc.xyz, [[1, 2, 3], [4, 5, 6]])
    assert sorted(pc.fields) == ["b", "g", "intensity", "r"] and list(pc.fields["b"]) == [0, 255]
    (tmp_path / "plain.xyz").write_text("1 2 3\n4 5 6\n")
    np.testing.assert_array_equal(read_points(tmp_path / "plain.xyz").xyz, [[1, 2, 3], [4, 5, 6]])
    (tmp_path / "short.pts").write_text("4\n1 2 3\n4 5 6\n")
    _raises(tmp_path / "short.pts", "declares 4 points but it holds 2 rows")
    (tmp_path / "wide.csv").write_text("x,y,z\n1,2,3,4\n")
    _raises(tmp_path / "wide.csv", r"names 3 columns \(x, y, z\) but the rows have 4")
    (tmp_path / "anon.csv").write_text("a,b,c\n1,2,3\n")
    _raises(tmp_path / "anon.csv", "expected x, y and z among them")
    np.testing.assert_array_equal(read_points(tmp_path / "anon.csv", columns=["x", "y", "z"]).xyz, [[1, 2, 3]])
    (tmp_path / "twice.csv").write_text("x,y,z,x\n1,2,3,4\n")
    _raises(tmp_path / "twice.csv", "names a column twice")


def test_truncated_nuscenes_bin(tmp_path: Path, cloud) -> None:
    xyz, fields = cloud
    path = write_points(tmp_path / "a.pcd.bin", xyz, fields)
    path.write_bytes(path.read_bytes()[:-6])
    _raises(path, "5-column float32 rows.*14 bytes left over")


def test_bin_ambiguous_and_neither(tmp_path: Path) -> None:
    (tmp_path / "both.bin").write_bytes(np.zeros(20, np.float32).tobytes())  # 80 bytes: 4 and 5 columns fit
    _raises(tmp_path / "both.bin", r"\[4, 5\] columns all fit")
    (tmp_path / "none.bin").write_bytes(np.zeros(7, np.float32).tobytes())  # 28 bytes
    _raises(tmp_path / "none.bin", r"none of \[4, 5, 6\] float32 columns fit")
    assert len(read_points(tmp_path / "both.bin", columns=5)) == 4


def test_wrong_column_count(tmp_path: Path, cloud) -> None:
    (tmp_path / "two.txt").write_text("1 2\n3 4\n")
    _raises(tmp_path / "two.txt", "expected at least 3")
    (tmp_path / "ragged.txt").write_text("1 2 3\n4 5 6 7\n")
    _raises(tmp_path / "ragged.txt", "same column count")
    (tmp_path / "four.txt").write_text("1 2 3 4\n")
    _raises(tmp_path / "four.txt", "columns= expects 3", columns=3)
    np.save(tmp_path / "flat.npy", np.zeros((5, 2), np.float32))
    _raises(tmp_path / "flat.npy", "expected at least 3")
    np.save(tmp_path / "cube.npy", np.zeros((5, 3, 1), np.float32))
    _raises(tmp_path / "cube.npy", "expected \\(N, >=3\\)")
    write_points(tmp_path / "a.pcd.bin", cloud[0])  # 257 rows of 5 columns read as 4 columns
    _raises(tmp_path / "a.pcd.bin", "4-column float32 rows", columns=["x", "y", "z", "i"])
    write_points(tmp_path / "b.npy", cloud[0])
    _raises(tmp_path / "b.npy", "3 columns but columns= names 4", columns=["x", "y", "z", "i"])


def test_npz_without_points_or_bad_per_point_key(tmp_path: Path) -> None:
    np.savez(tmp_path / "a.npz", cloud=np.zeros((3, 3)))
    _raises(tmp_path / "a.npz", "'points' or 'xyz'")
    np.savez(tmp_path / "b.npz", xyz=np.zeros((3, 3)), label=np.zeros(4))
    _raises(tmp_path / "b.npz", "'label' has shape \\(4,\\)")


@pytest.mark.parametrize("name", ["a.pcd", "a.ply", "a.las", "a.npy"])
def test_truncated_structured_formats(tmp_path: Path, cloud, name: str) -> None:
    xyz, fields = cloud
    path = write_points(tmp_path / name, xyz, {"intensity": fields["intensity"]} if name != "a.las" else None,
                        **({"pcd_encoding": "binary"} if name == "a.pcd" else {}))
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    _raises(path, "not a readable|header promises|header claims")


def test_scan_with_no_points(tmp_path: Path) -> None:
    (tmp_path / "comments.txt").write_text("# nothing here\n")
    _raises(tmp_path / "comments.txt", "no points")
    _raises(write_points(tmp_path / "none.ply", np.zeros((0, 3), np.float32)), "no points")
    _raises(write_points(tmp_path / "none.pcd", np.zeros((0, 3), np.float32)), "no points")


def test_nonfinite_rows_error_or_drop_with_warning(tmp_path: Path, cloud) -> None:
    xyz, fields = cloud
    xyz = xyz.copy()
    xyz[[3, 10, 11], [0, 2, 1]] = [np.nan, np.inf, -np.inf]
    path = write_points(tmp_path / "a.pcd.bin", xyz, fields)
    _raises(path, "3 of 257 points have NaN/inf.*row 3")
    with pytest.warns(NonFinitePointsWarning, match="dropped 3 of 257"):
        pc = read_points(path, nonfinite="drop")
    keep = np.ones(len(xyz), bool)
    keep[[3, 10, 11]] = False
    np.testing.assert_array_equal(pc.xyz, xyz[keep])
    np.testing.assert_array_equal(pc.fields["ring"], fields["ring"][keep])
    write_points(tmp_path / "nan.txt", np.full((2, 3), np.nan))
    with pytest.warns(NonFinitePointsWarning):
        _raises(tmp_path / "nan.txt", "every point", nonfinite="drop")


def _ouster_pcd(path: Path, xyz: np.ndarray, width: int, height: int) -> Path:
    """A binary PCD laid out as the Ouster ROS driver writes a scan: padding after x y z, mixed field types."""
    header = (f"# .PCD v0.7 - Point Cloud Data file format\nVERSION 0.7\n"
              "FIELDS x y z _ intensity t reflectivity ring ambient range\nSIZE 4 4 4 1 4 4 2 1 2 4\n"
              "TYPE F F F U F U U U U U\nCOUNT 1 1 1 4 1 1 1 1 1 1\n"
              f"WIDTH {width}\nHEIGHT {height}\nVIEWPOINT 0 0 0 1 0 0 0\nPOINTS {width * height}\nDATA binary\n")
    rows = np.zeros(len(xyz), [("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("_", "u1", 4), ("intensity", "<f4"),
                               ("t", "<u4"), ("reflectivity", "<u2"), ("ring", "u1"), ("ambient", "<u2"),
                               ("range", "<u4")])
    rows["x"], rows["y"], rows["z"] = xyz.T
    rows["ring"] = np.arange(len(xyz)) // width
    rows["intensity"] = np.arange(len(xyz))
    path.write_bytes(header.encode() + rows.tobytes())
    return path


def test_an_organized_pcd_leaves_out_its_no_return_cells(tmp_path: Path) -> None:
    """HEIGHT > 1: NaN is the format's "no return" marker, not damage; an unorganized cloud still refuses it."""
    xyz = np.arange(24, dtype=np.float32).reshape(8, 3)
    xyz[[1, 6]] = np.nan
    pc = read_points(_ouster_pcd(tmp_path / "organized.pcd", xyz, width=4, height=2))
    keep = np.isfinite(xyz).all(axis=1)
    np.testing.assert_array_equal(pc.xyz, xyz[keep])
    np.testing.assert_array_equal(pc.fields["ring"], [0, 0, 0, 1, 1, 1])
    np.testing.assert_array_equal(pc.fields["intensity"], np.flatnonzero(keep))
    _raises(_ouster_pcd(tmp_path / "flat.pcd", xyz, width=8, height=1), "2 of 8 points have NaN/inf.*--drop-nonfinite")
    _raises(_ouster_pcd(tmp_path / "dark.pcd", np.full((4, 3), np.nan, np.float32), width=2, height=2),
            "organized PCD .4 cells. holds no return")


def test_upper_case_xyz_fields_are_coordinates(tmp_path: Path) -> None:
    from plyfile import PlyData, PlyElement

    rows = np.zeros(3, [("X", "<f8"), ("Y", "<f8"), ("Z", "<f8"), ("Intensity", "<f4")])
    rows["X"], rows["Y"], rows["Z"], rows["Intensity"] = [1, 2, 3], [4, 5, 6], [7, 8, 9], [0.5, 0.25, 1]
    PlyData([PlyElement.describe(rows, "vertex")]).write(str(tmp_path / "upper.ply"))
    pc = read_points(tmp_path / "upper.ply")
    np.testing.assert_array_equal(pc.xyz, [[1, 4, 7], [2, 5, 8], [3, 6, 9]])
    assert list(pc.fields) == ["Intensity"]
    rows = np.zeros(2, [("X", "<f4"), ("y", "<f4"), ("Z", "<f4")])  # a mixed spelling is not guessed at
    PlyData([PlyElement.describe(rows, "vertex")]).write(str(tmp_path / "mixed.ply"))
    _raises(tmp_path / "mixed.ply", r"has fields \['X', 'y', 'Z'\]; expected x, y and z")


def test_read_labels_txt(tmp_path: Path) -> None:
    path = tmp_path / "labels.txt"
    path.write_text("3\n0\n25\n")
    np.testing.assert_array_equal(read_labels_txt(path), [3, 0, 25])
    assert read_labels_txt(path, num_points=3).dtype == np.int64
    with pytest.raises(InputFileError, match="3 labels but the scan has 4"):
        read_labels_txt(path, num_points=4)
    (tmp_path / "bad.txt").write_text("3\nroad\n")
    with pytest.raises(InputFileError, match="one integer"):
        read_labels_txt(tmp_path / "bad.txt")
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(InputFileError, match="empty"):
        read_labels_txt(tmp_path / "empty.txt")
    with pytest.raises(InputFileError, match="not found"):
        read_labels_txt(tmp_path / "missing.txt")
