"""Element-wise and set-level loss terms on logits. All are numerically stable for logits of any size.

Every function takes logits, never probabilities: the sigmoid is applied here in log space.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def bce_map(logits: torch.Tensor, target: torch.Tensor, pos_weight: float | None = None) -> torch.Tensor:
    """Per-voxel binary cross-entropy; ``pos_weight`` scales the positive (occupied) term."""
    pw = None if pos_weight is None else torch.as_tensor(pos_weight, dtype=logits.dtype, device=logits.device)
    return F.binary_cross_entropy_with_logits(logits, target, pos_weight=pw, reduction="none")


def focal_map(logits: torch.Tensor, target: torch.Tensor, alpha: float, gamma: float) -> torch.Tensor:
    """Per-voxel binary focal loss (Lin et al.), soft-target form.

    ``alpha * t * (1-p)^g * -log p + (1-alpha) * (1-t) * p^g * -log(1-p)``; alpha weights the positives
    (kornia's convention). Powers are taken as ``exp(g * logsigmoid)`` so gradients stay finite for any g.
    """
    log_p = F.logsigmoid(logits)
    log_q = log_p - logits  # logsigmoid(-x) = logsigmoid(x) - x, one transcendental pass fewer
    if gamma == 2.0:  # the common case: squares of probabilities in [0, 1] are exact and cheap
        q = torch.exp(log_q)
        p = torch.exp(log_p)
        mod_pos, mod_neg = q * q, p * p
    else:
        mod_pos, mod_neg = torch.exp(gamma * log_q), torch.exp(gamma * log_p)
    pos = alpha * target * mod_pos * (-log_p)
    neg = (1.0 - alpha) * (1.0 - target) * mod_neg * (-log_q)
    return pos + neg


def dice_sums(probs: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None, dims: tuple[int, ...]
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Weighted ``sum(p t)``, ``sum(p)``, ``sum(t)`` over ``dims`` (reused for global and per-height dice)."""
    wp = probs if weight is None else weight * probs
    wt = target if weight is None else weight * target
    return (wp * target).sum(dims), wp.sum(dims), wt.sum(dims)


def dice_from_sums(inter: torch.Tensor, p_sum: torch.Tensor, t_sum: torch.Tensor, smooth: float) -> torch.Tensor:
    """``1 - (2*inter + s) / (p_sum + t_sum + s)``; 0 where the target mass is 0 (see :func:`soft_dice`)."""
    dice = 1.0 - (2.0 * inter + smooth) / (p_sum + t_sum + smooth)
    return torch.where(t_sum > 0, dice, torch.zeros_like(dice))


def soft_dice(probs: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None, dims: tuple[int, ...],
              smooth: float) -> torch.Tensor:
    """``1 - (2*sum(w p t) + s) / (sum(w p) + sum(w t) + s)`` over ``dims``; 0 where the target mass is 0.

    Empty targets carry no overlap information. Scoring them (the usual smoothed form gives
    ``1 - s/(sum p + s)``) rewards predicting nothing anywhere, a collapse trap at <1% occupancy, so an
    empty-target reduction contributes 0 and the voxel-wise term alone penalises false positives there.
    """
    return dice_from_sums(*dice_sums(probs, target, weight, dims), smooth)
