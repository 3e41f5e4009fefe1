"""OccupancyMetrics and SemanticMIoU against hand-computed cases, torchmetrics and a numpy Occ3D mIoU."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torchmetrics.classification import BinaryF1Score, BinaryJaccardIndex, BinaryPrecision, BinaryRecall

from occkit.errors import ConfigError, GridMismatchError
from occkit.metrics import MetricInputError, OccupancyMetrics, SemanticMIoU

ON, OFF = 6.0, -6.0  # logits far from any threshold


def logits_of(pred: list) -> torch.Tensor:
    """Hard 0/1 prediction -> logits, shaped (1, Z, Y, X)."""
    p = torch.tensor(pred, dtype=torch.float32)
    return torch.where(p > 0, ON, OFF).unsqueeze(0)


def nan(x: torch.Tensor) -> bool:
    return bool(torch.isnan(x))


def test_hand_computed_counts_and_per_height() -> None:
    # Z=2, Y=1, X=3. Level 0: target [1,1,0], pred [1,0,1] -> tp 1, fp 1, fn 1. Level 1 empty in both.
    target = torch.tensor([[[1, 1, 0]], [[0, 0, 0]]], dtype=torch.float32).unsqueeze(0)
    m = OccupancyMetrics()
    m.update(logits_of([[[1, 0, 1]], [[0, 0, 0]]]), target)
    r = m.compute()
    assert r["iou"].item() == pytest.approx(1 / 3)
    assert r["precision"].item() == pytest.approx(0.5)
    assert r["recall"].item() == pytest.approx(0.5)
    assert r["f1"].item() == pytest.approx(0.5)
    assert (r["tp"].item(), r["fp"].item(), r["fn"].item()) == (1, 1, 1)
    assert r["per_height_iou"][0].item() == pytest.approx(1 / 3)
    assert nan(r["per_height_iou"][1])  # nothing occupied at that level in either grid
    assert r["per_height_target_count"].tolist() == [2, 0]
    assert r["per_height_pred_count"].tolist() == [2, 0]


def test_edge_cases_empty_prediction_empty_target_all_masked() -> None:
    zeros = torch.zeros(1, 1, 2, 2)
    full = torch.ones(1, 1, 2, 2)
    both_empty = OccupancyMetrics()
    both_empty.update(torch.full_like(zeros, OFF), zeros)
    r = both_empty.compute()
    assert all(nan(r[k]) for k in ("iou", "precision", "recall", "f1"))

    empty_pred = OccupancyMetrics()
    empty_pred.update(torch.full_like(zeros, OFF), full)
    r = empty_pred.compute()
    assert r["iou"].item() == 0 and r["recall"].item() == 0 and r["f1"].item() == 0
    assert nan(r["precision"])  # nothing predicted: precision undefined

    empty_gt = OccupancyMetrics()
    empty_gt.update(torch.full_like(zeros, ON), zeros)
    r = empty_gt.compute()
    assert r["iou"].item() == 0 and r["precision"].item() == 0 and nan(r["recall"])

    masked = OccupancyMetrics()
    masked.update(torch.full_like(zeros, ON), full, mask=torch.zeros(1, 1, 2, 2, dtype=torch.bool))
    r = masked.compute()
    assert all(nan(r[k]) for k in ("iou", "precision", "recall", "f1", "best_f1", "best_threshold"))
    assert torch.isnan(r["per_height_iou"]).all()


def test_mask_excludes_voxels_and_soft_targets_count_at_half() -> None:
    # Soft target: 0.5 is occupied, 0.49 is not.
    target = torch.tensor([[[0.5, 0.49, 0.9, 0.0]]]).unsqueeze(0)
    logits = logits_of([[[1, 1, 0, 1]]])
    m = OccupancyMetrics()
    m.update(logits, target)
    r = m.compute()
    assert (r["tp"].item(), r["fp"].item(), r["fn"].item()) == (1, 2, 1)
    mask = torch.tensor([[[True, False, True, False]]]).unsqueeze(0)  # drop both false positives
    mm = OccupancyMetrics()
    mm.update(logits, target, mask)
    r = mm.compute()
    assert (r["tp"].item(), r["fp"].item(), r["fn"].item()) == (1, 0, 1)
    assert r["precision"].item() == 1.0 and r["iou"].item() == pytest.approx(0.5)


def test_threshold_is_strict_and_sweep_picks_the_best_threshold() -> None:
    probs = torch.tensor([0.9, 0.3, 0.2, 0.1]).view(1, 1, 1, 4)
    target = torch.tensor([1.0, 1.0, 0.0, 0.0]).view(1, 1, 1, 4)
    m = OccupancyMetrics(threshold=0.3, sweep_thresholds=[0.5, 0.15, 0.25])
    m.update(torch.logit(probs), target)
    r = m.compute()
    # At 0.15: tp2 fp1 -> F1 0.8; at 0.25: tp2 -> F1 1; at 0.5: tp1 fn1 -> F1 2/3.
    assert r["sweep_thresholds"].tolist() == pytest.approx([0.15, 0.25, 0.5])
    assert r["sweep_f1"].tolist() == pytest.approx([0.8, 1.0, 2 / 3])
    assert r["best_threshold"].item() == pytest.approx(0.25)
    assert r["best_f1"].item() == pytest.approx(1.0) and r["iou_at_best"].item() == pytest.approx(1.0)
    # The main threshold 0.3 sits between 0.2 and 0.9 up to float32 round trip of 0.3 itself.
    assert r["fp"].item() == 0


def test_main_threshold_is_strict() -> None:
    m = OccupancyMetrics(threshold=0.5)
    m.update(torch.tensor([0.0, 0.01]).view(1, 1, 1, 2), torch.ones(1, 1, 1, 2))  # p = 0.5 and 0.5025
    assert m.compute()["tp"].item() == 1


def test_agrees_with_torchmetrics_on_random_data() -> None:
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 4, 9, 11, generator=g) * 2
    target = (torch.rand(3, 4, 9, 11, generator=g) < 0.2).float()
    m = OccupancyMetrics(threshold=0.5)
    m.update(logits[:2], target[:2])
    m.update(logits[2:], target[2:])
    r = m.compute()
    p, t = logits.sigmoid().flatten(), target.flatten().long()
    assert r["iou"].item() == pytest.approx(BinaryJaccardIndex()(p, t).item(), rel=1e-6)
    assert r["precision"].item() == pytest.approx(BinaryPrecision()(p, t).item(), rel=1e-6)
    assert r["recall"].item() == pytest.approx(BinaryRecall()(p, t).item(), rel=1e-6)
    assert r["f1"].item() == pytest.approx(BinaryF1Score()(p, t).item(), rel=1e-6)
    for thr, f1 in zip(r["sweep_thresholds"].tolist(), r["sweep_f1"].tolist(), strict=True):
        assert f1 == pytest.approx(BinaryF1Score(threshold=thr)(p, t).item(), rel=1e-6)


def test_merge_of_halves_equals_one_metric_on_all() -> None:
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(4, 3, 5, 6, generator=g)
    target = torch.rand(4, 3, 5, 6, generator=g)
    mask = torch.rand(4, 3, 5, 6, generator=g) > 0.3
    whole, a, b = OccupancyMetrics(), OccupancyMetrics(), OccupancyMetrics()
    whole.update(logits, target, mask)
    a.update(logits[:2], target[:2], mask[:2])
    b.update(logits[2:], target[2:], mask[2:])
    a.merge_state(b)  # the same "sum" reduction DDP applies across ranks
    ra, rw = a.compute(), whole.compute()
    for key in rw:
        assert torch.allclose(ra[key], rw[key], equal_nan=True), key


def test_nan_logits_are_empty_and_counted() -> None:
    m = OccupancyMetrics()
    m.update(torch.tensor([float("nan"), ON]).view(1, 1, 1, 2), torch.ones(1, 1, 1, 2))
    r = m.compute()
    assert r["nan_logits"].item() == 1 and r["recall"].item() == 0.5


def test_user_errors_name_the_field() -> None:
    with pytest.raises(ConfigError, match="threshold"):
        OccupancyMetrics(threshold=1.5)
    with pytest.raises(ConfigError, match=r"sweep_thresholds\[1\]"):
        OccupancyMetrics(sweep_thresholds=[0.2, 0.0])
    m = OccupancyMetrics()
    with pytest.raises(GridMismatchError, match="target"):
        m.update(torch.zeros(1, 2, 3, 4), torch.zeros(1, 2, 3, 5))
    with pytest.raises(GridMismatchError, match="B, Z, Y, X"):
        m.update(torch.zeros(2, 3), torch.zeros(2, 3))
    m.update(torch.zeros(1, 2, 3, 4), torch.zeros(1, 2, 3, 4))
    with pytest.raises(GridMismatchError, match="height levels"):
        m.update(torch.zeros(1, 3, 3, 4), torch.zeros(1, 3, 3, 4))


# ---- semantic mIoU ---------------------------------------------------------------------------------

def occ3d_numpy_miou(preds: list[np.ndarray], gts: list[np.ndarray], masks: list[np.ndarray], n: int = 18):
    """Occ3D's Metric_mIoU (use_image_mask=True), re-typed in plain numpy."""
    hist = np.zeros((n, n))
    for pred, gt, mask in zip(preds, gts, masks, strict=True):
        p, g = pred[mask].flatten(), gt[mask].flatten()
        k = (g >= 0) & (g < n)
        hist += np.bincount(n * g[k].astype(int) + p[k].astype(int), minlength=n**2).reshape(n, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.diag(hist) / (hist.sum(1) + hist.sum(0) - np.diag(hist))
    return np.nanmean(iou[: n - 1]), iou


def test_semantic_miou_matches_numpy_occ3d() -> None:
    rng = np.random.default_rng(0)
    preds, gts, masks = [], [], []
    for _ in range(3):
        # Classes 0..9 and 17 only, so 10..16 are absent in both (NaN, skipped); some 255 in the GT.
        gt = rng.choice([*range(10), 17, 17, 17], size=(12, 10, 4)).astype(np.uint8)
        gt[rng.random(gt.shape) < 0.05] = 255
        pred = np.where(rng.random(gt.shape) < 0.6, gt, rng.choice([*range(10), 17], size=gt.shape)).astype(np.uint8)
        pred[pred == 255] = 17
        preds.append(pred)
        gts.append(gt)
        masks.append(rng.random(gt.shape) < 0.8)
    want, want_per_class = occ3d_numpy_miou(preds, gts, masks)
    m = SemanticMIoU()
    for p, g, k in zip(preds, gts, masks, strict=True):
        m.update(torch.from_numpy(p), torch.from_numpy(g), torch.from_numpy(k))
    r = m.compute()
    assert r["miou"].item() == pytest.approx(want, rel=1e-12)
    np.testing.assert_allclose(r["per_class_iou"].numpy(), want_per_class, rtol=1e-12)
    assert torch.isnan(r["per_class_iou"][10:17]).all() and not torch.isnan(r["per_class_iou"][:10]).any()
    # Batched (B, ...) input gives the same matrix.
    mb = SemanticMIoU()
    mb.update(np.stack(preds), np.stack(gts), np.stack(masks))
    assert torch.equal(mb.compute()["confmat"], r["confmat"])


def test_semantic_hand_case_free_in_matrix_and_geometry_iou() -> None:
    gt = torch.tensor([4, 4, 17, 17])
    pred = torch.tensor([4, 17, 4, 17])
    m = SemanticMIoU()
    m.update(pred, gt)
    r = m.compute()
    assert r["per_class_iou"][4].item() == pytest.approx(1 / 3)  # tp1, fn1 (predicted free), fp1 (on free)
    assert r["miou"].item() == pytest.approx(1 / 3)  # free (1/3 too) is left out; other classes NaN
    assert r["iou_geometry"].item() == pytest.approx(1 / 3)


def test_semantic_merge_and_errors() -> None:
    rng = np.random.default_rng(2)
    p = torch.from_numpy(rng.integers(0, 18, (4, 6, 6, 3)))
    g = torch.from_numpy(rng.integers(0, 18, (4, 6, 6, 3)))
    whole, a, b = SemanticMIoU(), SemanticMIoU(), SemanticMIoU()
    whole.update(p, g)
    a.update(p[:1], g[:1])
    b.update(p[1:], g[1:])
    a.merge_state(b)
    assert torch.equal(a.compute()["confmat"], whole.compute()["confmat"])
    with pytest.raises(MetricInputError, match="pred_labels: label 18"):
        whole.update(torch.tensor([18]), torch.tensor([0]))
    with pytest.raises(MetricInputError, match="integer"):
        whole.update(torch.tensor([0.5]), torch.tensor([0]))
    with pytest.raises(GridMismatchError, match="pred_labels"):
        whole.update(torch.tensor([1, 2]), torch.tensor([0]))
    with pytest.raises(ConfigError, match="free_label"):
        SemanticMIoU(num_classes=5, free_label=7)
    with pytest.warns(UserWarning, match="before the ``update``"):
        assert math.isnan(SemanticMIoU().compute()["miou"].item())


def test_builders_follow_the_eval_config() -> None:
    from pydantic import ValidationError

    from occkit.geometry import GridSpec
    from occkit.metrics import EvalConfig, build_occupancy_metrics, build_ray_iou

    cfg = EvalConfig(threshold=0.4, sweep_thresholds=[0.3, 0.6], ray_num_azimuth=8, ray_elevations_deg=[-10, 0])
    spec = GridSpec(pc_range=(-4, -4, -1, 4, 4, 1), voxel_size=(0.5, 0.5, 0.5))
    m = build_occupancy_metrics(cfg, spec)
    assert m.threshold == 0.4 and m.sweep.tolist() == pytest.approx([0.3, 0.6]) and m.hist.shape[0] == 4
    r = build_ray_iou(cfg, spec)
    assert r.directions.shape == (16, 3) and r.depth_thresholds == [1.0, 2.0, 4.0]
    assert r.origins.tolist() == [[0.0, 0.0, 0.0]]  # the grid frame's origin lies in this box
    away = GridSpec(pc_range=(10, 10, 0, 20, 20, 4), voxel_size=(1, 1, 1))  # box without the origin: its centre
    assert build_ray_iou(cfg, away).origins.tolist() == [[15.0, 15.0, 2.0]]
    assert build_ray_iou(cfg, GridSpec.preset("semantickitti")).origins.tolist() == [[0.0, 0.0, 0.0]]  # on the face
    with pytest.raises(ValidationError, match="sweep_thresholds"):
        EvalConfig(sweep_thresholds=[0.5, 1.0])
