"""Occ3D labels.npz: exact round trip and clear errors on broken or foreign files."""

import numpy as np
import pytest

from occkit.errors import InputFileError
from occkit.geometry.grid import GridSpec
from occkit.io.occ3d import read_occ3d_labels, write_occ3d_labels, write_occ3d_target

SMALL = GridSpec(pc_range=(-2.0, -2.0, -1.0, 2.0, 2.0, 0.6), voxel_size=(0.4, 0.4, 0.4))  # 10 x 10 x 4


def _grids(shape, seed=0):
    rng = np.random.default_rng(seed)
    sem = np.full(shape, 17, np.uint8)
    occ = rng.random(shape) < 0.05
    sem[occ] = rng.integers(0, 17, occ.sum())
    return sem, (rng.random(shape) < 0.7).astype(np.uint8), (rng.random(shape) < 0.5).astype(np.uint8)


def test_round_trip_full_occ3d_grid(tmp_path):
    sem, ml, mc = _grids((200, 200, 16))
    p = write_occ3d_labels(tmp_path / "scene-0001" / "tok" / "labels.npz", sem, ml, mc)
    assert p.name == "labels.npz" and sorted(x.name for x in p.parent.iterdir()) == ["labels.npz"]
    with np.load(p) as z:  # the on-disk format itself, as other Occ3D tools read it
        assert sorted(z.files) == ["mask_camera", "mask_lidar", "semantics"]
        assert all(z[k].dtype == np.uint8 for k in z.files)
    t = read_occ3d_labels(p)
    assert t.spec == GridSpec.preset("occ3d_nuscenes") and t.free_label == 17
    np.testing.assert_array_equal(t.semantics, sem)
    np.testing.assert_array_equal(t.mask_lidar, ml.astype(bool))
    np.testing.assert_array_equal(t.mask_camera, mc.astype(bool))
    np.testing.assert_array_equal(t.occupancy, sem != 17)


def test_target_round_trip_on_custom_spec(tmp_path):
    sem, ml, mc = _grids(SMALL.shape, 1)
    t = read_occ3d_labels(write_occ3d_labels(tmp_path / "l.npz", sem, ml, mc), SMALL)
    t2 = read_occ3d_labels(write_occ3d_target(tmp_path / "m.npz", t), SMALL)
    np.testing.assert_array_equal(t2.semantics, sem)
    np.testing.assert_array_equal(t2.mask_camera, t.mask_camera)


def test_truncated_file_names_the_file(tmp_path):
    sem, ml, mc = _grids(SMALL.shape)
    p = write_occ3d_labels(tmp_path / "labels.npz", sem, ml, mc)
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    with pytest.raises(InputFileError, match=r"labels\.npz.*truncated or corrupt"):
        read_occ3d_labels(p, SMALL)
    p.write_bytes(b"garbage")
    with pytest.raises(InputFileError, match="labels.npz"):
        read_occ3d_labels(p, SMALL)
    with pytest.raises(InputFileError, match="not found"):
        read_occ3d_labels(tmp_path / "nope.npz", SMALL)


def test_wrong_shape_key_dtype_values(tmp_path):
    sem, ml, mc = _grids(SMALL.shape)
    p = write_occ3d_labels(tmp_path / "labels.npz", sem, ml, mc)
    with pytest.raises(InputFileError, match=r"shape \(10, 10, 4\); expected \(200, 200, 16\)"):
        read_occ3d_labels(p)
    np.savez(tmp_path / "nosem.npz", mask_lidar=ml)
    with pytest.raises(InputFileError, match="missing key 'semantics'"):
        read_occ3d_labels(tmp_path / "nosem.npz", SMALL)
    np.savez(tmp_path / "float.npz", semantics=sem.astype(np.float32))
    with pytest.raises(InputFileError, match="dtype float32"):
        read_occ3d_labels(tmp_path / "float.npz", SMALL)
    np.savez(tmp_path / "mask.npz", semantics=sem, mask_lidar=ml * 3)
    with pytest.raises(InputFileError, match="'mask_lidar' values"):
        read_occ3d_labels(tmp_path / "mask.npz", SMALL)


def test_writer_rejects_bad_arrays(tmp_path):
    sem, ml, mc = _grids(SMALL.shape)
    with pytest.raises(ValueError, match="mask_lidar: expected shape"):
        write_occ3d_labels(tmp_path / "a.npz", sem, ml[:-1], mc)
    with pytest.raises(ValueError, match="semantics: expected integer"):
        write_occ3d_labels(tmp_path / "a.npz", sem.astype(float), ml, mc)
    with pytest.raises(ValueError, match="mask_camera: values"):
        write_occ3d_labels(tmp_path / "a.npz", sem, ml, mc * 2)
    assert not list(tmp_path.iterdir())
