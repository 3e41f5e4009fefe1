"""Building blocks of the BEV height U-Net: norm factory, conv blocks, spatial attention gate."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
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


class SharedLevelFilter(nn.Module):
    """One small filter applied at every height level of a grid, reading that level and ``reach`` levels above and
    below: a (2 reach + 1, k, k) 3D convolution computed as a 2D one over levels folded into the batch, which CPUs
    and cuDNN run far faster than Conv3d. Reads ``features`` per-level maps (B, features, Z, Y, X) (the occupancy
    and the input features, e.g. the sub-voxel height of the points), and ``own`` maps read at the level itself only
    (column summaries such as ``column_span_features``, whose neighbouring levels add little), returns
    (B, Z, Y, X); the output layer starts at zero. ``dilations`` adds one residual 3 x 3 layer per entry.

    ``band`` = m: the filter speaks only on the levels from m below a sample's lowest input hit to m above its
    highest, and is zero elsewhere. A grid's structure fills a few dozen of its levels, so this skips most of the
    work (the filter is most of the network's cost); the U-Net's own logits still cover every level."""

    def __init__(self, kernel: int, channels: int, context: int = 0, features: int = 1, reach: int = 1,
                 own: int = 0, dilations: list[int] | tuple[int, ...] = (), band: int | None = None) -> None:
        super().__init__()
        self.context, self.reach, self.own, self.band = context, reach, own, band
        self.window = 2 * reach + 1
        self.conv = nn.Conv2d(self.window * features + context + own, channels, kernel, padding=kernel // 2)
        self.mid = nn.Conv2d(channels, channels, 3, padding=1) if context else None
        # more residual 3 x 3 layers with these dilations: a wider view of each level (a wall's roof edge and the
        # ground beside it) for a few layers' cost
        self.more = nn.ModuleList(nn.Conv2d(channels, channels, 3, padding=d, dilation=d) for d in dilations)
        self.act = nn.ReLU(inplace=True)
        self.out = nn.Conv2d(channels, 1, 1)

    def reset_output(self) -> None:
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, levels: torch.Tensor, context: torch.Tensor | None = None,
                own: torch.Tensor | None = None) -> torch.Tensor:
        """``levels``: (B, features, Z, Y, X), the occupancy first; ``context``: (B, Z * context, Y, X) level-major,
        when built with it; ``own``: (B, own, Z, Y, X), when built with it."""
        b, _, z, h, w = levels.shape
        if self.band is None:
            return self._run(self._stack(levels, context, own, 0, z)).view(b, z, h, w)
        if torch.jit.is_tracing() or torch.compiler.is_compiling():
            # an export records one graph for every input: the per-sample bands below are Python decisions that a
            # trace would freeze to the example's levels, so the graph runs every level and zeroes the rest instead
            full = self._run(self._stack(levels, context, own, 0, z)).view(b, z, h, w)
            return full * self._band_mask(levels[:, 0]).to(full.dtype)
        bands = self._sample_bands(levels[:, 0])
        # every sample's own levels, folded into one batch of level images: one convolution pass for all
        pieces = [self._stack(levels[i:i + 1], None if context is None else context[i:i + 1],
                              None if own is None else own[i:i + 1], lo, hi)
                  for i, (lo, hi) in enumerate(bands) if hi > lo]
        out = self._run(torch.cat(pieces)) if pieces else levels.new_zeros(0, h, w)
        sizes = [hi - lo for lo, hi in bands]  # an empty sample's piece is empty and pads to zeros
        return torch.stack([F.pad(piece, (0, 0, 0, 0, lo, z - hi)) for piece, (lo, hi) in zip(out.split(sizes), bands,
                                                                                               strict=True)])

    def _sample_bands(self, occupancy: torch.Tensor) -> list[tuple[int, int]]:
        """Per sample, the levels lo..hi-1 of its band (clamped to the grid; lo == hi when it holds no hit)."""
        z = occupancy.shape[1]
        hit = (occupancy.amax(dim=(2, 3)) > 0).cpu()  # (B, Z)
        bands = []
        for row in hit:
            levels = row.nonzero().flatten().tolist()
            bands.append((max(levels[0] - self.band, 0), min(levels[-1] + self.band + 1, z)) if levels else (0, 0))
        return bands

    def _band_mask(self, occupancy: torch.Tensor) -> torch.Tensor:
        """(B, Z, 1, 1) bool: the levels of ``_sample_bands`` as tensor operations, which an export can record."""
        z = occupancy.shape[1]
        hit = occupancy.amax(dim=(2, 3)) > 0  # (B, Z)
        idx = torch.arange(z, device=occupancy.device).view(1, z)
        lowest = torch.where(hit, idx, torch.full_like(idx, z)).amin(dim=1, keepdim=True)
        highest = torch.where(hit, idx, torch.full_like(idx, -1)).amax(dim=1, keepdim=True)
        return ((idx >= lowest - self.band) & (idx <= highest + self.band))[:, :, None, None]

    def _stack(self, levels: torch.Tensor, context: torch.Tensor | None, own: torch.Tensor | None,
               lo: int, hi: int) -> torch.Tensor:
        """The filter's input at levels lo..hi-1, (B * (hi - lo), channels, Y, X): each level with ``reach`` levels
        either side (free levels beyond the grid), its context and its own maps."""
        b, f, z, h, w = levels.shape
        r, n, m = self.reach, self.window, hi - lo
        first, end = max(lo - r, 0), min(hi + r, z)
        padded = F.pad(levels[:, :, first:end], (0, 0, 0, 0, first - (lo - r), (hi + r) - end))
        stacked = torch.stack([padded[:, :, k:k + m] for k in range(n)], dim=3)  # (B, F, M, window, Y, X)
        parts = [stacked.permute(0, 2, 1, 3, 4, 5).reshape(b, m, n * f, h, w)]
        if self.context:
            parts.append(context.view(b, z, self.context, h, w)[:, lo:hi])
        if self.own:
            parts.append(own[:, :, lo:hi].transpose(1, 2).to(levels.dtype))
        stacked = torch.cat(parts, dim=2) if len(parts) > 1 else parts[0]
        return stacked.reshape(b * m, n * f + self.context + self.own, h, w)

    def _run(self, stacked: torch.Tensor) -> torch.Tensor:
        """One logit per level image: (N, channels, Y, X) -> (N, Y, X)."""
        y = self.act(self.conv(stacked))
        if self.mid is not None:
            y = self.act(self.mid(y))
        for conv in self.more:
            y = y + self.act(conv(y))
        return self.out(y)[:, 0]


def column_span_features(occupancy: torch.Tensor, windows: list[int], graded: int = 0) -> torch.Tensor:
    """(B, len(windows) + 1, Z, Y, X) 0/1 from the input occupancy (B, Z, Y, X): for each window k, the level lies
    strictly between the lowest and the highest hit of the k x k columns around it (k odd); last, the level lies
    under its own column's highest hit.

    A per-level filter cannot see a roof ten levels up; these maps tell it where a wall between a roof edge and the
    ground beside it can be, and which voxels sit under a roof. ``graded`` > 0 adds two maps, how far (in levels,
    up to ``graded``, scaled to 0..1) the level lies under its own column's top and over the lowest hit of the
    first window's columns: how deep into a canopy, how high up a wall (B, len(windows) + 3, Z, Y, X)."""
    z = occupancy.shape[1]
    idx = torch.arange(z, device=occupancy.device, dtype=occupancy.dtype).view(1, z, 1, 1)
    hit = occupancy > 0
    top = torch.where(hit, idx, torch.full_like(occupancy, -1.0)).amax(1, keepdim=True)
    bottom = torch.where(hit, idx, torch.full_like(occupancy, float(z))).amin(1, keepdim=True)
    maps, bottoms = [], []
    for k in windows:
        k = int(k) | 1
        top_around = F.max_pool2d(top, k, stride=1, padding=k // 2)
        bottoms.append(-F.max_pool2d(-bottom, k, stride=1, padding=k // 2))
        maps.append((idx > bottoms[-1]) & (idx < top_around))
    maps.append(idx < top)
    if graded:
        ground_beside = bottoms[0] if bottoms else bottom
        maps.append(((top - idx) / graded).clamp(0, 1) * (idx < top))
        maps.append(((idx - ground_beside) / graded).clamp(0, 1) * (idx > ground_beside))
    return torch.stack(maps, dim=1).to(occupancy.dtype)


class Head3D(nn.Module):
    """LMSCNet's segmentation head: 2D BEV features reshaped to (C, Z, Y, X), refined by dilated 3D convs.

    A 1x1 conv lifts the full-resolution features to ``channels * levels``; the input occupancy joins as one
    more channel, so the 3D convolutions see the raw hits; residual 3x3x3 convolutions with growing dilation
    (weights shared across every level) spread surfaces to their neighbours; a 1x1x1 conv gives one logit per
    voxel. Returns (B, Z, Y, X) logits.
    """

    def __init__(self, in_ch: int, levels: int, channels: int, dilations: list[int]) -> None:
        super().__init__()
        self.levels, self.channels = levels, channels
        self.lift = nn.Conv2d(in_ch, channels * levels, 1)
        width = channels + 1
        self.convs = nn.ModuleList(nn.Conv3d(width, width, 3, padding=d, dilation=d) for d in dilations)
        self.act = nn.ReLU(inplace=True)
        self.out = nn.Conv3d(width, 1, 1)

    def forward(self, x: torch.Tensor, occupancy: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        v = self.lift(x).view(b, self.channels, self.levels, h, w)
        v = torch.cat([v, occupancy.unsqueeze(1)], dim=1)
        for conv in self.convs:
            v = v + self.act(conv(v))
        return self.out(v).squeeze(1)
