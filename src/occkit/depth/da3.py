"""Depth Anything 3 adapter: images -> metric z-depth, confidence and intrinsics at DA3's processed size.

What DA3 gives (checked against ByteDance-Seed/Depth-Anything-3, ``src/depth_anything_3/api.py``,
``specs.py`` and ``utils/io/input_processor.py``):

* ``DepthAnything3.from_pretrained(repo_or_dir)`` (huggingface_hub ``PyTorchModelHubMixin``), ``.to(device)``;
* ``model.inference(image=[paths | HxWx3 uint8 arrays | PIL], extrinsics=None, intrinsics=None,
  process_res=504, process_res_method="upper_bound_resize", ...) -> Prediction`` with ``depth`` (N, H, W),
  ``conf`` (N, H, W), ``extrinsics`` (N, 3, 4) world-to-camera (OpenCV), ``intrinsics`` (N, 3, 3),
  ``processed_images`` (N, H, W, 3) uint8, ``sky`` (N, H, W) or None and ``is_metric``;
* every array is at the *processed* resolution: the longest side resized to ``process_res`` then each side
  rounded to a multiple of 14 ("*_resize") or centre-cropped down to one ("*_crop"). A user's K for the
  original image is rescaled here to that size (with OpenCV pixel centres, see ``scale_intrinsics``);
* DA3-Metric models output ``depth * 300 / focal``: metric depth is ``focal_px * raw / 300`` with the focal
  length at the processed size (the DA3 README's rule). Nested/any-view models output metres already.

The adapter takes any object with ``.inference(...)`` returning that shape, so tests (and other backends) can
inject one; ``DA3Depth.from_pretrained`` builds the real thing and turns a missing package or unreachable
weights into a :class:`DepthModelUnavailableError` that says how to fix it.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from occkit.depth.unproject import confidence_floor, scale_intrinsics, unproject_depth
from occkit.errors import InputFileError, OccKitError
from occkit.frame import CameraView
from occkit.geometry.transforms import invert_transform

DEFAULT_MODEL = "depth-anything/DA3METRIC-LARGE"
PATCH_SIZE = 14
METRIC_FOCAL_DIVISOR = 300.0

ImageInput = str | Path | np.ndarray
ProcessMethod = Literal["upper_bound_resize", "lower_bound_resize", "upper_bound_crop", "lower_bound_crop"]
MetricScaling = Literal["auto", "focal300", "none"]

INSTALL_HINT = (
    'Install it with: pip install "occkit[da3]"  (or: pip install depth-anything-3). '
    "To run without internet, download the weights once (a folder with config.json and model.safetensors, "
    f"e.g. a copy of {DEFAULT_MODEL}) and pass weights=/path/to/dir, with HF_HUB_OFFLINE=1 set so no hub "
    "look-up is tried."
)


class DepthModelUnavailableError(OccKitError, ImportError):
    """The depth model cannot be used: its package is not installed or its weights cannot be loaded."""


class InferencePredictor(Protocol):
    """Anything with DA3's ``inference`` signature (the real model, or a stand-in in tests)."""

    def inference(self, image: list[Any], **kwargs: Any) -> Any: ...


@dataclass
class DepthPrediction:
    """One image's depth at the processed size, with the K that matches it.

    ``T_world_cam`` is the user's pose when given, else DA3's estimate (its own world frame and scale), else
    None. ``image_size`` is the original ``(width, height)``.
    """

    depth: np.ndarray
    K: np.ndarray
    conf: np.ndarray | None = None
    T_world_cam: np.ndarray | None = None
    image_size: tuple[int, int] | None = None
    processed_image: np.ndarray | None = None
    source: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def size(self) -> tuple[int, int]:
        """Processed ``(width, height)``."""
        return int(self.depth.shape[1]), int(self.depth.shape[0])

    def pseudo_points(self, *, conf_threshold: float | None = None, conf_percentile: float | None = None,
                      max_range: float | None = None, T_world_cam: np.ndarray | None = None) -> np.ndarray:
        """Pseudo-LiDAR (N, 3) float32 in the world frame (or the camera frame when no pose is known).

        ``conf_percentile`` drops the least confident pixels (e.g. 40 keeps the top 60%, DA3's own default for
        point exports); ``conf_threshold`` is an absolute floor. ``T_world_cam`` overrides the stored pose.
        """
        if conf_percentile is not None and self.conf is None:
            raise ValueError("conf_percentile needs a confidence map; this prediction has none")
        threshold = confidence_floor(self.depth, self.conf, conf_percentile, conf_threshold)
        pose = T_world_cam if T_world_cam is not None else self.T_world_cam
        return unproject_depth(self.depth, self.K, pose, conf=self.conf, conf_threshold=threshold,
                               max_range=max_range)

    def to_camera_view(self, name: str = "cam") -> CameraView:
        """A CameraView at the processed size (K, depth, confidence and image all agree)."""
        w, h = self.size
        pose = self.T_world_cam if self.T_world_cam is not None else np.eye(4)
        return CameraView(name=name, K=self.K, T_world_cam=pose, width=w, height=h, image=self.processed_image,
                          depth=self.depth, depth_conf=self.conf, image_path=self.source)


# ---- processed-size geometry (mirrors depth_anything_3.utils.io.input_processor) --------------------------
def _nearest_multiple(x: int, p: int) -> int:
    down = (x // p) * p
    up = down + p
    return up if abs(up - x) <= abs(x - down) else down


def processing_sizes(orig_size: tuple[int, int], process_res: int, method: str
                     ) -> tuple[tuple[int, int], tuple[int, int]]:
    """DA3's two sizes for an image of ``orig_size`` (w, h): after the boundary resize, and after rounding each
    side to a multiple of 14 ("*_resize") or centre-cropping down to one ("*_crop")."""
    w0, h0 = orig_size
    bound = max(w0, h0) if method.startswith("upper") else min(w0, h0)
    s = process_res / float(bound)
    w1, h1 = (w0, h0) if bound == process_res else (max(1, int(round(w0 * s))), max(1, int(round(h0 * s))))
    if method.endswith("resize"):
        return (w1, h1), (max(1, _nearest_multiple(w1, PATCH_SIZE)), max(1, _nearest_multiple(h1, PATCH_SIZE)))
    return (w1, h1), ((w1 // PATCH_SIZE) * PATCH_SIZE, (h1 // PATCH_SIZE) * PATCH_SIZE)


def processed_intrinsics(K: np.ndarray, orig_size: tuple[int, int], processed_size: tuple[int, int],
                         process_res: int, method: str) -> np.ndarray:
    """Map K of the original ``(w, h)`` image onto DA3's processed ``(w, h)`` output.

    Replays DA3's steps (boundary resize, then round-to-14 resize or centre crop, then the batch centre crop
    that equalises sizes). When the output size is not what those steps give (another DA3 version), falls back
    to a plain rescale and warns.
    """
    w0, h0 = orig_size
    (w1, h1), (w2, h2) = processing_sizes(orig_size, process_res, method)
    if method.endswith("resize"):
        K2 = scale_intrinsics(K, (w0, h0), (w2, h2))
    else:
        K2 = scale_intrinsics(K, (w0, h0), (w1, h1))
        K2[0, 2] -= (w1 - w2) // 2
        K2[1, 2] -= (h1 - h2) // 2
    wp, hp = processed_size
    if (wp, hp) == (w2, h2):
        return K2
    if wp <= w2 and hp <= h2:  # batch of mixed sizes: torchvision CenterCrop offsets
        K2 = K2.copy()
        K2[0, 2] -= int(round((w2 - wp) / 2.0))
        K2[1, 2] -= int(round((h2 - hp) / 2.0))
        return K2
    warnings.warn(f"DA3 output size {processed_size} is not the expected {(w2, h2)} for an image of {orig_size} "
                  f"({method}, process_res={process_res}); rescaling K directly", stacklevel=2)
    return scale_intrinsics(K, (w0, h0), (wp, hp))


def _image_size(image: ImageInput) -> tuple[int, int]:
    if not isinstance(image, np.ndarray | str | Path) and hasattr(image, "size"):  # a PIL image
        return tuple(image.size)
    if isinstance(image, np.ndarray):
        if image.ndim not in (2, 3):
            raise ValueError(f"image arrays must be (H, W) or (H, W, 3), got shape {image.shape}")
        return int(image.shape[1]), int(image.shape[0])
    from occkit.io.images import image_size

    return image_size(image)


def broadcast_matrices(value: Any, n: int, shape: tuple[int, int], what: str) -> list[np.ndarray | None]:
    """None, one matrix for all images, or one per image -> a list of n (or None)."""
    if value is None:
        return [None] * n
    if isinstance(value, np.ndarray) and value.shape == shape:
        return [value.astype(np.float64)] * n
    items = list(value)
    if len(items) != n:
        raise ValueError(f"{what}: got {len(items)} for {n} images")
    out = []
    for m in items:
        if m is None:
            out.append(None)
            continue
        m = np.asarray(m, dtype=np.float64)
        if m.shape != shape:
            raise ValueError(f"{what}: each must be {shape}, got {m.shape}")
        out.append(m)
    return out


def _w2c_to_T_world_cam(ext: np.ndarray) -> np.ndarray:
    T = np.eye(4)
    T[: ext.shape[0], :4] = ext[:, :4]
    return invert_transform(T)


class DA3Depth:
    """Depth Anything 3 (or anything with its ``inference``) as a per-image depth estimator.

    ``views_per_call`` images go to one ``inference`` call: 1 treats every image on its own (monocular),
    more lets DA3 reason jointly over the views of one scene (e.g. all cameras of a rig at one instant).
    """

    def __init__(self, predictor: InferencePredictor, *, model_name: str = "custom",
                 process_res: int = 504, process_res_method: ProcessMethod = "upper_bound_resize",
                 metric_scaling: MetricScaling = "auto", drop_sky: bool = True, views_per_call: int = 1,
                 inference_kwargs: dict[str, Any] | None = None) -> None:
        if not callable(getattr(predictor, "inference", None)):
            raise TypeError(f"predictor must have an .inference(...) method like DA3, got {type(predictor).__name__}")
        if process_res_method not in ProcessMethod.__args__:  # type: ignore[attr-defined]
            raise ValueError(f"process_res_method must be one of {ProcessMethod.__args__}, "  # type: ignore[attr-defined]
                             f"got {process_res_method!r}")
        if views_per_call < 1:
            raise ValueError(f"views_per_call must be >= 1, got {views_per_call}")
        self.predictor = predictor
        self.model_name = model_name
        self.process_res = int(process_res)
        self.process_res_method = process_res_method
        self.metric_scaling = metric_scaling
        self.drop_sky = drop_sky
        self.views_per_call = views_per_call
        self.inference_kwargs = dict(inference_kwargs or {})

    # ---- construction -----------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, name_or_path: str = DEFAULT_MODEL, *, weights: str | Path | None = None,
                        device: str | None = None, **kwargs: Any) -> DA3Depth:
        """Load DA3 from a hub name or a local weights folder (``weights`` wins when given).

        ``kwargs`` go to the constructor (process_res, views_per_call, ...).
        """
        try:
            from depth_anything_3.api import DepthAnything3  # heavy: torch, xformers, hub
        except ImportError as exc:
            raise DepthModelUnavailableError(
                f"Depth Anything 3 is not installed (import depth_anything_3 failed: {exc}). {INSTALL_HINT}"
            ) from exc
        source = str(weights) if weights is not None else name_or_path
        if weights is not None and not Path(weights).is_dir():
            raise InputFileError(weights, "DA3 weights folder not found (expected config.json + model.safetensors)")
        try:
            model = DepthAnything3.from_pretrained(source)
        except Exception as exc:  # hub/network/file errors come in many types; all mean "no weights"
            offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0")
            raise DepthModelUnavailableError(
                f"could not load Depth Anything 3 weights from {source!r} ({type(exc).__name__}: {exc}). "
                f"HF_HUB_OFFLINE={'1' if offline else 'unset'}. {INSTALL_HINT}"
            ) from exc
        if device is None:
            import torch

            device = "cuda" if torch.cuda.is_available() else "cpu"
        model = model.to(device=device)
        # DepthAnything3 keeps its preset (e.g. "da3metric-large", from config.json) as .model_name; that name,
        # not the folder's, decides metric scaling and keys the depth cache.
        name = getattr(model, "model_name", None)
        return cls(model, model_name=str(name) if name else Path(name_or_path).name, **kwargs)

    def settings(self) -> dict[str, Any]:
        """What changes the output (used in cache keys)."""
        return {"model": self.model_name, "process_res": self.process_res, "method": self.process_res_method,
                "metric_scaling": self._metric_mode(), "drop_sky": self.drop_sky,
                "views_per_call": self.views_per_call,
                "inference_kwargs": {k: repr(v) for k, v in sorted(self.inference_kwargs.items())}}

    def _metric_mode(self) -> Literal["focal300", "none"]:
        if self.metric_scaling != "auto":
            return self.metric_scaling
        name = self.model_name.lower()
        return "focal300" if "metric" in name and "nested" not in name else "none"

    # ---- inference ----------------------------------------------------------------------------------
    def predict(self, images: Sequence[ImageInput], K: Any = None, T_world_cam: Any = None,
                progress: bool = False) -> list[DepthPrediction]:
        """Depth for each image. ``K``: one 3x3 for all images or one per image, for the *original* size."""
        images = list(images)
        n = len(images)
        Ks = broadcast_matrices(K, n, (3, 3), "K")
        poses = broadcast_matrices(T_world_cam, n, (4, 4), "T_world_cam")
        sizes = [_image_size(im) for im in images]
        chunks = [range(i, min(i + self.views_per_call, n)) for i in range(0, n, self.views_per_call)]
        out: list[DepthPrediction] = []
        if progress and len(chunks) > 1:
            from rich.progress import track

            chunks = track(chunks, description=f"depth ({self.model_name})")
        for chunk in chunks:
            out.extend(self._predict_chunk([images[i] for i in chunk], [Ks[i] for i in chunk],
                                           [poses[i] for i in chunk], [sizes[i] for i in chunk]))
        return out

    __call__ = predict

    def _predict_chunk(self, images: list[ImageInput], Ks: list[np.ndarray | None],
                       poses: list[np.ndarray | None], sizes: list[tuple[int, int]]) -> list[DepthPrediction]:
        inputs = [str(im) if isinstance(im, Path) else im for im in images]
        pred = self.predictor.inference(inputs, process_res=self.process_res,
                                        process_res_method=self.process_res_method, **self.inference_kwargs)
        depth = np.asarray(pred.depth, dtype=np.float32)
        if depth.ndim != 3 or len(depth) != len(images):
            raise ValueError(f"{self.model_name}: expected depth (N={len(images)}, H, W), got {depth.shape}")
        conf = getattr(pred, "conf", None)
        conf = None if conf is None else np.asarray(conf, dtype=np.float32)
        sky = getattr(pred, "sky", None)
        ixts = getattr(pred, "intrinsics", None)
        exts = getattr(pred, "extrinsics", None)
        shown = getattr(pred, "processed_images", None)
        mode = self._metric_mode()
        metric = mode == "focal300" or bool(getattr(pred, "is_metric", False))
        if not metric:
            warnings.warn(f"{self.model_name} gives relative depth (is_metric=0): pseudo points will not be in "
                          "metres; use a metric model such as DA3METRIC-LARGE or DA3NESTED-GIANT-LARGE",
                          stacklevel=3)
        h, w = depth.shape[1:]
        results = []
        for i, image in enumerate(images):
            if Ks[i] is not None:
                K = processed_intrinsics(Ks[i], sizes[i], (w, h), self.process_res, self.process_res_method)
            elif ixts is not None:
                K = np.asarray(ixts[i], dtype=np.float64)
            else:
                raise ValueError(f"{self.model_name} returned no intrinsics for image {i}; pass K= for the "
                                 "original image (DA3-Metric models need it for metric scale)")
            d = depth[i].copy()
            if mode == "focal300":
                d *= np.float32(0.5 * (K[0, 0] + K[1, 1]) / METRIC_FOCAL_DIVISOR)
            if self.drop_sky and sky is not None:
                d[np.asarray(sky[i]) > 0.5] = 0.0
            if poses[i] is not None:
                pose = poses[i]
            elif exts is not None:
                pose = _w2c_to_T_world_cam(np.asarray(exts[i], dtype=np.float64))
            else:
                pose = None
            results.append(DepthPrediction(
                depth=d, K=K, conf=None if conf is None else conf[i], T_world_cam=pose, image_size=sizes[i],
                processed_image=None if shown is None else np.asarray(shown[i]),
                source=None if isinstance(image, np.ndarray) else str(image),
                meta={"model": self.model_name, "metric_scaling": mode,
                      "pose_source": "user" if poses[i] is not None else ("model" if pose is not None else None),
                      "is_metric": metric},
            ))
        return results

