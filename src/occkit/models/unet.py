"""BEVHeightOccupancy: a dense 2D U-Net over the bird's-eye view whose output channels are height levels.

Input ``(B, C_in, Y, X)`` (height levels x features folded into channels), output logits ``(B, Z, Y, X)``.

With ``input_skip`` (the default) the input occupancy reaches the logits through a small convolution that starts
as the copy of the input: a voxel with points starts at ``skip_occupied_prob``, an empty one at the prior. The
U-Net head starts at zero, so step 0 scores exactly the copy baseline and training only learns the residual
(what to add and what to drop). Without it the identity is not even representable when the first U-Net level
is narrower than the number of height levels.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from occkit.errors import ConfigError, GridMismatchError
from occkit.models.blocks import ConvBlock, Head3D, SharedLevelFilter, column_span_features
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
        self.head: nn.Conv2d | None = nn.Conv2d(chans[0], out_levels, 1, bias=True) if cfg.head == "2d" else None
        self.head3d = (Head3D(chans[0], out_levels, cfg.head3d_channels, list(cfg.head3d_dilations))
                       if cfg.head == "3d" else None)
        self.skip: nn.Conv2d | None = None
        self.shared: SharedLevelFilter | None = None
        self.lift: nn.Conv2d | None = None
        if cfg.input_skip:
            if in_channels % out_levels:
                raise ConfigError(f"model.input_skip: input channels ({in_channels}) must be features x height "
                                  f"levels ({out_levels})")
            if cfg.skip_kernel % 2 == 0:
                raise ConfigError(f"model.skip_kernel: expected an odd kernel size (got {cfg.skip_kernel})")
            self.skip = nn.Conv2d(out_levels, out_levels, cfg.skip_kernel, padding=cfg.skip_kernel // 2, bias=True)
            n_features = in_channels // out_levels
            span_maps = len(cfg.skip_shared_span) + 1 if cfg.skip_shared_span else 0  # + "under its own top"
            span_maps += 2 if cfg.skip_shared_span and cfg.skip_shared_span_graded else 0
            self.shared = (SharedLevelFilter(cfg.skip_shared_kernel | 1, cfg.skip_shared_channels,
                                             cfg.skip_shared_context, features=1 + n_features, own=span_maps,
                                             reach=cfg.skip_shared_reach, dilations=cfg.skip_shared_dilations,
                                             band=cfg.skip_shared_band)
                           if cfg.skip_shared_kernel else None)
            self.lift = (nn.Conv2d(chans[0], cfg.skip_shared_context * out_levels, 1)
                         if cfg.skip_shared_kernel and cfg.skip_shared_context else None)
            self.register_buffer("skip_gain", torch.tensor(1.0))
            self.register_buffer("skip_offset", torch.tensor(0.0))
        self.stride = 2 ** (len(chans) - 1)
        self.reset_parameters()
        use_channels_last(self)

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
        prior = self.cfg.prior_occupancy
        prior_logit = math.log(prior / (1 - prior)) if prior is not None else 0.0
        last = self.head if self.head is not None else self.head3d.out
        if self.skip is None:
            nn.init.normal_(last.weight, std=HEAD_INIT_STD)
            nn.init.constant_(last.bias, prior_logit)
            return
        # the copy solution: logit = prior where the input is empty, logit(skip_occupied_prob) where it has points;
        # the head starts silent, so step 0 is exactly the copy. The copy path's weights are unit-scale (identity at
        # the centre tap) times a fixed gain, so an optimizer step of size lr moves a logit by gain * lr: learning a
        # neighbour's weight takes tens of steps, not the thousands a raw weight of ~8 would need.
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        p_hit = self.cfg.skip_occupied_prob
        with torch.no_grad():
            self.skip.weight.zero_()
            centre = self.cfg.skip_kernel // 2
            self.skip.weight[:, :, centre, centre] = torch.eye(self.out_levels)
            self.skip.bias.zero_()
            self.skip_gain.fill_(math.log(p_hit / (1 - p_hit)) - prior_logit)
            self.skip_offset.fill_(prior_logit)
        if self.shared is not None:
            self.shared.reset_output()

    def input_occupancy(self, x: torch.Tensor) -> torch.Tensor:
        """(B, Z, Y, X) 0/1 float: the voxels of the first input feature that hold points."""
        return (x[:, : self.out_levels] > 0).to(x.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise GridMismatchError(f"model input: expected (B, {self.in_channels}, Y, X), got {tuple(x.shape)}")
        h, w = x.shape[-2:]
        ph, pw = (-h) % self.stride, (-w) % self.stride
        if ph or pw:  # pad bottom/right to a multiple of the total stride; cropped again below
            x = F.pad(x, (0, pw, 0, ph))
        occupancy = self.input_occupancy(x) if self.skip is not None or self.head3d is not None else None
        levels = None
        if self.shared is not None:  # occupancy + every input feature, per level: (B, 1 + F, Z, Y, X)
            b, _, hh, ww = x.shape
            levels = torch.cat([occupancy.unsqueeze(1), x.view(b, -1, self.out_levels, hh, ww)], dim=1)
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
        logits = self.head(x) if self.head is not None else self.head3d(x, occupancy)
        if self.skip is not None:
            copy = self.skip(occupancy)
            if self.shared is not None:
                span = self.cfg.skip_shared_span
                spans = (column_span_features(occupancy, span, self.cfg.skip_shared_span_graded)
                         if span else None)
                copy = copy + self.shared(levels, None if self.lift is None else self.lift(x), spans)
            logits = logits + self.skip_gain * copy + self.skip_offset
        return logits[..., :h, :w].contiguous()

    def parameter_count(self, trainable_only: bool = False) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    def summary(self) -> str:
        """One line for logs: sizes, options and parameter count."""
        opts = ",".join(o for o, on in (("residual", self.cfg.residual), ("attention", self.cfg.attention),
                                        ("input_skip", self.cfg.input_skip), ("head3d", self.cfg.head == "3d"))
                        if on)
        return (f"BEVHeightOccupancy(in={self.in_channels}, out={self.out_levels}, channels={self.channels}, "
                f"norm={self.cfg.norm}, {opts or 'plain'}, dropout={self.cfg.dropout}, "
                f"prior={self.cfg.prior_occupancy}, params={self.parameter_count() / 1e6:.2f}M)")


def use_channels_last(net: nn.Module) -> None:
    """Store every 2D convolution's weights channels-last (NHWC): oneDNN then runs the convolutions, forward and
    backward, about 1.7x as fast on a CPU (benchmarks/step_speed.py; tensor cores prefer it on a GPU); the results are
    the same."""
    for module in net.modules():
        if isinstance(module, nn.Conv2d):
            module.weight.data = module.weight.data.contiguous(memory_format=torch.channels_last)


def build_model(cfg: ModelConfig, in_channels: int, out_levels: int) -> BEVHeightOccupancy:
    """Build the model named by ``cfg.name`` (only ``bev_height_unet`` for now)."""
    if cfg.name != "bev_height_unet":
        raise ConfigError(f"model.name: expected 'bev_height_unet' (got {cfg.name!r})")
    return BEVHeightOccupancy(cfg, in_channels, out_levels)
