"""Building blocks of the BEV height U-Net: norm factory, conv blocks, spatial attention gate."""

from __future__ import annotations

import math

import torch
from torch import nn


def make_norm(kind: str, channels: int, groups: int) -> nn.Module:
    """GroupNorm (batch-size independent, the default) or BatchNorm2d."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    g = math.gcd(channels, groups)  # largest group count <= groups that divides channels
    return nn.GroupNorm(g, channels)


class SpatialGate(nn.Module):
    """CBAM-style spatial attention: a 7x7 conv over [mean, max] across channels gives a per-pixel gate.

    Cheap (2->1 channel conv) so it can run at full BEV resolution; it lets the net suppress empty
    regions and sharpen thin vertical structures without a quadratic self-attention cost.
    """

    def __init__(self, kernel_size: int = 7) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.conv(pooled))


class ConvBlock(nn.Module):
    """Two 3x3 conv-norm-ReLU layers, optionally residual (1x1 projection when channels change) and gated."""

    def __init__(self, in_ch: int, out_ch: int, *, norm: str, groups: int, residual: bool, attention: bool,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=False)
        self.norm1 = make_norm(norm, out_ch, groups)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1, bias=False)
        self.norm2 = make_norm(norm, out_ch, groups)
        self.act = nn.ReLU(inplace=True)
        self.drop = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()
        self.gate = SpatialGate() if attention else nn.Identity()
        self.residual = residual
        self.skip: nn.Module = nn.Identity()
        if residual and in_ch != out_ch:
            self.skip = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, bias=False), make_norm(norm, out_ch, groups))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self.norm1(self.conv1(x)))
        y = self.drop(y)
        y = self.norm2(self.conv2(y))
        y = self.gate(y)
        if self.residual:
            y = y + self.skip(x)
        return self.act(y)
