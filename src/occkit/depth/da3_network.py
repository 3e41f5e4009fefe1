"""The real Depth Anything 3 network without DA3's input processor (which imports torchvision, and torchvision
from PyPI does not load beside the CPU torch build).

``build_da3_network("da3-small")`` builds ``DepthAnything3Net`` from the config the ``depth-anything-3``
package ships (random weights), or loads a local weights folder (``model.safetensors``, no hub access).
Only the package's own preset names are accepted: DA3's config loader registers an OmegaConf resolver that
calls ``eval``, so it must never read a config that came with data.

``NetworkInference`` gives that network DA3's ``inference`` interface, with occkit doing the input processing
(the same resize-to-a-multiple-of-14 steps that ``occkit.depth.da3.processed_intrinsics`` replays, ImageNet
normalisation), so ``DA3Depth(NetworkInference(net))`` runs the real network through occkit's adapter.
Set it up with ``bash scripts/setup_da3.sh`` (its own ``.venv-da3``; the README's set-up stays free of it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from occkit.depth.da3 import DepthModelUnavailableError, processing_sizes
from occkit.errors import InputFileError

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)
SETUP_HINT = "set up the optional DA3 environment with: bash scripts/setup_da3.sh (then use .venv-da3/bin/python)"


def _registry() -> dict[str, Any]:
    try:
        from depth_anything_3.registry import MODEL_REGISTRY
    except ImportError as exc:
        raise DepthModelUnavailableError(f"depth_anything_3 is not importable ({exc}); {SETUP_HINT}") from exc
    return dict(MODEL_REGISTRY)


def build_da3_network(name: str = "da3-small", weights: str | Path | None = None) -> Any:
    """``DepthAnything3Net`` for a shipped preset; random weights, or ``weights``' ``model.safetensors``."""
    registry = _registry()
    if name not in registry:
        raise DepthModelUnavailableError(f"unknown DA3 preset {name!r}; the package ships {sorted(registry)}")
    from depth_anything_3.cfg import create_object, load_config

    net = create_object(load_config(registry[name]))
    if weights is not None:
        folder = Path(weights)
        file = folder / "model.safetensors"
        if not file.is_file():
            raise InputFileError(file, "DA3 weights not found (expected a folder with model.safetensors)")
        from safetensors.torch import load_file

        state = {k.removeprefix("model."): v for k, v in load_file(str(file)).items()}
        missing, unexpected = net.load_state_dict(state, strict=False)
        if missing:
            raise InputFileError(file, f"does not fit {name}: {len(missing)} missing weights (e.g. {missing[0]})")
    net.model_name = name
    return net


def processed_size(size: tuple[int, int], process_res: int, method: str) -> tuple[int, int]:
    """DA3's processed ``(w, h)`` for an image of ``size``: boundary resize, then round or crop to 14."""
    return processing_sizes(size, process_res, method)[1]


def _load_rgb(image: Any) -> np.ndarray:
    if isinstance(image, np.ndarray):
        return image if image.ndim == 3 else np.repeat(image[:, :, None], 3, axis=2)
    if hasattr(image, "convert"):
        return np.asarray(image.convert("RGB"))
    from occkit.io.images import read_rgb

    return read_rgb(image)


def preprocess(images: list[Any], process_res: int, method: str) -> tuple[np.ndarray, np.ndarray]:
    """(N, H, W, 3) uint8 processed images and the (1, N, 3, H, W) float32 network input."""
    from PIL import Image

    out = []
    for image in images:
        rgb = np.asarray(_load_rgb(image), np.uint8)
        h0, w0 = rgb.shape[:2]
        (w1, h1), (w, h) = processing_sizes((w0, h0), process_res, method)
        pil = Image.fromarray(rgb)
        if method.endswith("resize"):
            pil = pil.resize((w, h), Image.BICUBIC)
        else:
            pil = pil.resize((w1, h1), Image.BICUBIC)
            left, top = (w1 - w) // 2, (h1 - h) // 2
            pil = pil.crop((left, top, left + w, top + h))
        out.append(np.asarray(pil, np.uint8))
    if len({im.shape for im in out}) != 1:
        raise ValueError(f"images of one inference call must share a size after processing, got "
                         f"{sorted({im.shape[:2] for im in out})}")
    shown = np.stack(out)
    x = ((shown.astype(np.float32) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD).transpose(0, 3, 1, 2)[None]
    return shown, np.ascontiguousarray(x)


@dataclass
class NetworkPrediction:
    """What ``DepthAnything3.inference`` returns, the fields occkit reads."""

    depth: np.ndarray
    conf: np.ndarray
    intrinsics: np.ndarray
    extrinsics: np.ndarray
    processed_images: np.ndarray
    sky: np.ndarray | None = None
    is_metric: bool = False


class NetworkInference:
    """DA3's ``inference(image=[...], process_res, process_res_method)`` over a bare ``DepthAnything3Net``."""

    def __init__(self, net: Any, device: str = "cpu") -> None:
        self.net = net.to(device).eval()
        self.device = device
        self.model_name = getattr(net, "model_name", "da3")

    def inference(self, image: list[Any], process_res: int = 504, process_res_method: str = "upper_bound_resize",
                  **_: Any) -> NetworkPrediction:
        import torch

        shown, x = preprocess(list(image), process_res, process_res_method)
        with torch.no_grad():
            out = self.net(torch.from_numpy(x).to(self.device), None, None, [], False, False, "saddle_balanced")
        def numpy(key: str) -> np.ndarray:
            return out[key][0].float().cpu().numpy()

        return NetworkPrediction(depth=numpy("depth"), conf=numpy("depth_conf"), intrinsics=numpy("intrinsics"),
                                 extrinsics=numpy("extrinsics"), processed_images=shown,
                                 is_metric="metric" in self.model_name or "nested" in self.model_name)


class DA3DepthModule(torch.nn.Module):
    """A ``DepthAnything3Net`` as a plain depth module: images (B, 3, H, W) -> depth (B, H, W), for
    ``occkit.models.depth_occupancy.DepthOccupancyModel`` (its parameters are then named ``depth.net.*``).

    By default the images are already ImageNet-normalised at a multiple of DA3's 14-pixel patch.
    ``takes_unit_images=True`` takes images in [0, 1] at any size, as the occupancy graph hands them: they are
    normalised and resized to the nearest multiple of 14 here, and the depth is resized back (both bilinear,
    so the gradient passes)."""

    def __init__(self, net: Any, takes_unit_images: bool = False) -> None:
        super().__init__()
        self.net = net
        self.takes_unit_images = takes_unit_images
        self.register_buffer("mean", torch.from_numpy(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.from_numpy(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if not self.takes_unit_images:
            return self._depth(images)
        import torch.nn.functional as F

        h, w = images.shape[-2:]
        size = (max(14, round(h / 14) * 14), max(14, round(w / 14) * 14))
        x = (images - self.mean) / self.std
        if size != (h, w):
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        depth = self._depth(x)
        if size != (h, w):
            depth = F.interpolate(depth[:, None], size=(h, w), mode="bilinear", align_corners=False)[:, 0]
        return depth

    def _depth(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x[:, None], None, None, [], False, False, "saddle_balanced")["depth"][:, 0]
