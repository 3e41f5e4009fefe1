"""Detectors fire on crafted metric streams with the right cause and stay silent on healthy ones."""

from __future__ import annotations

import math

import pytest
import torch

from occkit.health import DetectorSuite, HealthCheck, HealthConfig
from occkit.health.alignment import input_target_overlap


def check(step: int, **kw) -> HealthCheck:
    base = dict(loss=math.exp(-step / 200), target_rate=0.0083, pred_mean=0.0083, pred_min=0.0, pred_max=0.9,
                pred_occupied_frac=0.007, grad_norm=1.0, clip_fraction=0.0, clip_fraction_total=0.0, max_norm=10.0,
                lr=1e-3, steps_in_window=100)
    base.update(kw)
    return HealthCheck(step=step, **base)


def healthy_stream(n: int = 30) -> list[HealthCheck]:
    # loss falls by ~80% then flattens; predictions track the target; clipping rare
    return [check(100 * (i + 1), loss=0.2 + 0.8 * math.exp(-i / 5), pred_mean=0.0083 * (0.8 + 0.01 * i),
                  clip_fraction=0.05) for i in range(n)]


def kinds(events) -> list[str]:
    return [e.kind for e in events]


def test_healthy_stream_raises_nothing() -> None:
    assert DetectorSuite(HealthConfig()).replay(healthy_stream()) == []


def test_collapse_with_nothing_above_half_fires_at_its_first_check() -> None:
    cfg = HealthConfig(collapse_patience=3)
    stream = [check(100, pred_mean=0.008)] + [check(100 * i, pred_mean=1e-4, pred_max=0.01) for i in range(2, 8)]
    events = DetectorSuite(cfg).replay(stream)
    collapse = [e for e in events if e.kind == "collapse"]
    assert len(collapse) == 1  # reported once, not at every check
    assert collapse[0].step == 200 and collapse[0].evidence["onset_step"] == 200
    assert "collapsed" in collapse[0].message and "0.0083" in collapse[0].message
    assert "focal" in collapse[0].suggestion and 'loss.kind="focal_dice"' in collapse[0].fix


def test_the_users_logged_states_are_caught() -> None:
    """The seed user's log: step 100 'Pred mean: 0.0100, max: 0.05' (mean above the target rate!), step 500
    'Pred mean: 0.0001, max: 0.01', at 0.83 % occupancy."""
    step100 = check(100, pred_mean=0.0100, pred_max=0.05, pred_occupied_frac=0.0, target_rate=0.0083)
    (event,) = [e for e in DetectorSuite(HealthConfig()).replay([step100]) if e.kind == "collapse"]
    assert event.step == 100 and "max probability 0.050 < 0.5" in event.message
    step500 = check(500, pred_mean=0.0001, pred_max=0.01, pred_occupied_frac=0.0, target_rate=0.0083)
    (event,) = [e for e in DetectorSuite(HealthConfig()).replay([step500]) if e.kind == "collapse"]
    assert "mean far below the target rate" in event.message
    # the partial collapse: mean 0.36x the target rate, max below 0.5, val IoU 0 at every validation
    partial = check(300, pred_mean=0.36 * 0.0079, pred_max=0.41, pred_occupied_frac=0.0, target_rate=0.0079)
    assert "collapse" in kinds(DetectorSuite(HealthConfig()).replay([partial]))
    val = HealthCheck(step=300, loss=math.nan, target_rate=math.nan, pred_mean=math.nan, pred_min=math.nan,
                      pred_max=math.nan, pred_occupied_frac=math.nan, grad_norm=math.nan, clip_fraction=0.0,
                      clip_fraction_total=0.0, max_norm=None, lr=math.nan, val_iou=0.0, phase="val")
    (event,) = DetectorSuite(HealthConfig()).replay([val])
    assert event.kind == "collapse" and "Validation IoU is 0.000" in event.message


def test_over_prediction_is_a_degeneracy_too() -> None:
    stream = [check(100 * i, pred_mean=0.4, pred_max=0.99, pred_occupied_frac=0.35) for i in range(1, 5)]
    events = [e for e in DetectorSuite(HealthConfig(collapse_patience=2)).replay(stream) if e.kind == "collapse"]
    assert len(events) == 1 and "degenerate the other way" in events[0].message


def test_collapse_needs_max_below_threshold() -> None:
    # mean low but some voxels confidently occupied: a sparse but not collapsed prediction
    stream = [check(100 * i, pred_mean=5e-4, pred_max=0.95) for i in range(1, 8)]
    assert "collapse" not in kinds(DetectorSuite(HealthConfig()).replay(stream))


def test_plateau_fires_when_loss_stalls_near_start() -> None:
    cfg = HealthConfig(plateau_window=300)
    losses = [1.34, 1.25, 1.21] + [1.19] * 6
    stream = [check(100 * (i + 1), loss=v) for i, v in enumerate(losses)]
    events = [e for e in DetectorSuite(cfg).replay(stream) if e.kind == "plateau"]
    assert len(events) == 1
    assert "plateaued at 1.19" in events[0].message and "11% below start" in events[0].message


def test_a_plateau_at_a_large_learning_rate_is_not_told_to_raise_it() -> None:
    """SGD at lr 0.02 (mmdetection3d's usual): ten times it would be reckless and the 3e-3 cap lies below it."""
    losses = [1.34, 1.25, 1.21] + [1.19] * 6
    stream = [check(100 * (i + 1), loss=v, lr=0.02, optimizer="SGD") for i, v in enumerate(losses)]
    (plateau,) = [e for e in DetectorSuite(HealthConfig(plateau_window=300)).replay(stream) if e.kind == "plateau"]
    assert plateau.suggestion.startswith("the learning rate (2e-02) is not small") and plateau.fix == []
    assert "raise the learning rate" not in plateau.suggestion


def test_converged_run_is_not_a_plateau() -> None:
    losses = [1.0, 0.5, 0.3, 0.2] + [0.19] * 6  # flat, but 81% below start
    stream = [check(100 * (i + 1), loss=v) for i, v in enumerate(losses)]
    assert "plateau" not in kinds(DetectorSuite(HealthConfig()).replay(stream))


def test_clipping_is_named_only_where_it_changes_the_update() -> None:
    def starved(**kw) -> list:
        stream = [check(100 * i, clip_fraction=0.97, clip_fraction_total=0.97, grad_norm=0.45, max_norm=0.1, **kw)
                  for i in range(1, 4)]
        return [e for e in DetectorSuite(HealthConfig(starved_patience=2)).replay(stream)
                if e.kind == "starved_gradients"]

    assert starved(optimizer="AdamW", clip_factor_cv=0.05) == []  # Adam normalises a constant clip factor away
    (sgd,) = starved(optimizer="SGD")
    assert sgd.step == 200 and "Gradient clipping fired on 97% of steps (max_norm=0.1; median pre-clip norm 0.45)" \
        in sgd.message and "SGD scales the update" in sgd.message and "grad_clip" in sgd.suggestion
    (varying,) = starved(optimizer="AdamW", clip_factor_cv=0.9)
    assert "varies strongly" in varying.message


def test_tiny_update_ranks_the_learning_rate_first() -> None:
    stream = [check(100 * i, lr=1e-4, update_ratio={"default/decay": 2e-5, "default/no_decay": 3e-5},
                    clip_fraction=1.0, max_norm=0.1, grad_norm=0.05) for i in range(1, 4)]
    (event,) = [e for e in DetectorSuite(HealthConfig(starved_patience=2)).replay(stream)
                if e.kind == "starved_gradients"]
    assert event.message.startswith("The update applied is tiny") and event.fix == ["optim.lr=1e-03"]
    assert "grad_clip" not in event.suggestion


def test_the_users_plateau_under_adamw_advises_the_learning_rate() -> None:
    """Loss 1.35 -> 1.19 with grad norms 0.0026-0.19, clip 0.1 under AdamW: the lever is the lr, not the clip."""
    norms = [0.0026, 0.19, 0.05, 0.1, 0.08, 0.02, 0.12, 0.04, 0.09]
    losses = [1.35, 1.27, 1.22] + [1.19] * 6
    stream = [check(100 * (i + 1), loss=v, lr=1e-4, grad_norm=g, max_norm=0.1, clip_fraction=0.4,
                    clip_factor_cv=0.2) for i, (v, g) in enumerate(zip(losses, norms, strict=True))]
    events = DetectorSuite(HealthConfig(plateau_window=300)).replay(stream)
    (plateau,) = [e for e in events if e.kind == "plateau"]
    assert plateau.suggestion.startswith("raise the learning rate first: optim.lr=1e-03 (from 1e-04)")
    assert "grad_clip" not in plateau.suggestion and plateau.fix == ["optim.lr=1e-03"]
    assert "starved_gradients" not in kinds(events)


def test_tiny_lr_only_after_warmup() -> None:
    warm = [check(100 * i, lr=1e-8, warmup_done=False) for i in range(1, 5)]
    assert DetectorSuite(HealthConfig()).replay(warm) == []
    after = [check(100 * i, lr=1e-8) for i in range(1, 5)]
    events = DetectorSuite(HealthConfig()).replay(after)
    assert kinds(events) == ["starved_gradients"] and "learning rate is tiny" in events[0].message


def test_nonfinite_warns_then_fails() -> None:
    cfg = HealthConfig(nonfinite_patience=3)
    suite = DetectorSuite(cfg)
    severities = []
    for step, n in enumerate([0, 1, 2, 3, 4]):
        severities += [e.severity for e in suite.update(check(step, nonfinite_steps=n)) if e.kind == "nonfinite"]
    assert severities == ["warning", "error"]


def test_empty_targets_are_a_data_problem_not_collapse() -> None:
    stream = [check(100 * i, target_rate=0.0, pred_mean=1e-6, pred_max=0.001, empty_target_fraction=1.0)
              for i in range(1, 6)]
    events = DetectorSuite(HealthConfig()).replay(stream)
    assert kinds(events) == ["empty_targets"]
    assert "occkit verify" in events[0].suggestion


def test_misaligned_target() -> None:
    stream = [check(100 * i, input_target_overlap=0.01) for i in range(1, 4)]
    events = DetectorSuite(HealthConfig(misalignment_patience=2)).replay(stream)
    assert kinds(events) == ["misaligned_target"] and events[0].step == 200


def test_check_round_trip_and_status_line() -> None:
    c = check(500, pred_mean=0.0001, pred_min=0.0, pred_max=0.01, per_height_loss=[0.1, 0.2])
    assert HealthCheck.from_dict(c.to_dict()) == c
    line = c.status_line()
    assert line.startswith("HEALTH [500]: Occ: 0.83%, Pred mean: 0.0001, min: 0.00, max: 0.01")


@pytest.mark.parametrize("shift,expected", [(0, 1.0), (1, 1.0), (3, 1 / 3), (4, 0.0)])
def test_input_target_overlap(shift: int, expected: float) -> None:
    z, y, x = 4, 16, 16
    target = torch.zeros(1, z, y, x)
    target[0, 1, 5:8, 5:8] = 1
    inputs = torch.zeros(1, 2 * z, y, x)  # two features stacked feature-major
    inputs[0, z + 1, 5 + shift:8 + shift, 5:8] = 0.7  # second feature only
    assert input_target_overlap(inputs, target) == pytest.approx(expected)


def test_divergence_from_a_climbing_loss_or_dead_gradients() -> None:
    climbing = [check(100 * i, loss=v, warmup_done=i > 1) for i, v in enumerate([1.0, 0.6, 0.5, 0.9, 1.1, 1.2], 1)]
    (event,) = [e for e in DetectorSuite(HealthConfig()).replay(climbing) if e.kind == "diverging"]
    assert "loss is climbing" in event.message and event.fix == ["optim.lr=1e-04"]
    # lr 3.0: the first steps blow the network up, the gradient then dies while updates stay large
    dead = [check(10, grad_norm=0.12, update_ratio={"g": 0.12}, lr=3.0, warmup_done=False)] + [
        check(10 * i, grad_norm=0.001, update_ratio={"g": 1.5e-2}, lr=3.0, loss=0.61) for i in range(2, 6)]
    (event,) = [e for e in DetectorSuite(HealthConfig()).replay(dead) if e.kind == "diverging"]
    assert "gradients died" in event.message and event.fix == ["optim.lr=3e-01"]
    # a healthy run whose gradients shrink 3x and whose loss falls raises nothing
    assert "diverging" not in kinds(DetectorSuite(HealthConfig()).replay(healthy_stream()))


def test_shrinking_gradients_of_a_model_that_fits_are_not_divergence() -> None:
    """A healthy sparse-grid run: loss 0.037 -> 0.004 and gradients 0.064 -> 0.002 as it fits."""
    stream = [check(20 * i, loss=0.037 * 0.8 ** i, grad_norm=0.064 * 0.75 ** i, update_ratio={"g": 3e-3},
                    warmup_done=i > 1) for i in range(1, 14)]
    assert "diverging" not in kinds(DetectorSuite(HealthConfig()).replay(stream))


def test_a_misalignment_alarm_needs_the_same_offset_on_consecutive_checks() -> None:
    """A real shift is the same every batch; the correlation peak of an aligned run on small training windows
    wanders (what the main job's 48 x 48 windows showed) and must not raise the alarm."""
    def shifted_check(step: int, offset: list[int], gain: float = 1.6):
        return check(step, input_target_overlap=0.95, input_offset_voxels=offset,
                     input_offset_m=[0.4 * v for v in offset], input_offset_gain=gain)

    wandering = [shifted_check(20 * i, o) for i, o in enumerate([[6, -12, 0], [13, -3, 0], [-13, 12, 0], [-3, -1, 0],
                                                                 [8, 8, 0]], start=1)]
    assert DetectorSuite(HealthConfig()).replay(wandering) == []
    steady = [shifted_check(20 * i, o) for i, o in enumerate([[6, 0, 0], [6, 1, 0], [6, 0, 0]], start=1)]
    events = DetectorSuite(HealthConfig()).replay(steady)
    assert kinds(events) == ["misaligned_target"] and events[0].step == 40


def test_vanishing_gradients_after_a_collapse_are_its_symptom_not_a_second_cause() -> None:
    """A net that collapsed to all-empty saturates and its gradients vanish: one finding (collapse), whose fix is
    the loss; the same vanishing gradients in a run that did not collapse are still named."""
    stream = ([check(100, pred_mean=0.008)] + [check(100 * i, pred_mean=1e-4, pred_max=0.01, grad_norm=1e-9)
                                               for i in range(2, 8)])
    assert kinds(DetectorSuite(HealthConfig(collapse_patience=3)).replay(stream)) == ["collapse"]
    vanishing = [check(100 * i, grad_norm=1e-9) for i in range(1, 5)]
    assert "starved_gradients" in kinds(DetectorSuite(HealthConfig()).replay(vanishing))
