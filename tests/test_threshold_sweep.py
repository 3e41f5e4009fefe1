"""The default threshold sweep reaches the tails, and a choice at the sweep's end is flagged."""

from __future__ import annotations

import pytest
import torch

from occkit.config import ExperimentConfig
from occkit.evaluation.model_choice import sweep_edge
from occkit.metrics import OccupancyMetrics


def test_default_sweep_finds_a_best_threshold_above_095() -> None:
    # A network that runs its probabilities high: the occupied voxels at 0.985, the empty ones it doubts at 0.975.
    probs = torch.tensor([0.985, 0.985, 0.975, 0.975, 0.02]).view(1, 1, 1, 5)
    target = torch.tensor([1.0, 1.0, 0.0, 0.0, 0.0]).view(1, 1, 1, 5)
    m = OccupancyMetrics()
    m.update(torch.logit(probs), target)
    r = m.compute()
    assert r["best_threshold"].item() == pytest.approx(0.98)
    assert r["iou_at_best"].item() == pytest.approx(1.0)
    # a sweep that stops at 0.95 keeps every doubted voxel and can only choose its edge
    short = OccupancyMetrics(sweep_thresholds=[round(0.05 * i, 2) for i in range(1, 20)])
    short.update(torch.logit(probs), target)
    assert short.compute()["iou_at_best"].item() == pytest.approx(0.5)


def test_eval_config_and_metric_share_the_default_sweep() -> None:
    sweep = ExperimentConfig().eval.sweep_thresholds
    assert sweep == sorted(sweep) and sweep[0] == 0.001 and sweep[-1] == 0.999 and 0.5 in sweep
    assert OccupancyMetrics().sweep.tolist() == pytest.approx(sweep)


def test_sweep_edge_names_the_end_the_choice_sits_on() -> None:
    sweep = [0.1, 0.5, 0.9]
    assert sweep_edge(0.9, sweep) == "highest"
    assert sweep_edge(0.8999999761581421, sweep) == "highest"  # a float32 round trip of the sweep's 0.9
    assert sweep_edge(0.1, sweep) == "lowest"
    assert sweep_edge(0.5, sweep) is None
    assert sweep_edge(0.5, [0.5]) is None  # one threshold: nothing was chosen
