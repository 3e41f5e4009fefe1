"""DepthCache: a second run hits (the predictor is not called again); changed settings or images miss."""

import os

import numpy as np
import pytest
from PIL import Image
from test_depth_da3 import FakeDA3

from occkit.depth.cache import DepthCache
from occkit.depth.da3 import DA3Depth
from occkit.errors import InputFileError


def _images(tmp_path, n=3):
    paths = []
    for i in range(n):
        p = tmp_path / "imgs" / f"{i:03d}.png"
        p.parent.mkdir(exist_ok=True)
        Image.fromarray(np.full((48, 64, 3), i * 40, np.uint8)).save(p)
        paths.append(p)
    return paths


def test_hit_on_second_run_and_same_values(tmp_path):
    paths = _images(tmp_path)
    fake = FakeDA3()
    model = DA3Depth(fake, model_name="da3-large", process_res=56)
    cache = DepthCache(tmp_path / "cache")
    first = cache.get_or_compute(paths, model, progress=True)
    assert len(fake.calls) == 3 and cache.stats["misses"] == 3
    second = DepthCache(tmp_path / "cache").get_or_compute(paths, model, progress=False)
    assert len(fake.calls) == 3  # not called again
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a.depth, b.depth)
        np.testing.assert_array_equal(a.conf, b.conf)
        np.testing.assert_array_equal(a.K, b.K)
        np.testing.assert_array_equal(a.T_world_cam, b.T_world_cam)
        assert a.image_size == b.image_size == (64, 48)
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 3


def test_miss_when_settings_or_inputs_change(tmp_path):
    paths = _images(tmp_path, 2)
    fake = FakeDA3()
    cache = DepthCache(tmp_path / "cache")
    cache.get_or_compute(paths, DA3Depth(fake, process_res=56), progress=False)
    assert len(fake.calls) == 2
    cache.get_or_compute(paths, DA3Depth(fake, process_res=70), progress=False)  # new resolution
    assert len(fake.calls) == 4
    cache.get_or_compute(paths, DA3Depth(fake, process_res=70, model_name="other"), progress=False)
    assert len(fake.calls) == 6
    cache.get_or_compute(paths, DA3Depth(fake, process_res=70, model_name="other"), K=np.diag([50.0, 50.0, 1.0]),
                         progress=False)
    assert len(fake.calls) == 8
    # an edited image misses, and its stale entry is removed
    n_files = len(list((tmp_path / "cache").glob("*.npz")))
    st = paths[0].stat()
    os.utime(paths[0], ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    model = DA3Depth(fake, process_res=70, model_name="other")
    cache.get_or_compute(paths, model, K=np.diag([50.0, 50.0, 1.0]), progress=False)
    assert len(fake.calls) == 9 and cache.stats["stale_removed"] == 1  # only the edited image's old version
    assert len(list((tmp_path / "cache").glob("*.npz"))) == n_files  # 8 entries: 4 settings x 2 images
    # the other settings still hit
    cache.get_or_compute(paths[1:], DA3Depth(fake, process_res=56), progress=False)
    assert len(fake.calls) == 9


def test_corrupt_entry_recomputed_and_missing_image(tmp_path):
    paths = _images(tmp_path, 1)
    fake = FakeDA3()
    model = DA3Depth(fake, process_res=56)
    cache = DepthCache(tmp_path / "cache")
    cache.get_or_compute(paths, model, progress=False)
    (entry,) = (tmp_path / "cache").glob("*.npz")
    entry.write_bytes(entry.read_bytes()[:100])
    with pytest.warns(UserWarning, match="unreadable depth cache entry"):
        (p,) = cache.get_or_compute(paths, model, progress=False)
    assert len(fake.calls) == 2 and p.depth.shape == (42, 56)
    with pytest.raises(InputFileError, match="image not found"):
        cache.get_or_compute([tmp_path / "nope.png"], model, progress=False)


def test_estimate_pseudo_points_through_cache(tmp_path):
    from occkit.depth.pseudo import estimate_pseudo_points
    from occkit.frame import CameraView, Frame
    from occkit.geometry.transforms import make_transform, yaw_transform

    (path,) = _images(tmp_path, 1)
    T_world_sensor = yaw_transform(0.3, [5.0, 5.0, 1.0])
    T_sensor_cam = make_transform(np.array([[0, 0, 1.0], [-1.0, 0, 0], [0, -1.0, 0]]), [0.5, 0.0, -0.2])
    K0 = np.array([[60.0, 0, 31.5], [0, 60.0, 23.5], [0, 0, 1]])
    view = CameraView("front", K0, T_world_sensor @ T_sensor_cam, 64, 48, image_path=str(path))
    frame = Frame("f", np.zeros((0, 3), np.float32), T_world_sensor, cameras=[view])
    fake = FakeDA3()
    cache = DepthCache(tmp_path / "cache")
    pts = estimate_pseudo_points(frame, DA3Depth(fake, process_res=56), cache=cache, conf_percentile=None)
    assert pts.shape == (56 * 42, 3)
    np.testing.assert_allclose(pts[:, 0], 10.5, atol=1e-4)  # plane 10 m ahead of a camera 0.5 m ahead of the sensor
    assert np.ptp(pts[:, 1]) > 1 and np.ptp(pts[:, 2]) > 1
    estimate_pseudo_points(frame, DA3Depth(fake, process_res=56), cache=cache)
    assert len(fake.calls) == 1
