"""Validation IoU / precision / recall / F1 at one threshold, synced across ranks by torchmetrics.

A small stand-in until ``occkit.metrics`` ships its OccupancyMetrics; ``build_val_metric`` prefers that.
"""

from __future__ import annotations

from typing import Any

import torch
from torchmetrics import Metric


class BinaryOccupancyCounts(Metric):
    """Counts TP/FP/FN over all voxels (masked ones excluded) from logits."""

    full_state_update = False

    def __init__(self, threshold: float = 0.5) -> None:
        super().__init__()
        self.threshold = threshold
        for name in ("tp", "fp", "fn"):
            self.add_state(name, default=torch.tensor(0, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, logits: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> None:
        pred = logits.detach().sigmoid() > self.threshold
        gt = target.detach() > 0.5
        if mask is not None:
            keep = mask.bool()
            pred, gt = pred & keep, gt & keep
        self.tp += (pred & gt).sum().double()
        self.fp += (pred & ~gt).sum().double()
        self.fn += (~pred & gt).sum().double()

    def compute(self) -> dict[str, torch.Tensor]:
        tp, fp, fn = self.tp, self.fp, self.fn
        iou = tp / (tp + fp + fn).clamp_min(1)
        precision = tp / (tp + fp).clamp_min(1)
        recall = tp / (tp + fn).clamp_min(1)
        f1 = 2 * tp / (2 * tp + fp + fn).clamp_min(1)
        return {"iou": iou, "precision": precision, "recall": recall, "f1": f1}


def build_val_metric(cfg: Any) -> Metric:
    """The project's OccupancyMetrics when it exists, else the stand-in above."""
    threshold = float(cfg.eval.threshold)
    try:
        from occkit.metrics import OccupancyMetrics  # type: ignore[attr-defined]
    except ImportError:
        return BinaryOccupancyCounts(threshold)
    try:
        return OccupancyMetrics(threshold=threshold)
    except TypeError:
        return BinaryOccupancyCounts(threshold)
