"""DA3 adapter with a stand-in predictor shaped like depth_anything_3's Prediction, and the missing-package error."""

import sys
import types
from dataclasses import dataclass

import numpy as np
import pytest

from occkit.depth.da3 import INSTALL_HINT, DA3Depth, DepthModelUnavailableError, processed_intrinsics
from occkit.depth.unproject import scale_intrinsics, unproject_depth
from occkit.errors import OccKitError
from occkit.geometry.transforms import yaw_transform


@dataclass
class FakePrediction:
    """Same fields as depth_anything_3.specs.Prediction."""

    depth: np.ndarray
    is_metric: int = 0
    sky: np.ndarray | None = None
    conf: np.ndarray | None = None
    extrinsics: np.ndarray | None = None
    intrinsics: np.ndarray | None = None
    processed_images: np.ndarray | None = None


def _da3_size(w, h, res):
    """DA3 upper_bound_resize: longest side -> res, then each side to the nearest multiple of 14."""
    s = res / max(w, h)
    w1, h1 = round(w * s), round(h * s)
    near = [min((x // 14 * 14, x // 14 * 14 + 14), key=lambda m: (abs(m - x), -m)) for x in (w1, h1)]
    return near[0], near[1]


class FakeDA3:
    """Plane at depth 10 m seen by a camera with known K_proc and a known world-to-camera pose."""

    def __init__(self, with_camera=True, sky_rows=0, is_metric=1):
        self.calls = []
        self.is_metric = is_metric
        self.with_camera = with_camera
        self.sky_rows = sky_rows
        self.T_world_cam = yaw_transform(0.5, [3.0, -1.0, 2.0])

    def inference(self, image, process_res=504, process_res_method="upper_bound_resize", **kw):
        self.calls.append(list(image))
        sizes = []
        for im in image:
            if isinstance(im, np.ndarray):
                sizes.append((im.shape[1], im.shape[0]))
            else:
                from PIL import Image
                with Image.open(im) as pil:
                    sizes.append(pil.size)
        w, h = _da3_size(*sizes[0], process_res)
        n = len(image)
        depth = np.full((n, h, w), 10.0, np.float32)
        conf = np.tile(np.linspace(1.0, 3.0, w, dtype=np.float32), (n, h, 1))
        sky = None
        if self.sky_rows:
            sky = np.zeros((n, h, w), np.float32)
            sky[:, : self.sky_rows] = 1.0
        K = np.array([[400.0, 0, w / 2], [0, 400.0, h / 2], [0, 0, 1]])
        ext = np.linalg.inv(self.T_world_cam)[:3]
        return FakePrediction(depth=depth, conf=conf, sky=sky, is_metric=self.is_metric,
                              intrinsics=np.stack([K] * n) if self.with_camera else None,
                              extrinsics=np.stack([ext] * n) if self.with_camera else None,
                              processed_images=np.zeros((n, h, w, 3), np.uint8))


IMG = np.zeros((480, 640, 3), np.uint8)


def test_outputs_at_processed_size_with_model_camera():
    fake = FakeDA3()
    (p,) = DA3Depth(fake, model_name="da3-large").predict([IMG])
    assert p.depth.shape == (378, 504) and p.conf.shape == (378, 504) and p.size == (504, 378)
    assert p.image_size == (640, 480)
    np.testing.assert_allclose(p.K, [[400, 0, 252], [0, 400, 189], [0, 0, 1]])
    np.testing.assert_allclose(p.T_world_cam, fake.T_world_cam, atol=1e-9)  # inverse of DA3's w2c
    pts = p.pseudo_points()
    np.testing.assert_allclose(pts, unproject_depth(p.depth, p.K, fake.T_world_cam), atol=1e-5)
    # the principal-point pixel lies 10 m down the optical axis, in world coordinates
    axis = fake.T_world_cam[:3, :3] @ [0, 0, 10.0] + fake.T_world_cam[:3, 3]
    np.testing.assert_allclose(pts[189 * 504 + 252], axis, atol=1e-4)
    assert p.meta["pose_source"] == "model" and p.meta["metric_scaling"] == "none"
    view = p.to_camera_view("front")
    assert (view.width, view.height) == (504, 378) and view.depth is p.depth


def test_user_K_rescaled_and_metric_scaling_and_sky():
    fake = FakeDA3(with_camera=False, sky_rows=10)
    K0 = np.array([[800.0, 0, 319.5], [0, 800.0, 239.5], [0, 0, 1]])
    pose = yaw_transform(1.0, [0, 0, 1.5])
    (p,) = DA3Depth(fake, model_name="DA3METRIC-LARGE").predict([IMG], K=K0, T_world_cam=pose)
    K = scale_intrinsics(K0, (640, 480), (504, 378))
    np.testing.assert_allclose(p.K, K)
    assert K[0, 0] == pytest.approx(630.0) and K[0, 2] == pytest.approx(251.5)
    np.testing.assert_allclose(p.depth[10:], 10.0 * 630.0 / 300.0, rtol=1e-6)  # focal * raw / 300
    assert (p.depth[:10] == 0).all()  # sky dropped
    assert p.meta["is_metric"] and p.meta["pose_source"] == "user"
    np.testing.assert_allclose(p.T_world_cam, pose)
    assert len(p.pseudo_points()) == (378 - 10) * 504
    kept = p.pseudo_points(conf_percentile=50)
    assert 0.4 * 368 * 504 < len(kept) < 0.6 * 368 * 504
    with pytest.raises(ValueError, match="no intrinsics"):
        DA3Depth(fake).predict([IMG])


def test_relative_depth_warns():
    with pytest.warns(UserWarning, match="relative depth"):
        (p,) = DA3Depth(FakeDA3(is_metric=0), model_name="da3-large").predict([IMG])
    assert not p.meta["is_metric"]


def test_views_per_call_groups_images():
    fake = FakeDA3()
    preds = DA3Depth(fake, views_per_call=2).predict([IMG] * 3)
    assert [len(c) for c in fake.calls] == [2, 1] and len(preds) == 3


def test_processed_intrinsics_crop_and_resize():
    K0 = np.array([[500.0, 0, 349.5], [0, 500.0, 249.5], [0, 0, 1]])
    Kr = processed_intrinsics(K0, (700, 500), (504, 364), 504, "upper_bound_resize")
    np.testing.assert_allclose(Kr, scale_intrinsics(K0, (700, 500), (504, 364)))
    Kc = processed_intrinsics(K0, (700, 500), (504, 350), 504, "upper_bound_crop")
    expected = scale_intrinsics(K0, (700, 500), (504, 360))
    expected[1, 2] -= 5  # 360 -> 350 centre crop
    np.testing.assert_allclose(Kc, expected)
    with pytest.warns(UserWarning, match="not the expected"):
        processed_intrinsics(K0, (700, 500), (600, 400), 504, "upper_bound_resize")


def test_missing_package_error_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "depth_anything_3", None)  # as when it is not installed
    with pytest.raises(DepthModelUnavailableError) as err:
        DA3Depth.from_pretrained()
    msg = str(err.value)
    assert isinstance(err.value, OccKitError)
    assert 'pip install "occkit[da3]"' in msg and "pip install depth-anything-3" in msg
    assert "weights=/path/to/dir" in msg and "HF_HUB_OFFLINE=1" in msg
    assert INSTALL_HINT in msg


def test_unreachable_weights_are_wrapped(monkeypatch, tmp_path):
    class Hubless:
        @staticmethod
        def from_pretrained(name):
            raise OSError(f"We couldn't connect to 'https://huggingface.co' to load {name}")

    api = types.ModuleType("depth_anything_3.api")
    api.DepthAnything3 = Hubless
    monkeypatch.setitem(sys.modules, "depth_anything_3", types.ModuleType("depth_anything_3"))
    monkeypatch.setitem(sys.modules, "depth_anything_3.api", api)
    with pytest.raises(DepthModelUnavailableError, match=r"could not load .*DA3METRIC-LARGE.*OSError.*weights="):
        DA3Depth.from_pretrained()
    with pytest.raises(OccKitError, match="weights folder not found"):
        DA3Depth.from_pretrained(weights=tmp_path / "nope")


def test_rejects_non_predictor():
    with pytest.raises(TypeError, match="inference"):
        DA3Depth(object())


def test_from_pretrained_with_local_weights_uses_model_preset_name(monkeypatch, tmp_path):
    loaded = []

    class FakeModel(FakeDA3):
        model_name = "da3metric-large"  # what DepthAnything3 reads from config.json

        @classmethod
        def from_pretrained(cls, source):
            loaded.append(source)
            return cls()

        def to(self, device=None):
            self.device = device
            return self

    api = types.ModuleType("depth_anything_3.api")
    api.DepthAnything3 = FakeModel
    monkeypatch.setitem(sys.modules, "depth_anything_3", types.ModuleType("depth_anything_3"))
    monkeypatch.setitem(sys.modules, "depth_anything_3.api", api)
    (tmp_path / "w").mkdir()
    est = DA3Depth.from_pretrained(weights=tmp_path / "w", device="cpu", process_res=56)
    assert loaded == [str(tmp_path / "w")] and est.predictor.device == "cpu"
    assert est.model_name == "da3metric-large" and est.settings()["metric_scaling"] == "focal300"
    assert est.process_res == 56
