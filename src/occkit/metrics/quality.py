"""The model beside its baselines, on the same frames, targets and mask: ``QualityMetrics``.

For the model (``sigmoid(logit) > threshold``) and every baseline of ``occkit.metrics.baselines`` it counts,
over every update, true/false positives and false negatives in three regions (all voxels, ground, above
ground; ``occkit.metrics.regions``), and the seen/unseen split: recall on target voxels without input points
(``recall_unseen``, completion) and precision on predicted voxels without input points (``precision_added``).

``compute()`` returns, per predictor, ``iou``, ``precision``, ``recall``, ``iou_ground``, ``iou_above``,
``recall_unseen``, ``precision_added``; then the best baseline per region and the model's ``gain`` (model IoU
minus best baseline IoU) and ``gap_closed`` ``(IoU_model - IoU_best) / (1 - IoU_best)``. Ratios with nothing
to score are NaN, as in ``occkit.metrics.occupancy``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torchmetrics import Metric

from occkit.metrics._checks import as_tensor, batched_zyx, check_mask, check_probability, same_shape
from occkit.metrics.baselines import BASELINE_LABELS, baseline_predictions
from occkit.metrics.occupancy import safe_div
from occkit.metrics.regions import ground_region

REGIONS = ("all", "ground", "above")
# count slots per predictor: tp/fp/fn for each region, then the seen/unseen counts
_UNSEEN_TP, _UNSEEN_TARGET, _ADDED_TP, _ADDED_PRED = range(3 * len(REGIONS), 3 * len(REGIONS) + 4)
_SLOTS = 3 * len(REGIONS) + 4
MODEL = "model"


class QualityMetrics(Metric):
    """Model vs baselines, by region and seen/unseen (see the module docstring); counts sum across ranks.

    ``plane_level`` is the train split's most common target level (``train_split_plane_level``); None leaves
    the ``ground_plane`` baseline out. ``elevation_model``: the inputs carry the DEM (the ``dem_ground``
    feature), so every update gives its ground levels and the ``ground_dem`` baseline is scored. ``ground_window``
    and ``ground_band`` are in voxels.
    """

    full_state_update = False
    higher_is_better = True
    is_differentiable = False

    def __init__(self, threshold: float = 0.5, plane_level: int | None = None, ground_window: int = 75,
                 ground_band: int = 3, elevation_model: bool = False, smoothed_surface: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.threshold = check_probability(threshold, "threshold")
        self.plane_level = None if plane_level is None else int(plane_level)
        self.ground_window, self.ground_band = int(ground_window), int(ground_band)
        names = [MODEL, "copy", "dilate", "ground_lowest"] + (["ground_plane"] if plane_level is not None else [])
        self.elevation_model = bool(elevation_model)
        names += ["ground_dem", "ground_dem_split"] if self.elevation_model else []
        self.smoothed_surface = bool(smoothed_surface)
        names += ["surface"] if self.smoothed_surface else []
        self.predictors = names
        self.add_state("counts", default=torch.zeros(len(names), _SLOTS, dtype=torch.int64), dist_reduce_fx="sum")

    def update(self, logits: torch.Tensor, target: torch.Tensor, input_occ: torch.Tensor,
               mask: torch.Tensor | None = None, dem_ground: torch.Tensor | None = None,
               surface: torch.Tensor | None = None) -> None:
        """One batch in model layout (B, Z, Y, X): logits, target (>= 0.5 occupied), input occupancy, mask, with
        ``elevation_model`` the DEM's ground levels per column (``occkit.data.elevation.dem_ground_levels``: 1 on
        the nearest level, 2 on the next one near a boundary; a bool grid is the nearest level alone) and with
        ``smoothed_surface`` the surface feature's levels (bool, ``occkit.data.surface.surface_levels``)."""
        logits = batched_zyx(as_tensor(logits, "logits"), "logits")
        target = batched_zyx(as_tensor(target, "target"), "target").to(logits.device) >= 0.5
        input_occ = batched_zyx(as_tensor(input_occ, "input_occ"), "input_occ").to(logits.device).bool()
        same_shape(logits, target, "logits", "target")
        same_shape(logits, input_occ, "logits", "input_occ")
        keep = check_mask(mask, logits, "logits")
        if self.plane_level is not None and not 0 <= self.plane_level < logits.shape[1]:
            raise ValueError(f"plane_level {self.plane_level} is outside the grid's {logits.shape[1]} levels")
        preds = {MODEL: torch.nan_to_num(logits.float().sigmoid(), nan=0.0) > self.threshold}
        dem_ground = _feature_levels(dem_ground, self.elevation_model, logits, "dem_ground", "the elevation model's "
                                     "ground", "occkit.data.elevation.dem_ground_levels")
        surface = _feature_levels(surface, self.smoothed_surface, logits, "surface", "the smoothed surface",
                                  "occkit.data.surface.surface_levels")
        preds.update(baseline_predictions(input_occ, self.plane_level, dem_ground, surface))
        ground = ground_region(target, self.ground_window, self.ground_band)
        regions = {"all": None, "ground": ground, "above": ~ground}
        unseen_target = target & ~input_occ
        if keep is not None:
            target, unseen_target = target & keep, unseen_target & keep
        rows = []
        for name in self.predictors:
            p = preds[name] if keep is None else preds[name] & keep
            row = []
            for r in REGIONS:
                reg = regions[r]
                pr, tg = (p, target) if reg is None else (p & reg, target & reg)
                tp = (pr & tg).sum()
                row += [tp, pr.sum() - tp, tg.sum() - tp]
            added = p & ~input_occ
            row += [(p & unseen_target).sum(), unseen_target.sum(), (added & target).sum(), added.sum()]
            rows.append(torch.stack(row))
        self.counts += torch.stack(rows).to(self.counts.device)

    def compute(self) -> dict[str, Any]:
        c = self.counts.double()
        per: dict[str, dict[str, float]] = {}
        for i, name in enumerate(self.predictors):
            row: dict[str, float] = {}
            for j, r in enumerate(REGIONS):
                tp, fp, fn = c[i, 3 * j], c[i, 3 * j + 1], c[i, 3 * j + 2]
                key = "iou" if r == "all" else f"iou_{r}"
                row[key] = float(safe_div(tp, tp + fp + fn))
                if r == "all":
                    row["precision"] = float(safe_div(tp, tp + fp))
                    row["recall"] = float(safe_div(tp, tp + fn))
            row["recall_unseen"] = float(safe_div(c[i, _UNSEEN_TP], c[i, _UNSEEN_TARGET]))
            row["precision_added"] = float(safe_div(c[i, _ADDED_TP], c[i, _ADDED_PRED]))
            per[name] = row
        out: dict[str, Any] = {"predictors": per, "labels": {MODEL: "model", **BASELINE_LABELS}}
        for key in ("iou", "iou_ground", "iou_above"):
            best_name, best = best_baseline(per, key)
            m = per[MODEL][key]
            out[key] = {"model": m, "best_baseline": best_name, "best_baseline_value": best,
                        "gain": m - best if best_name else math.nan, "gap_closed": gap_closed(m, best)}
        return out


def _feature_levels(levels: torch.Tensor | None, scored: bool, logits: torch.Tensor, name: str, what: str,
                    maker: str) -> torch.Tensor | None:
    """An input feature's predicted levels, checked against ``logits``, when this metric scores it; else None."""
    if not scored:
        return None
    if levels is None:
        raise ValueError(f"{name}: this QualityMetrics scores {what}, so every update needs its levels ({maker})")
    levels = batched_zyx(as_tensor(levels, name), name).to(logits.device)
    same_shape(logits, levels, "logits", name)
    return levels


def best_baseline(per: dict[str, dict[str, float]], key: str) -> tuple[str | None, float]:
    """The baseline with the highest finite ``key`` (None, NaN when none is finite); on a tie the one listed first,
    the simpler (the DEM's nearest level before its split, the input before its dilation)."""
    scored = [(n, v[key]) for n, v in per.items() if n != MODEL and math.isfinite(v[key])]
    if not scored:
        return None, math.nan
    return max(scored, key=lambda item: item[1])  # max keeps the first of equals


def gap_closed(model: float, best: float) -> float:
    """Share of the gap from the best baseline to a perfect score that the model closes (negative: worse)."""
    if not (math.isfinite(model) and math.isfinite(best)) or best >= 1.0:
        return math.nan
    return (model - best) / (1.0 - best)
