"""Readers on hostile and real files: headers that lie about their size, guessed column counts that would give
absurd coordinates, stray far points, PCL's old PCD headers, damaged PLY faces, LAS files in feet."""

from __future__ import annotations

import struct
import warnings
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from occkit.cli import app
from occkit.errors import InputFileError
from occkit.io.las_units import LasUnits, las_units
from occkit.io.ply import PlyElementsWarning
from occkit.io.points import OutlierPointsWarning, read_points, write_points

REAL = Path(__file__).parent / "data" / "real"


def test_pcl_version_05_pcd_is_read() -> None:
    pc = read_points(REAL / "bunny.pcd")
    assert len(pc) == 397
    np.testing.assert_allclose(pc.xyz[0], [0.0054216, 0.11349, 0.040749], rtol=1e-6)
    np.testing.assert_allclose(pc.xyz[-1], [-0.07793, 0.17516, -0.0444], rtol=1e-6)


def test_pcl_binary_compressed_pcd_is_read() -> None:
    """PCL's own LZF-compressed file; the figures are Open3D 0.20's reading of the same file."""
    pc = read_points(REAL / "car6.pcd")
    assert len(pc) == 10031 and pc.fields == {}
    np.testing.assert_allclose(pc.xyz[0], [-36.64, -61.93, -6.34], rtol=1e-6)
    np.testing.assert_allclose(pc.xyz[-1], [-39.51, -65.47, -6.95], rtol=1e-6)
    np.testing.assert_allclose(pc.xyz.min(0), [-40.169, -68.56, -6.99], rtol=1e-6)
    np.testing.assert_allclose(pc.xyz.max(0), [-33.95, -61.88, -5.43], rtol=1e-6)


def test_pcl_binary_pcd_with_extra_fields_keeps_them() -> None:
    """PCL's binary file written as one column of 1000 rows (HEIGHT 1000, WIDTH 1): every point is kept, and its
    normals come through as fields; the figures are Open3D 0.20's reading of the same file."""
    pc = read_points(REAL / "colored_cloud.pcd")
    assert len(pc) == 1000
    assert set(pc.fields) == {"rgb", "normal_x", "normal_y", "normal_z", "curvature"}
    np.testing.assert_allclose(pc.xyz[0], [-0.855052, -0.631509, 1.467], rtol=1e-5)
    np.testing.assert_allclose(pc.xyz[-1], [0.271291, -0.386069, 0.913], rtol=1e-5)
    normal = [pc.fields[f"normal_{a}"][0] for a in "xyz"]
    np.testing.assert_allclose(normal, [0.696617, 0.692054, 0.189172], rtol=1e-5)


def test_ply_with_a_broken_face_section_gives_its_vertices() -> None:
    with pytest.warns(PlyElementsWarning, match=r"502 vertices.*face"):
        pc = read_points(REAL / "fuze_ascii.ply")
    assert len(pc) == 502 and set(pc.fields) == {"red", "green", "blue", "alpha"}
    np.testing.assert_allclose(pc.xyz[0], [0.002047, -0.002871, 0.004031], rtol=1e-6)


def test_plain_text_named_pcd_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "notes.pcd"
    path.write_text("1.0 2.0 3.0\n4.0 5.0 6.0\n")
    with pytest.raises(InputFileError, match="not a PCD file") as info:
        read_points(path)
    assert "\n" not in str(info.value)


def _pcd_header(points: int, data: str) -> bytes:
    return (f"VERSION 0.7\nFIELDS x y z\nSIZE 4 4 4\nTYPE F F F\nCOUNT 1 1 1\nWIDTH {points}\nHEIGHT 1\n"
            f"POINTS {points}\nDATA {data}\n").encode()


@pytest.mark.parametrize("data", ["binary", "binary_compressed", "ascii"])
def test_pcd_claiming_3e8_points_is_refused_before_allocating(tmp_path: Path, data: str) -> None:
    path = tmp_path / "liar.pcd"
    body = struct.pack("<II", 100, 300_000_000 * 12) + b"\0" * 100 if data == "binary_compressed" else b"\0" * 120
    path.write_bytes(_pcd_header(300_000_000, data) + body)
    with pytest.raises(InputFileError, match="claims 300,000,000 points"):
        read_points(path)


def test_npy_claiming_2e9_points_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "liar.npy"
    with path.open("wb") as fh:
        np.lib.format.write_array_header_1_0(fh, {"descr": "<f4", "fortran_order": False,
                                                  "shape": (2_000_000_000, 4)})
        fh.write(b"\0" * 64)
    with pytest.raises(InputFileError, match=r"claims shape \(2000000000, 4\)"):
        read_points(path)


def test_a_depth_map_saved_as_npy_is_not_read_as_rows_of_points(tmp_path: Path) -> None:
    """(480, 640) would read as 480 'points' from its first three columns; a table of 10 fields still reads."""
    np.save(tmp_path / "depth.npy", np.full((480, 640), 12.5, np.float32))
    result = CliRunner().invoke(app, ["voxelize", str(tmp_path / "depth.npy")])
    assert result.exit_code != 0 and "640 columns is an image or a depth map" in result.output
    assert "Traceback" not in result.output
    np.save(tmp_path / "rich.npy", np.random.default_rng(0).normal(size=(50, 10)).astype(np.float32))
    cloud = read_points(tmp_path / "rich.npy")
    assert cloud.xyz.shape == (50, 3) and len(cloud.fields) == 7


def test_las_claiming_2e9_points_is_refused(tmp_path: Path) -> None:
    path = write_points(tmp_path / "small.las", np.random.default_rng(0).uniform(0, 10, (50, 3)))
    raw = bytearray(path.read_bytes())
    raw[107:111] = struct.pack("<I", 0)  # legacy count 0, as LAS 1.4 allows ...
    raw[247:255] = struct.pack("<Q", 2_000_000_000)  # ... with the real count in the 64-bit field
    path.write_bytes(bytes(raw))
    with pytest.raises(InputFileError, match="claims 2,000,000,000 points"):
        read_points(path)


def test_directory_given_as_a_file(tmp_path: Path) -> None:
    folder = tmp_path / "scan.pcd"
    folder.mkdir()
    with pytest.raises(InputFileError, match="is a directory"):
        read_points(folder)


def _waymo_table(n: int, seed: int = 0) -> np.ndarray:
    """x y z intensity elongation timestamp, as Waymo's KITTI-format export writes them (float32)."""
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.uniform(-70, 70, (n, 2)), rng.uniform(-2, 5, n), rng.uniform(0, 1, n),
                            rng.uniform(0, 1, n), np.full(n, 1.5e15)]).astype("<f4")


def test_six_column_velodyne_bin_is_refused_not_read_as_four(tmp_path: Path) -> None:
    path = tmp_path / "velodyne" / "000123.bin"
    path.parent.mkdir()
    _waymo_table(800).tofile(path)  # 800 x 24 bytes also divides into 1200 rows of 4 floats
    with pytest.raises(InputFileError, match=r"promises 4 float32 columns.*absurd.*\[6\] columns.*--columns"):
        read_points(path)
    pc = read_points(path, columns=6)
    assert len(pc) == 800 and list(pc.fields) == ["intensity", "elongation", "timestamp"]
    result = CliRunner().invoke(app, ["voxelize", str(path)])
    assert result.exit_code == 2 and "--columns" in result.output
    assert CliRunner().invoke(app, ["voxelize", str(path), "--columns", "6"]).exit_code == 0


def test_waymo_kitti_format_names_promise_six_columns(tmp_path: Path) -> None:
    """mmdetection3d's Waymo converter writes velodyne/<prefix><file:03d><frame:03d>.bin with 6 columns."""
    path = tmp_path / "velodyne" / "1000042.bin"
    path.parent.mkdir()
    table = _waymo_table(800)
    table.tofile(path)  # 4 columns would also fit the byte count
    pc = read_points(path)
    assert len(pc) == 800 and list(pc.fields) == ["intensity", "elongation", "timestamp"]
    np.testing.assert_array_equal(pc.xyz, table[:, :3])
    elsewhere = tmp_path / "1000042.bin"  # a 7-digit name outside velodyne/ promises nothing: read by its values
    np.column_stack([table[:, :3], table[:, 3]]).astype("<f4").tofile(elsewhere)
    with pytest.raises(InputFileError, match="columns all fit and give plausible coordinates"):
        read_points(elsewhere)


def test_unnamed_bin_picks_the_only_plausible_count(tmp_path: Path) -> None:
    path = tmp_path / "scan.bin"
    _waymo_table(40).tofile(path)  # 960 bytes: 4, 5 and 6 columns all fit
    pc = read_points(path)
    assert len(pc) == 40 and "elongation" in pc.fields


@pytest.mark.parametrize("bad", ["2", "0", "-3"])
def test_bad_column_count_is_one_line(tmp_path: Path, bad: str) -> None:
    path = tmp_path / "scan.bin"
    _waymo_table(40).tofile(path)
    result = CliRunner().invoke(app, ["voxelize", str(path), "--columns", bad])
    assert result.exit_code == 2 and "at least 3" in result.output
    assert "Traceback" not in result.output


def test_one_far_point_does_not_shift_a_local_cloud(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    local = rng.uniform(-40, 40, (2000, 3)).astype(np.float32)
    path = tmp_path / "scan.npy"
    np.save(path, np.vstack([local, [[1e12, 0.0, 0.0]]]).astype(np.float32))
    with pytest.warns(OutlierPointsWarning, match=r"1 of 2001 points lie more than 10 km"):
        pc = read_points(path)
    assert np.all(pc.origin == 0)
    np.testing.assert_array_equal(pc.xyz[:2000], local)


def test_georeferenced_cloud_is_still_recentred(tmp_path: Path) -> None:
    utm = np.random.default_rng(2).uniform(0, 500, (1000, 3)) + [512_000.0, 5_400_000.0, 300.0]
    path = write_points(tmp_path / "utm.las", utm)
    with warnings.catch_warnings():
        warnings.simplefilter("error", OutlierPointsWarning)
        pc = read_points(path)
    assert np.all(pc.origin > 0) and np.abs(pc.xyz).max() < 1e3


def test_las_units_from_wkt_and_geotiff_keys() -> None:
    class Vlr:
        def __init__(self, string=None, geo_keys=None):
            self.string, self.geo_keys = string, geo_keys

    class Key:
        def __init__(self, id, value_offset):
            self.id, self.value_offset = id, value_offset

    class Header:
        def __init__(self, *vlrs):
            self.vlrs, self.evlrs = list(vlrs), []

    autzen = ('PROJCS["NAD83 / Oregon GIC Lambert (ft)",GEOGCS["NAD83",UNIT["degree",0.0174532925199433]],'
              'UNIT["foot",0.3048]]')
    assert las_units(Header(Vlr(string=autzen))) == LasUnits(0.3048, 0.3048, "foot", "foot")
    compound = ('COMPD_CS["x",PROJCS["UTM",GEOGCS["WGS 84",UNIT["degree",0.0174532925199433]],UNIT["metre",1]],'
                'VERT_CS["NAVD88 height (ftUS)",UNIT["US survey foot",0.304800609601219]]]')
    units = las_units(Header(Vlr(string=compound)))
    assert units.horizontal == 1.0 and units.vertical == pytest.approx(0.3048006096)
    keys = las_units(Header(Vlr(geo_keys=[Key(1024, 1), Key(3076, 9002)])))
    assert keys.horizontal == keys.vertical == 0.3048
    assert las_units(Header()).is_metric
