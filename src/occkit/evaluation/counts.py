"""Occupancy counts at many thresholds and every height level in one pass (a torchmetrics Metric).

Each voxel's probability is binned by how many thresholds lie below it; per height level the binned
counts of occupied and free ground-truth voxels are kept. Suffix sums then give TP/FP/FN at every
threshold exactly, so a 19-threshold sweep costs one ``bincount``, not 19 comparisons of the whole grid.
States are sums, so ranks merge with ``dist_reduce_fx="sum"``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchmetrics import Metric


def rates(tp: torch.Tensor, fp: torch.Tensor, fn: torch.Tensor) -> dict[str, torch.Tensor]:
    """IoU, precision, recall, F1 from counts (0 where undefined)."""
    return {"iou": tp / (tp + fp + fn).clamp_min(1), "precision": tp / (tp + fp).clamp_min(1),
            "recall": tp / (tp + fn).clamp_min(1), "f1": 2 * tp / (2 * tp + fp + fn).clamp_min(1)}


class ThresholdHeightCounts(Metric):
    """TP/FP/FN per (height level, threshold) from logits ``(B, Z, Y, X)`` and targets (occupied = > 0.5)."""

    full_state_update = False

    def __init__(self, num_levels: int, thresholds: Sequence[float]) -> None:
        super().__init__()
        ts = sorted({float(t) for t in thresholds})
        if not ts or not all(0 < t < 1 for t in ts):
            raise ValueError(f"thresholds must be probabilities in (0, 1), got {list(thresholds)}")
        self.thresholds = ts
        self.num_levels = int(num_levels)
        self.register_buffer("_t", torch.tensor(ts, dtype=torch.float32), persistent=False)
        bins = (self.num_levels, len(ts) + 1)
        self.add_state("pos", default=torch.zeros(bins, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("neg", default=torch.zeros(bins, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, logits: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> None:
        if logits.ndim != 4 or logits.shape[1] != self.num_levels or target.shape != logits.shape:
            raise ValueError(f"expected logits and target (B, {self.num_levels}, Y, X), got {tuple(logits.shape)} "
                             f"and {tuple(target.shape)}")
        prob = logits.detach().float().sigmoid()
        k = torch.searchsorted(self._t.to(prob.device), prob.reshape(-1), right=False)  # thresholds below p
        z = torch.arange(self.num_levels, device=prob.device).view(1, -1, 1, 1).expand_as(prob).reshape(-1)
        cell = z * (len(self.thresholds) + 1) + k
        gt = (target.detach() > 0.5).reshape(-1)
        if mask is not None:
            keep = mask.detach().bool().reshape(-1)
            cell, gt = cell[keep], gt[keep]
        n = self.pos.numel()
        self.pos += torch.bincount(cell[gt], minlength=n).view_as(self.pos).double()
        self.neg += torch.bincount(cell[~gt], minlength=n).view_as(self.neg).double()

    def counts(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(tp, fp, fn), each (Z, T): predicted occupied at threshold j means p > thresholds[j]."""
        # bin k holds voxels with exactly k thresholds below p: p > t_j  <=>  k > j
        tp = self.pos.flip(-1).cumsum(-1).flip(-1)[:, 1:]
        fp = self.neg.flip(-1).cumsum(-1).flip(-1)[:, 1:]
        fn = self.pos.sum(-1, keepdim=True) - tp
        return tp, fp, fn

    def compute(self) -> dict[str, torch.Tensor]:
        """Overall rates per threshold (T,) and per (level, threshold) (Z, T), plus voxel totals per level."""
        tp, fp, fn = self.counts()
        out = {k: v for k, v in rates(tp.sum(0), fp.sum(0), fn.sum(0)).items()}
        out.update({f"{k}_per_height": v for k, v in rates(tp, fp, fn).items()})
        out["gt_voxels_per_height"] = self.pos.sum(-1)
        out["voxels_per_height"] = self.pos.sum(-1) + self.neg.sum(-1)
        return out
