"""A small monocular depth CNN: images (B, 3, H, W) in [0, 1] -> z-depth (B, H, W) in metres.

It is the depth network where Depth Anything 3's weights are out of reach (no model hub here): small enough to
pre-train on the synthetic world's rendered depth in minutes on a CPU, and to fine-tune through the occupancy
loss (``occkit.models.depth_occupancy``). An encoder of stride-2 stages, a decoder with skip connections and a
log-depth head that starts at a constant depth (``init_depth``), so that step 0 unprojects to a plane.

``silog_loss`` is the scale-invariant log loss of Eigen et al. (2014), the usual monocular-depth objective: with
``ground_align`` the graph fixes the per-image scale from the known camera height, so the network only has to
get the shape of the scene right.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def _block(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    groups = math.gcd(8, c_out)
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
                         nn.GroupNorm(groups, c_out), nn.SiLU(inplace=True),
                         nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.GroupNorm(groups, c_out),
                         nn.SiLU(inplace=True))


class DepthCNN(nn.Module):
    """See the module docstring. ``channels[i]`` is the width at 1/2**i of the image size."""

    def __init__(self, channels: Sequence[int] = (16, 32, 64, 96), init_depth: float = 100.0) -> None:
        super().__init__()
        ch = list(channels)
        self.stem = _block(3, ch[0])
        self.down = nn.ModuleList(_block(ch[i - 1], ch[i], stride=2) for i in range(1, len(ch)))
        self.up = nn.ModuleList(_block(ch[i] + ch[i - 1], ch[i - 1]) for i in range(len(ch) - 1, 0, -1))
        self.head = nn.Conv2d(ch[0], 1, 3, padding=1)
        nn.init.zeros_(self.head.weight)
        nn.init.constant_(self.head.bias, math.log(init_depth))
        from occkit.depth.da3_network import IMAGENET_MEAN, IMAGENET_STD

        self.register_buffer("mean", torch.from_numpy(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.from_numpy(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.stem((images.float() - self.mean) / self.std)
        skips = [x]
        for stage in self.down:
            x = stage(x)
            skips.append(x)
        for stage, skip in zip(self.up, reversed(skips[:-1]), strict=True):
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = stage(torch.cat([x, skip], dim=1))
        return self.head(x)[:, 0].clamp(-5.0, 8.0).exp()  # log-depth clamped: 7 mm .. 3 km


def silog_loss(pred: torch.Tensor, target: torch.Tensor, lam: float = 0.85) -> torch.Tensor:
    """Scale-invariant log loss over the pixels with a true depth (target > 0); ``lam`` = 1 ignores scale."""
    valid = (target > 0) & torch.isfinite(target) & (pred > 0)
    if not bool(valid.any()):
        return pred.sum() * 0.0
    d = torch.log(pred[valid]) - torch.log(target[valid])
    return torch.sqrt((d.pow(2).mean() - lam * d.mean().pow(2)).clamp_min(1e-12))


def load_depth_weights(model: nn.Module, path: str) -> None:
    """Load a state dict saved by ``torch.save(model.state_dict(), path)``; weights only, never pickled code."""
    from pathlib import Path

    from occkit.errors import InputFileError

    file = Path(path)
    if not file.is_file():
        raise InputFileError(file, "depth weights not found (model.depth.weights: a .pt state-dict file)")
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - a torn or foreign file: one line naming it
        raise InputFileError(file, f"not a readable state-dict file ({type(exc).__name__}: {exc})") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise InputFileError(file, f"does not fit the depth network of model.depth ({first})") from None
