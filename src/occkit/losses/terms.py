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
    log_q = F.logsigmoid(-logits)
    pos = alpha * target * torch.exp(gamma * log_q) * (-log_p)
    neg = (1.0 - alpha) * (1.0 - target) * torch.exp(gamma * log_p) * (-log_q)
    return pos + neg


def soft_dice(probs: torch.Tensor, target: torch.Tensor, weight: torch.Tensor, dims: tuple[int, ...],
              smooth: float) -> torch.Tensor:
    """``1 - (2*sum(w p t) + s) / (sum(w p) + sum(w t) + s)`` over ``dims``; 0 where the target mass is 0.

    Empty targets carry no overlap information. Scoring them (the usual smoothed form gives
    ``1 - s/(sum p + s)``) rewards predicting nothing anywhere, a collapse trap at <1% occupancy, so an
    empty-target reduction contributes 0 and the voxel-wise term alone penalises false positives there.
    """
    inter = (weight * probs * target).sum(dims)
    p_sum = (weight * probs).sum(dims)
    t_sum = (weight * target).sum(dims)
    dice = 1.0 - (2.0 * inter + smooth) / (p_sum + t_sum + smooth)
    return torch.where(t_sum > 0, dice, torch.zeros_like(dice))
