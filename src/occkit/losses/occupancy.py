"""OccupancyLoss: the training loss for sparse occupancy grids, with logging-friendly parts.

Layout: logits, target and mask are ``(B, Z, Y, X)`` (any trailing dims work; dim 1 is height).
**Logits only**: passing probabilities silently trains the wrong thing (sigmoid is applied inside).
Reduction: voxel-wise terms (bce, weighted_bce, focal) are ``sum(w_z * m * l) / sum(m)`` -- the mean over
observed voxels with height weights scaling each level (as torch's ``weight`` argument does); dice is one
soft dice over all observed voxels of the batch, with ``w_z`` weighting each voxel's mass.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from occkit.errors import ConfigError, GridMismatchError, OccKitError
from occkit.losses.config import LossConfig, LossTerm, preset_terms
from occkit.losses.terms import bce_map, dice_from_sums, dice_sums, focal_map, soft_dice


class LossInputError(OccKitError, ValueError):
    """Tensors given to the loss do not fit (dtype, range, shape)."""


@dataclass
class LossOutput:
    """``total`` is what to backpropagate; ``terms`` and ``per_height`` are detached, for logging and health."""

    total: torch.Tensor
    terms: dict[str, torch.Tensor] = field(default_factory=dict)
    per_height: torch.Tensor | None = None


class OccupancyLoss(torch.nn.Module):
    """A weighted sum of terms (``loss.terms``, or the ``loss.kind`` preset: voxel-wise term + dice + mean
    matching), masked and height-weighted. See the module docstring."""

    def __init__(self, cfg: LossConfig | None = None, voxel_size: tuple[float, float, float] | None = None) -> None:
        """``voxel_size`` (x, y, z in m): the grid's, needed by ``above_ground_dice_weight`` to turn its window and
        band into voxels."""
        super().__init__()
        self.cfg = cfg or LossConfig()
        self.above_ground = None
        if self.cfg.above_ground_dice_weight > 0:
            if voxel_size is None:
                raise ConfigError("loss.above_ground_dice_weight: the loss needs the grid's voxel size to find the "
                                  "ground (OccupancyLoss(cfg, voxel_size=grid.voxel_size))")
            from occkit.metrics.regions import ground_filter_voxels

            self.above_ground = ground_filter_voxels(self.cfg.above_ground_window_m, self.cfg.above_ground_band_m,
                                                     voxel_size)
        hw = self.cfg.height_weights
        if hw is not None:
            if len(hw) == 0 or any(w < 0 for w in hw) or not any(w > 0 for w in hw):
                raise ConfigError(f"loss.height_weights: expected non-negative weights, not all zero (got {hw})")
            self.register_buffer("height_weights", torch.tensor(hw, dtype=torch.float32), persistent=False)
        else:
            self.height_weights = None
        self.terms: list[LossTerm] = preset_terms(self.cfg)
        names = [t.log_name for t in self.terms]
        self.term_names = [n if names.count(n) == 1 else f"{n}{i}" for i, n in enumerate(names)]
        self.fused_spec = self._fused_spec()

    def _fused_spec(self):  # noqa: ANN202 - FusedSpec imported lazily
        """The fused kernel's spec when the terms fit it (one voxel term at weight 1, one dice, one mean)."""
        from occkit.losses.fused import FusedSpec

        cfg = self.cfg
        voxel = [t for t in self.terms if t.kind in ("bce", "focal")]
        dice = [t for t in self.terms if t.kind == "dice"]
        mean = [t for t in self.terms if t.kind == "mean"]
        if len(voxel) > 1 or len(dice) > 1 or len(mean) > 1 or (voxel and voxel[0].weight != 1.0):
            return None
        v = voxel[0] if voxel else None
        return FusedSpec(voxel=v.log_name if v else None,
                         pos_weight=(v.pos_weight or 1.0) if v else 1.0,
                         alpha=v.alpha if v and v.alpha is not None else cfg.focal_alpha,
                         gamma=v.gamma if v and v.gamma is not None else cfg.focal_gamma,
                         dice_weight=dice[0].weight if dice else 0.0,
                         dice_smooth=dice[0].smooth if dice and dice[0].smooth is not None else cfg.dice_smooth,
                         mean_weight=mean[0].weight if mean else 0.0)

    def _check(self, logits: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None) -> None:
        if not logits.is_floating_point():
            raise LossInputError(f"loss logits: expected a float tensor, got {logits.dtype}")
        if logits.ndim < 2:
            raise LossInputError(f"loss logits: expected (B, Z, ...) with Z on dim 1, got shape {tuple(logits.shape)}")
        if target.shape != logits.shape:
            raise GridMismatchError(f"loss target: shape {tuple(target.shape)} != logits shape {tuple(logits.shape)}")
        if mask is not None and mask.shape != logits.shape:
            raise GridMismatchError(f"loss mask: shape {tuple(mask.shape)} != logits shape {tuple(logits.shape)}")
        if self.height_weights is not None and len(self.height_weights) != logits.shape[1]:
            raise ConfigError(f"loss.height_weights: expected {logits.shape[1]} weights (one per height level Z), "
                              f"got {len(self.height_weights)}")
        if self.cfg.check_inputs and target.numel():
            lo, hi = torch.aminmax(target.detach().float())
            if not (bool(lo >= 0) and bool(hi <= 1)):
                raise LossInputError(f"loss target: expected values in [0, 1] (hard or soft occupancy), "
                                     f"got range [{float(lo):g}, {float(hi):g}]")

    def forward(self, logits: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> LossOutput:
        self._check(logits, target, mask)
        cfg = self.cfg
        logits = logits.float()  # loss math in fp32 even under autocast
        target = target.to(logits.dtype)
        z = logits.shape[1]
        view = (1, z) + (1,) * (logits.ndim - 2)
        red = tuple(d for d in range(logits.ndim) if d != 1)  # all dims but height
        valid = None if mask is None else mask.to(logits.dtype)
        wz = self.height_weights.to(logits.device).view(view) if self.height_weights is not None else None
        # per-voxel weight, 0 outside the mask; None = all ones (the fast path, no extra full-size tensors)
        weight = valid if wz is None else (wz if valid is None else valid * wz)
        if valid is None:
            count_h = logits.new_full((z,), float(logits.numel() // z))
        else:
            count_h = valid.sum(red)  # observed voxels per height
        count = count_h.sum().clamp_min(1.0)

        if cfg.fused and self.fused_spec is not None:
            return self._above_ground(self._fused(logits, target, weight, valid, count_h), logits, target, weight)
        total = logits.new_zeros(())
        per_height = logits.new_zeros(z)
        terms: dict[str, torch.Tensor] = {}
        probs = torch.sigmoid(logits)
        for term, name in zip(self.terms, self.term_names, strict=True):
            if term.kind in ("bce", "focal"):
                if term.kind == "focal":
                    alpha = term.alpha if term.alpha is not None else cfg.focal_alpha
                    gamma = term.gamma if term.gamma is not None else cfg.focal_gamma
                    lmap = focal_map(logits, target, alpha, gamma)
                else:
                    lmap = bce_map(logits, target, term.pos_weight)
                wl = lmap if weight is None else weight * lmap
                value = wl.sum() / count
                per_height = per_height + term.weight * wl.detach().sum(red) / count_h.clamp_min(1.0)
            elif term.kind == "dice":
                smooth = term.smooth if term.smooth is not None else cfg.dice_smooth
                inter_h, p_h, t_h = dice_sums(probs, target, weight, red)  # one pass, per height
                value = dice_from_sums(inter_h.sum(), p_h.sum(), t_h.sum(), smooth)
                with torch.no_grad():
                    per_height = per_height + term.weight * dice_from_sums(inter_h, p_h, t_h, smooth)
            else:  # mean matching
                if valid is None:
                    diff = probs.mean() - target.mean()
                else:
                    diff = ((probs - target) * valid).sum() / valid.sum().clamp_min(1.0)
                value = diff * diff
            total = total + term.weight * value
            terms[name] = value.detach()
        out = LossOutput(total=total, terms=terms, per_height=per_height.detach())
        return self._above_ground(out, logits, target, weight)

    def _above_ground(self, out: LossOutput, logits: torch.Tensor, target: torch.Tensor,
                      weight: torch.Tensor | None) -> LossOutput:
        """Adds ``above_ground_dice_weight`` x a soft dice over the voxels above the target's ground band."""
        cfg = self.cfg
        if self.above_ground is None:
            return out
        if logits.ndim != 4:
            raise LossInputError(f"loss.above_ground_dice_weight: expected (B, Z, Y, X) logits to find the ground in, "
                                 f"got shape {tuple(logits.shape)}")
        from occkit.metrics.regions import ground_region

        with torch.no_grad():
            above = ~ground_region(target > 0.5, *self.above_ground)
            region = above.to(logits.dtype) if weight is None else weight * above
        value = soft_dice(torch.sigmoid(logits), target, region, tuple(range(logits.ndim)), cfg.dice_smooth)
        out.total = out.total + cfg.above_ground_dice_weight * value
        out.terms["dice_above_ground"] = value.detach()
        return out

    def _fused(self, logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None,
               valid: torch.Tensor | None, count_h: torch.Tensor) -> LossOutput:
        """The same loss through occkit.losses.fused (one forward pass, an analytic backward)."""
        from occkit.losses.fused import FusedOccupancyLoss

        spec = self.fused_spec
        dw = spec.dice_weight
        total, voxel_h, dice, mean, inter_h, p_h, t_h = FusedOccupancyLoss.apply(
            logits, target, weight, valid, spec, count_h)
        terms: dict[str, torch.Tensor] = {}
        per_height = logits.new_zeros(logits.shape[1])
        if spec.voxel is not None:
            terms[spec.voxel] = (voxel_h.sum() / count_h.sum().clamp_min(1.0)).detach()
            per_height = per_height + voxel_h.detach() / count_h.clamp_min(1.0)
        if dw > 0:
            terms["dice"] = dice.detach()
            per_height = per_height + dw * dice_from_sums(inter_h, p_h, t_h, spec.dice_smooth).detach()
        if spec.mean_weight > 0:
            terms["mean"] = mean.detach()
        return LossOutput(total=total, terms=terms, per_height=per_height.detach())
