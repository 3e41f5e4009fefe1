"""BEVHeightOccupancy: a dense 2D U-Net over the bird's-eye view whose output channels are height levels.

Input ``(B, C_in, Y, X)`` (height levels x features folded into channels), output logits ``(B, Z, Y, X)``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from occkit.errors import ConfigError, GridMismatchError
from occkit.models.blocks import ConvBlock
from occkit.models.config import ModelConfig

HEAD_INIT_STD = 0.01  # small head weights keep the step-0 logits at the prior bias (RetinaNet-style)


class BEVHeightOccupancy(nn.Module):
    """U-Net encoder/decoder in BEV; a 1x1 head maps features to one logit per height level."""

    def __init__(self, cfg: ModelConfig, in_channels: int, out_levels: int) -> None:
        super().__init__()
        if in_channels < 1:
            raise ConfigError(f"model: in_channels must be >= 1 (got {in_channels})")
        if out_levels < 1:
            raise ConfigError(f"model: out_levels must be >= 1 (got {out_levels})")
        chans = list(cfg.unet_channels)
        if not chans or any(c < 1 for c in chans):
            raise ConfigError(f"model.unet_channels: expected a non-empty list of positive ints (got {chans})")
        self.cfg = cfg
        self.in_channels = in_channels
        self.out_levels = out_levels
        self.channels = chans
        kw = dict(norm=cfg.norm, groups=cfg.norm_groups, residual=cfg.residual)
        self.encoder = nn.ModuleList()
        prev = in_channels
        for i, c in enumerate(chans):
            last = i == len(chans) - 1
            # attention in the bottleneck and decoder only: at full-resolution encoder levels it adds cost for little
            self.encoder.append(ConvBlock(prev, c, attention=cfg.attention and last,
                                          dropout=cfg.dropout if last else 0.0, **kw))
            prev = c
        self.reduce = nn.ModuleList()
        self.decoder = nn.ModuleList()
        for i in range(len(chans) - 2, -1, -1):
            self.reduce.append(nn.Conv2d(chans[i + 1], chans[i], 1, bias=False))
            self.decoder.append(ConvBlock(2 * chans[i], chans[i], attention=cfg.attention, **kw))
        self.head = nn.Conv2d(chans[0], out_levels, 1, bias=True)
        self.stride = 2 ** (len(chans) - 1)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Kaiming (fan_out, relu) for convs, unit/zero norms, tiny head weights and the prior bias."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, (nn.GroupNorm, nn.BatchNorm2d)):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.normal_(self.head.weight, std=HEAD_INIT_STD)
        prior = self.cfg.prior_occupancy
        nn.init.constant_(self.head.bias, math.log(prior / (1 - prior)) if prior is not None else 0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise GridMismatchError(f"model input: expected (B, {self.in_channels}, Y, X), got {tuple(x.shape)}")
        h, w = x.shape[-2:]
        ph, pw = (-h) % self.stride, (-w) % self.stride
        if ph or pw:  # pad bottom/right to a multiple of the total stride; cropped again below
            x = F.pad(x, (0, pw, 0, ph))
        skips = []
        for i, block in enumerate(self.encoder):
            if i > 0:
                x = F.max_pool2d(x, 2)
            x = block(x)
            skips.append(x)
        skips.pop()
        for reduce, block in zip(self.reduce, self.decoder, strict=True):
            skip = skips.pop()
            x = F.interpolate(reduce(x), size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = block(torch.cat([x, skip], dim=1))
        return self.head(x)[..., :h, :w]

    def parameter_count(self, trainable_only: bool = False) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    def summary(self) -> str:
        """One line for logs: sizes, options and parameter count."""
        opts = ",".join(o for o, on in (("residual", self.cfg.residual), ("attention", self.cfg.attention)) if on)
        return (f"BEVHeightOccupancy(in={self.in_channels}, out={self.out_levels}, channels={self.channels}, "
                f"norm={self.cfg.norm}, {opts or 'plain'}, dropout={self.cfg.dropout}, "
                f"prior={self.cfg.prior_occupancy}, params={self.parameter_count() / 1e6:.2f}M)")


def build_model(cfg: ModelConfig, in_channels: int, out_levels: int) -> BEVHeightOccupancy:
    """Build the model named by ``cfg.name`` (only ``bev_height_unet`` for now)."""
    if cfg.name != "bev_height_unet":
        raise ConfigError(f"model.name: expected 'bev_height_unet' (got {cfg.name!r})")
    return BEVHeightOccupancy(cfg, in_channels, out_levels)
