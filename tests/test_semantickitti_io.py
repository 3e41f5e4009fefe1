"""SemanticKITTI voxel/label/pose files: exact round trips, the reference bit order, size errors."""

import numpy as np
import pytest

from occkit.errors import InputFileError
from occkit.io.semantickitti import (
    LEARNING_MAP,
    VOXEL_SHAPE,
    read_calib,
    read_point_labels,
    read_poses,
    read_voxel_bits,
    read_voxel_labels,
    read_voxels,
    remap_labels,
    write_calib,
    write_point_labels,
    write_poses,
    write_voxels,
)


def _reference_unpack(compressed):
    """The shift-by-shift unpack used by semantic-kitti-api / LMSCNet io_data.py (MSB first)."""
    out = np.zeros(compressed.shape[0] * 8, dtype=np.uint8)
    for b in range(8):
        out[b::8] = compressed >> (7 - b) & 1
    return out


def test_voxel_round_trip_exact_and_reference_bit_order(tmp_path):
    rng = np.random.default_rng(0)
    occ = rng.random(VOXEL_SHAPE) < 0.1
    inv = rng.random(VOXEL_SHAPE) < 0.3
    lab = rng.choice(list(LEARNING_MAP), VOXEL_SHAPE).astype(np.uint16)
    write_voxels(tmp_path / "000000", bin=occ, label=lab, invalid=inv, occluded=~occ)
    assert (tmp_path / "000000.bin").stat().st_size == 256 * 256 * 32 // 8
    assert (tmp_path / "000000.label").stat().st_size == 256 * 256 * 32 * 2
    got = read_voxels(tmp_path / "000000")
    np.testing.assert_array_equal(got["bin"], occ)
    np.testing.assert_array_equal(got["invalid"], inv)
    np.testing.assert_array_equal(got["occluded"], ~occ)
    np.testing.assert_array_equal(got["label"], lab)
    assert got["label"].dtype == np.uint16 and got["bin"].dtype == bool
    ref = _reference_unpack(np.fromfile(tmp_path / "000000.bin", np.uint8)).reshape(256, 256, 32)
    np.testing.assert_array_equal(ref.astype(bool), occ)


def test_single_voxel_lands_at_its_index(tmp_path):
    occ = np.zeros(VOXEL_SHAPE, bool)
    occ[3, 200, 17] = True
    write_voxels(tmp_path / "a", bin=occ)
    raw = np.fromfile(tmp_path / "a.bin", np.uint8)
    flat = (3 * 256 + 200) * 32 + 17  # C order over [x, y, z]
    assert np.flatnonzero(raw).tolist() == [flat // 8] and raw[flat // 8] == 0x80 >> (flat % 8)
    assert np.argwhere(read_voxel_bits(tmp_path / "a.bin")).tolist() == [[3, 200, 17]]


def test_wrong_byte_counts_raise(tmp_path):
    (tmp_path / "x.bin").write_bytes(b"\0" * 100)
    with pytest.raises(InputFileError, match=r"x\.bin: 100 bytes; expected 262144"):
        read_voxel_bits(tmp_path / "x.bin")
    (tmp_path / "x.label").write_bytes(b"\0" * 262144)
    with pytest.raises(InputFileError, match=r"x\.label: 262144 bytes; expected 4194304"):
        read_voxel_labels(tmp_path / "x.label")
    with pytest.raises(InputFileError, match="not found"):
        read_voxel_bits(tmp_path / "missing.bin")


def test_learning_map_and_point_labels(tmp_path):
    sem = np.array([0, 10, 252, 40, 60, 99, 81, 1000], np.uint16)
    inst = np.array([0, 1, 2, 0, 0, 0, 7, 65535], np.uint16)
    write_point_labels(tmp_path / "p.label", sem, inst)
    s, i = read_point_labels(tmp_path / "p.label", num_points=8)
    np.testing.assert_array_equal(s, sem)
    np.testing.assert_array_equal(i, inst)
    raw = np.fromfile(tmp_path / "p.label", np.uint32)
    np.testing.assert_array_equal(remap_labels(raw), [0, 1, 1, 9, 9, 0, 19, 0])
    with pytest.raises(InputFileError, match="8 labels for a scan of 9 points"):
        read_point_labels(tmp_path / "p.label", num_points=9)
    (tmp_path / "q.label").write_bytes(b"\0" * 7)
    with pytest.raises(InputFileError, match="whole number"):
        read_point_labels(tmp_path / "q.label")


def test_poses_and_calib_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    poses = np.tile(np.eye(4), (3, 1, 1))
    poses[:, :3, 3] = rng.normal(size=(3, 3))
    write_poses(tmp_path / "poses.txt", poses)
    np.testing.assert_allclose(read_poses(tmp_path / "poses.txt"), poses, atol=1e-9)
    Tr = np.eye(4)
    Tr[:3, 3] = [0.27, -0.01, -0.08]
    write_calib(tmp_path / "calib.txt", {"P0": np.hstack([np.eye(3), np.zeros((3, 1))]), "Tr": Tr})
    c = read_calib(tmp_path / "calib.txt")
    assert c["P0"].shape == (3, 4)
    np.testing.assert_allclose(c["Tr"], Tr)
    (tmp_path / "bad.txt").write_text("Tr: 1 2 3\n")
    with pytest.raises(InputFileError, match="line 1: expected 'KEY: 12 numbers'"):
        read_calib(tmp_path / "bad.txt")
    (tmp_path / "badposes.txt").write_text("1 2 3\n")
    with pytest.raises(InputFileError, match="expected 12"):
        read_poses(tmp_path / "badposes.txt")
