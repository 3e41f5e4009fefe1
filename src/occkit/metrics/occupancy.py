"""Binary occupancy IoU / precision / recall / F1, a threshold sweep and per-height IoU.

Definitions (the metric accumulates counts over every update, then divides once in ``compute``):

* a voxel is **predicted occupied** when ``sigmoid(logit) > threshold`` (strict, so a logit of 0 is empty at 0.5);
  a NaN logit is predicted empty and counted in ``nan_logits``;
* it is **occupied in the target** when ``target >= 0.5`` (hard 0/1 or soft targets alike);
* voxels where ``mask`` is False are left out of every count.

Edge cases: every ratio is NaN when its denominator is zero, never 0 or 1, so "nothing to score" is not
confused with a perfect or a failed prediction and ``nanmean`` over frames skips it:

* ``iou = tp / (tp + fp + fn)`` and ``f1 = 2tp / (2tp + fp + fn)``: NaN when prediction and target are both
  empty (or everything is masked); 0 when exactly one of them is empty;
* ``precision = tp / (tp + fp)``: NaN when nothing is predicted occupied (a collapsed "all empty" model has
  NaN precision, recall 0 and F1 0);
* ``recall = tp / (tp + fn)``: NaN when the target has no occupied voxel;
* ``per_height_iou[z]``: NaN for a level with no occupied voxel in prediction or target;
* the sweep's ``best_f1`` ignores NaN entries and prefers the lowest threshold on ties; all NaN -> NaN.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchmetrics import Metric

from occkit.errors import ConfigError, GridMismatchError
from occkit.metrics._checks import as_tensor, batched_zyx, check_mask, check_probability, check_thresholds, same_shape
from occkit.metrics.config import DEFAULT_SWEEP


def safe_div(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    """num / den in float64, NaN where den == 0."""
    num, den = num.double(), den.double()
    return torch.where(den > 0, num / den.clamp_min(1), torch.full_like(den, float("nan")))


class OccupancyMetrics(Metric):
    """IoU family for occupancy logits in model layout (B, Z, Y, X); counts are summed across DDP ranks.

    ``num_levels`` (Z) sizes the per-height states up front; leave it None and they are sized by the first
    update (then every rank must see at least one batch before a DDP sync).
    """

    full_state_update = False
    higher_is_better = True
    is_differentiable = False

    def __init__(self, threshold: float = 0.5, sweep_thresholds: Sequence[float] | None = None,
                 num_levels: int | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.threshold = check_probability(threshold, "threshold")
        sweep = check_thresholds(DEFAULT_SWEEP if sweep_thresholds is None else sweep_thresholds, "sweep_thresholds")
        self.register_buffer("sweep", torch.tensor(sweep, dtype=torch.float32), persistent=False)
        if num_levels is not None and int(num_levels) <= 0:
            raise ConfigError(f"num_levels: expected a positive number of height levels, got {num_levels!r}")
        # Internal bucket boundaries: the sweep plus the main threshold. One histogram per height level of
        # (number of boundaries strictly below p, target occupied) gives every count: p > t_j  <=>  j < bucket.
        bounds = sorted(set(sweep) | {self.threshold})
        self.register_buffer("bounds", torch.tensor(bounds, dtype=torch.float32), persistent=False)
        self._main = bounds.index(self.threshold)
        self._sweep_idx = [bounds.index(t) for t in sweep]
        z = int(num_levels or 0)
        self.add_state("hist", default=torch.zeros(z, len(bounds) + 1, 2, dtype=torch.int64), dist_reduce_fx="sum")
        self.add_state("nan_logits", default=torch.tensor(0, dtype=torch.int64), dist_reduce_fx="sum")

    def update(self, logits: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> None:
        """Accumulate one batch: logits and target (B, Z, Y, X) or (Z, Y, X); mask bool, True = evaluate."""
        logits = batched_zyx(as_tensor(logits, "logits"), "logits")
        target = batched_zyx(as_tensor(target, "target"), "target").to(logits.device)
        same_shape(logits, target, "logits", "target")
        keep = check_mask(mask, logits, "logits")
        z = logits.shape[1]
        n_buckets = self.bounds.numel() + 1
        if self.hist.shape[0] == 0:
            self.hist = torch.zeros(z, n_buckets, 2, dtype=torch.int64, device=logits.device)
        elif self.hist.shape[0] != z:
            raise GridMismatchError(f"logits have {z} height levels (dim 1) but this metric holds "
                                    f"{self.hist.shape[0]}; one metric object serves one grid")
        prob = logits.float().sigmoid()
        if logits.is_floating_point():
            bad = torch.isnan(prob)  # +-inf logits are fine: sigmoid gives 1 / 0
            self.nan_logits += (bad if keep is None else bad & keep).sum().to(self.nan_logits.device)
            prob = torch.nan_to_num(prob, nan=0.0)  # NaN logits -> predicted empty
        code = torch.bucketize(prob, self.bounds.to(prob.device), right=False) * 2 + (target >= 0.5).long()
        code += (torch.arange(z, device=code.device) * (2 * n_buckets)).view(1, z, 1, 1)
        size = z * n_buckets * 2
        if keep is not None:
            code = torch.where(keep, code, torch.full_like(code, size))  # dump bin, dropped below
        counts = torch.bincount(code.reshape(-1), minlength=size + 1)[:size]
        self.hist += counts.view(z, n_buckets, 2).to(self.hist.device)  # inputs may live elsewhere

    def _counts(self, hist: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """tp, fp, fn (..., n_bounds) at every boundary from a (..., n_buckets, 2) histogram."""
        neg, pos = hist[..., 0], hist[..., 1]
        tp = pos.flip(-1).cumsum(-1).flip(-1)[..., 1:]  # threshold j counts buckets >= j + 1
        fp = neg.flip(-1).cumsum(-1).flip(-1)[..., 1:]
        fn = pos.sum(-1, keepdim=True) - tp
        return tp, fp, fn

    def compute(self) -> dict[str, torch.Tensor]:
        tp_z, fp_z, fn_z = self._counts(self.hist)  # (Z, n_bounds)
        tp_all, fp_all, fn_all = tp_z.sum(0), fp_z.sum(0), fn_z.sum(0)
        i = self._main
        tp, fp, fn = tp_all[i], fp_all[i], fn_all[i]
        out = {
            "iou": safe_div(tp, tp + fp + fn),
            "precision": safe_div(tp, tp + fp),
            "recall": safe_div(tp, tp + fn),
            "f1": safe_div(2 * tp, 2 * tp + fp + fn),
        }
        s = self._sweep_idx
        stp, sfp, sfn = tp_all[s], fp_all[s], fn_all[s]
        sweep_f1 = safe_div(2 * stp, 2 * stp + sfp + sfn)
        sweep_iou = safe_div(stp, stp + sfp + sfn)
        finite = ~torch.isnan(sweep_f1)
        if bool(finite.any()):
            masked = torch.where(finite, sweep_f1, torch.full_like(sweep_f1, -1.0))
            best = int(torch.argmax(masked))  # first maximum = lowest threshold on ties
            out["best_f1"] = sweep_f1[best]
            out["best_threshold"] = self.sweep[best].double()
            out["iou_at_best"] = sweep_iou[best]
        else:
            nan = torch.tensor(float("nan"), dtype=torch.float64, device=sweep_f1.device)
            out.update(best_f1=nan, best_threshold=nan.clone(), iou_at_best=nan.clone())
        tz, fz, nz = tp_z[:, i], fp_z[:, i], fn_z[:, i]
        out["per_height_iou"] = safe_div(tz, tz + fz + nz)
        out["per_height_target_count"] = tz + nz
        out["per_height_pred_count"] = tz + fz
        out["sweep_thresholds"] = self.sweep.double()
        out["sweep_f1"] = sweep_f1
        out["sweep_iou"] = sweep_iou
        out.update(tp=tp, fp=fp, fn=fn, nan_logits=self.nan_logits.clone())
        return out


SCALAR_KEYS = ("iou", "precision", "recall", "f1", "best_f1", "best_threshold", "iou_at_best")
