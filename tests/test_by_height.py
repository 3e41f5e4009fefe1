"""The model beside its baselines by the sensor's height over the ground (occkit.metrics.by_height)."""

from __future__ import annotations

import pytest
import torch

from occkit.evaluation.report import height_table, markdown
from occkit.metrics.by_height import HeightBinnedQuality, sensor_height_over_ground
from occkit.metrics.quality import QualityMetrics

Z, Y, X = 8, 10, 10
Z_MIN, DZ = -2.0, 0.5  # level k's centre: -1.75 + 0.5 k


def frame(ground: int, roof: bool) -> torch.Tensor:
    """(1, Z, Y, X) target: ground on one level, and a roof four levels over it."""
    t = torch.zeros(1, Z, Y, X)
    t[0, ground] = 1.0
    if roof:
        t[0, ground + 4, 3:6, 3:6] = 1.0
    return t


def test_the_height_is_measured_from_the_frames_median_ground_not_the_grid_floor() -> None:
    target = frame(2, roof=True)[0]
    assert sensor_height_over_ground(80.0, target, Z_MIN, DZ, window=5) == pytest.approx(80.0 - (-0.75))
    raised = frame(5, roof=False)[0]  # the terrain 1.5 m higher under the same sensor
    assert sensor_height_over_ground(80.0, raised, Z_MIN, DZ, window=5) == pytest.approx(80.0 - 0.75)


def test_frames_are_counted_in_their_band_and_scored_there_alone() -> None:
    def make() -> QualityMetrics:
        return QualityMetrics(plane_level=None, ground_window=5, ground_band=1)

    binned = HeightBinnedQuality(make, 25.0, Z_MIN, DZ, window=5)
    low, high = frame(2, roof=True), frame(2, roof=True)
    good = torch.where(low >= 0.5, 8.0, -8.0)  # the model gets the low frame right
    ground_only = torch.where(frame(2, roof=False) >= 0.5, 8.0, -8.0)  # and misses the roof of the high one
    empty = torch.zeros_like(low, dtype=torch.bool)
    binned.update(60.0, good, low, empty)
    binned.update(120.0, ground_only, high, empty)
    binned.update(61.0, good, low, empty)
    out = binned.compute()
    assert [b["height_m"] for b in out] == [[50.0, 75.0], [100.0, 125.0]] and [b["frames"] for b in out] == [2, 1]
    assert out[0]["predictors"]["model"]["iou_above"] == 1.0 and out[1]["predictors"]["model"]["iou_above"] == 0.0
    alone = make()
    alone.update(ground_only, high, empty)
    assert torch.equal(binned.bins[4].counts, alone.counts)  # the band's counts are the frame's own
    with pytest.raises(ValueError, match="bin_m must be > 0"):
        HeightBinnedQuality(make, 0.0, Z_MIN, DZ, window=5)


def _summary(model: float, best: float) -> dict:
    return {"model": model, "best_baseline": "copy", "best_baseline_value": best, "gain": model - best,
            "gap_closed": (model - best) / (1 - best)}


def test_the_report_shows_the_bands_only_when_there_are_two() -> None:
    band = {"height_m": [50.0, 75.0], "frames": 3, "iou": _summary(0.6, 0.5), "iou_above": _summary(0.3, 0.2)}
    far = {"height_m": [100.0, 125.0], "frames": 2, "iou": _summary(0.5, 0.5), "iou_above": _summary(0.0, 0.1)}
    baselines = {"predictors": {"model": {}, "copy": {}}, "labels": {"model": "model", "copy": "copy the input"},
                 "summary": {k: _summary(0.55, 0.5) for k in ("iou", "iou_ground", "iou_above")},
                 "by_sensor_height": [band, far]}
    lines = height_table(baselines)
    assert lines[2] == ("| 50-75 m | 3 | 0.6000 | 0.5000 (copy the input) | 20.0 % | 0.3000 | 0.2000 (copy the "
                        "input) | 12.5 % |")
    assert "-11.1 %" in lines[3]  # below the baseline far up: a negative share of the gap
    assert lines[-1] == ("**The model loses to its best baseline above the ground at 100-125 m** (2 of 5 frames): a "
                         "trivial predictor does better there, on those frames alone: its 0.1000 there is below the "
                         "model's 0.5500 over every frame, so using it there can still lower the whole figure.")
    assert not any("overall at" in line for line in lines)  # level overall far up (0 %) is not a loss
    from occkit.evaluation.report import _losing_bands

    strong = {**far, "iou_above": _summary(0.55, 0.6)}  # a baseline there above the model's whole figure: no caveat
    assert _losing_bands([band, strong], baselines["summary"])[-1].endswith("a trivial predictor does better there.")
    report = {"split": "val", "checkpoint": "c", "grid": "g", "num_frames": 5, "threshold": 0.5,
              "use_visibility_mask": False, "overall": dict.fromkeys(("iou", "precision", "recall", "f1"), 0.5),
              "best": {"threshold": 0.5, "iou": 0.5, "f1": 0.6}, "ray_iou": None, "per_scene": {},
              "per_height": [], "sweep": [], "baselines": baselines}
    assert "## By the sensor's height over the ground" in markdown(report)
    baselines["by_sensor_height"] = [band]
    assert height_table(baselines) == [] and "By the sensor's height" not in markdown(report)
