"""Semantic mIoU with the Occ3D convention (``Metric_mIoU`` of the Occ3D / CVPR 2023 challenge code).

An ``num_classes x num_classes`` confusion matrix (rows = ground truth, columns = prediction) is summed over
every evaluated voxel: those where ``mask`` is True (Occ3D: ``mask_camera``) and the ground truth is not
``ignore_index``. The free class (17) is counted in the matrix, so predicting "car" where the truth is free is a
false positive for car, but free is left out of the mean. Per-class IoU = diag / (rowsum + colsum - diag);
a class absent from both ground truth and prediction has 0/0 = NaN and is skipped by the mean. Values are
fractions in [0, 1] (Occ3D prints percentages).
"""

from __future__ import annotations

import torch
from torchmetrics import Metric

from occkit.errors import ConfigError
from occkit.metrics._checks import as_tensor, check_labels, check_mask, same_shape
from occkit.metrics.occupancy import safe_div


class SemanticMIoU(Metric):
    """Occ3D mIoU over label grids of any layout ([x, y, z], (B, Z, Y, X) ...; pred and gt alike)."""

    full_state_update = False
    higher_is_better = True
    is_differentiable = False

    def __init__(self, num_classes: int = 18, free_label: int | None = 17, ignore_index: int | None = 255,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        if int(num_classes) < 2:
            raise ConfigError(f"num_classes: expected at least 2 classes, got {num_classes!r}")
        if free_label is not None and not 0 <= int(free_label) < num_classes:
            raise ConfigError(f"free_label: expected a class id in [0, {num_classes - 1}] or None, got {free_label!r}")
        if ignore_index is not None and 0 <= int(ignore_index) < num_classes:
            raise ConfigError(f"ignore_index: must not be a class id in [0, {num_classes - 1}], got {ignore_index!r}")
        self.num_classes = int(num_classes)
        self.free_label = None if free_label is None else int(free_label)
        self.ignore_index = ignore_index
        self.add_state("confmat", default=torch.zeros(num_classes, num_classes, dtype=torch.int64),
                       dist_reduce_fx="sum")

    def update(self, pred_labels: torch.Tensor, gt_labels: torch.Tensor, mask: torch.Tensor | None = None) -> None:
        """Add one grid or batch; ``mask`` bool (True = evaluate) of the same shape."""
        pred = as_tensor(pred_labels, "pred_labels")
        gt = as_tensor(gt_labels, "gt_labels").to(pred.device)
        same_shape(gt, pred, "gt_labels", "pred_labels")
        check_labels(pred, "pred_labels", self.num_classes, None)
        check_labels(gt, "gt_labels", self.num_classes, self.ignore_index)
        keep = (gt >= 0) & (gt < self.num_classes)
        m = check_mask(mask, gt, "gt_labels") if mask is not None else None
        if m is not None:
            keep &= m.reshape(gt.shape)
        n = self.num_classes
        code = gt.long() * n + pred.long()
        code = torch.where(keep, code, torch.full_like(code, n * n))
        counts = torch.bincount(code.reshape(-1), minlength=n * n + 1)[: n * n]
        self.confmat += counts.view(n, n).to(self.confmat.device)

    def compute(self) -> dict[str, torch.Tensor]:
        cm = self.confmat
        diag = cm.diagonal()
        per_class = safe_div(diag, cm.sum(1) + cm.sum(0) - diag)
        keep = torch.ones(self.num_classes, dtype=torch.bool, device=cm.device)
        if self.free_label is not None:
            keep[self.free_label] = False
        miou = torch.nanmean(per_class[keep])
        out = {"miou": miou, "per_class_iou": per_class, "confmat": cm.clone()}
        if self.free_label is not None:
            occ = keep  # every non-free class counts as occupied
            tp = cm[occ][:, occ].sum()
            fp = cm[~occ][:, occ].sum()
            fn = cm[occ][:, ~occ].sum()
            out["iou_geometry"] = safe_div(tp, tp + fp + fn)
        return out
