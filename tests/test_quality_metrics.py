"""Baselines, the ground / above-ground split and the seen / unseen split, on hand-made grids."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from occkit.metrics.baselines import (
    baseline_predictions,
    dilate_plan,
    lowest_level,
    most_common_level,
)
from occkit.metrics.quality import QualityMetrics, best_baseline, gap_closed
from occkit.metrics.regions import ground_levels, ground_region

Z, Y, X = 8, 12, 12


def _grid() -> torch.Tensor:
    return torch.zeros(1, Z, Y, X, dtype=torch.bool)


def _logits(pred: torch.Tensor) -> torch.Tensor:
    return torch.where(pred, torch.tensor(6.0), torch.tensor(-6.0))


def test_copying_a_subset_of_the_target_has_precision_one_and_the_subsets_recall():
    target = _grid()
    target[0, 1] = True  # a full ground plane at level 1: 144 voxels
    inp = _grid()
    inp[0, 1, ::2, :] = True  # every other row: 72 voxels
    q = QualityMetrics(threshold=0.5, plane_level=None, ground_window=5, ground_band=1)
    q.update(_logits(inp), target.float(), inp)
    copy = q.compute()["predictors"]["copy"]
    assert copy["precision"] == 1.0
    assert copy["recall"] == pytest.approx(0.5)
    assert copy["iou"] == pytest.approx(0.5)
    assert copy["recall_unseen"] == 0.0  # copying adds nothing where there was no input
    assert math.isnan(copy["precision_added"])  # ... so it has no added voxel to score


def test_dilation_fills_the_holes_of_a_striped_plane():
    target = _grid()
    target[0, 1] = True
    inp = _grid()
    inp[0, 1, ::2, :] = True
    dil = dilate_plan(inp)
    assert bool(dil[0, 1].all()) and int(dil.sum()) == Y * X  # rows in between are one voxel from a hit
    q = QualityMetrics(plane_level=None, ground_window=5, ground_band=1)
    q.update(_logits(inp), target.float(), inp)
    d = q.compute()["predictors"]["dilate"]
    assert d["iou"] == 1.0 and d["recall_unseen"] == 1.0 and d["precision_added"] == 1.0


def test_lowest_input_level_and_the_train_plane():
    inp = _grid()
    inp[0, 5, 2, 3] = True
    inp[0, 2, 2, 3] = True  # lowest in that column
    inp[0, 4, 7, 7] = True
    low = lowest_level(inp)
    assert int(low[0, 2, 3]) == 2 and int(low[0, 7, 7]) == 4 and int(low[0, 0, 0]) == Z  # Z = empty column
    preds = baseline_predictions(inp, plane_level=3)
    g = preds["ground_lowest"]
    assert int(g.sum()) == 2 and bool(g[0, 2, 2, 3]) and bool(g[0, 4, 7, 7])
    assert int(preds["ground_plane"].sum()) == Y * X and bool(preds["ground_plane"][0, 3].all())
    assert "ground_plane" not in baseline_predictions(inp, plane_level=None)


def test_most_common_level_counts_every_target():
    a = np.zeros((Z, Y, X), np.float32)
    a[2, :3] = 1.0  # 36 voxels at level 2
    b = np.zeros((Z, Y, X), np.float32)
    b[5, :2] = 1.0  # 24 at level 5 ...
    b[5, 5, :] = 1.0  # ... + 12 = 36: a tie goes to the lower level
    c = np.zeros((Z, Y, X), np.float32)
    c[5, 9, :1] = 1.0
    assert most_common_level([a, b]) == 2
    assert most_common_level([a, b, torch.from_numpy(c)]) == 5
    assert most_common_level([np.zeros((Z, Y, X))]) is None


def test_ground_filter_removes_a_roof_and_keeps_sloped_terrain():
    target = _grid()
    for x in range(X):  # terrain rising one level every 6 columns in x
        target[0, 1 + x // 6, :, x] = True
    target[0, :, 3:7, 3:7] = False
    target[0, 6, 3:7, 3:7] = True  # a 4 x 4 roof at level 6 hides the ground under it
    g = ground_levels(target, window=7)
    assert float(g[0, 5, 5]) <= 2.0  # under the roof: the terrain level, not the roof
    assert float(g[0, 0, 0]) == 1.0 and float(g[0, 0, 11]) == 2.0  # the slope survives
    region = ground_region(target, window=7, band=1)
    assert not bool(region[0, 6, 5, 5])  # the roof is above ground
    assert bool(region[0, 1, 0, 0]) and bool(region[0, 2, 0, 11])


def test_regions_split_the_model_errors():
    target = _grid()
    target[0, 1] = True  # ground
    target[0, 5, 4:8, 4:8] = True  # a floating block above ground, 16 voxels
    inp = target.clone()
    inp[0, 5] = False  # the block was never seen
    pred = target.clone()
    pred[0, 5, 4:6, 4:8] = False  # the model completes half of the block
    q = QualityMetrics(plane_level=1, ground_window=7, ground_band=1)
    q.update(_logits(pred), target.float(), inp)
    out = q.compute()
    m = out["predictors"]["model"]
    assert m["iou_ground"] == 1.0
    assert m["iou_above"] == pytest.approx(0.5)
    assert m["recall_unseen"] == pytest.approx(0.5) and m["precision_added"] == 1.0
    c = out["predictors"]["copy"]
    assert c["iou_above"] == 0.0 and c["iou_ground"] == 1.0
    # ground_plane at level 1 is exactly the ground here
    assert out["predictors"]["ground_plane"]["iou_ground"] == 1.0
    assert out["iou"]["best_baseline"] in ("copy", "dilate", "ground_lowest", "ground_plane")
    assert out["iou_above"]["gap_closed"] == pytest.approx(0.5)  # every baseline scores 0 above ground


def test_mask_leaves_voxels_out_of_every_predictor():
    target = _grid()
    target[0, 1] = True
    inp = _grid()
    mask = torch.ones_like(target)
    mask[0, :, :, 6:] = False  # only the left half is observed
    inp[0, 1, :, :6] = True
    q = QualityMetrics(plane_level=None, ground_window=5, ground_band=1)
    q.update(_logits(inp), target.float(), inp, mask)
    assert q.compute()["predictors"]["copy"]["iou"] == 1.0


def test_gap_closed_and_best_baseline():
    assert gap_closed(0.8, 0.6) == pytest.approx(0.5)
    assert gap_closed(0.5, 0.6) == pytest.approx(-0.25)
    assert math.isnan(gap_closed(0.9, 1.0)) and math.isnan(gap_closed(float("nan"), 0.5))
    per = {"model": {"iou": 0.7}, "copy": {"iou": 0.4}, "dilate": {"iou": 0.6}, "g": {"iou": float("nan")}}
    assert best_baseline(per, "iou") == ("dilate", 0.6)
