"""Fault injection: tiny trainings with a known fault, to prove each detector names the right cause, and that
the doctor's first suggestion, applied, makes the run better.

Each fault is config overrides and/or a data corruption. ``run_fault`` trains with it and collects the events;
``check_advice`` reruns the same training with the doctor's first suggestion applied (its config fix, or for a
data fault the correction it names, e.g. shifting the input back by the *estimated* offset) and compares the
validation IoU, then the final training loss. ``benchmarks/health_faults.py`` runs them all; the tests run a
fast subset.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from occkit.config import ExperimentConfig, apply_overrides
from occkit.data.workers import worker_context
from occkit.health.events import HealthEvent, TrainingHealthError, read_jsonl
from occkit.health.rundir import read_run


@dataclass(frozen=True)
class FaultSpec:
    description: str
    overrides: tuple[str, ...] = ()
    data_fault: str | None = None  # empty_targets | misaligned | nan_inputs | offset:<voxels>
    expected: tuple[str, ...] = ()  # detector kinds that are the right cause; empty = healthy control
    onset: str = "injected"  # "injected" (step 0) or "collapse" (the first step with nothing above 0.5)


USERS_LOSS = 'loss.terms=[{"kind": "bce", "pos_weight": 10}, {"kind": "dice", "weight": 0.5}]'

FAULTS: dict[str, FaultSpec] = {
    "healthy": FaultSpec("default config: focal + dice + mean-matching, prior bias init"),
    "healthy_seed1": FaultSpec("the same, another seed", overrides=("seed=1",)),
    "healthy_seed2": FaultSpec("the same, a third seed", overrides=("seed=2",)),
    "collapse": FaultSpec(
        "weighted BCE with an inverted class weight (pos_weight=0.002: n_pos/n_neg instead of n_neg/n_pos), lr 0.03",
        overrides=("loss.kind=\"weighted_bce\"", "loss.pos_weight=0.002", "loss.mean_weight=0", "optim.lr=0.03"),
        expected=("collapse",), onset="collapse"),
    "wbce_dice_no_prior": FaultSpec(
        "the user's loss: weighted BCE (pos_weight 10) + 0.5 dice at ~0.8 % occupancy, no prior bias",
        overrides=(USERS_LOSS, "model.prior_occupancy=null"), expected=("collapse",)),
    "plateau": FaultSpec(
        "lr 1e-5 with gradient clipping at max_norm 0.1",
        overrides=("optim.lr=1e-5", "optim.grad_clip=0.1", "optim.warmup_steps=0", "optim.schedule=\"constant\""),
        expected=("starved_gradients", "plateau")),
    "adamw_lr1e-4_clip0.1": FaultSpec(
        "the user's plateau: AdamW at lr 1e-4 with clipping at max_norm 0.1, bce + 0.5 dice",
        overrides=("optim.lr=1e-4", "optim.grad_clip=0.1", "optim.warmup_steps=0", "optim.schedule=\"constant\"",
                   'loss.kind="bce_dice"', "loss.dice_weight=0.5", "loss.mean_weight=0"),
        expected=("starved_gradients", "plateau")),
    "lr_10x": FaultSpec("learning rate 3.0: 10x the highest this model still trains at (0.3; default 3e-3)",
                        overrides=("optim.lr=3.0",),
                        expected=("diverging", "collapse", "nonfinite")),
    "empty_targets": FaultSpec("every target grid empty (ego-frame misalignment pushed GT out of range): the "
                               "loss drops to ~1e-4", data_fault="empty_targets", expected=("empty_targets",)),
    "misaligned": FaultSpec("target grid shifted against the input by a quarter of the grid in plan and "
                            "by a quarter of the height levels (at least 2)",
                            data_fault="misaligned", expected=("misaligned_target",)),
    "offset_2": FaultSpec("input shifted 2 voxels in x from the target", data_fault="offset:2",
                          expected=("misaligned_target",)),
    "offset_6": FaultSpec("input shifted 6 voxels in x from the target", data_fault="offset:6",
                          expected=("misaligned_target",)),
    "offset_12": FaultSpec("input shifted 12 voxels in x from the target (4.8 m at 0.4 m voxels)",
                           data_fault="offset:12", expected=("misaligned_target",)),
    "nan_inputs": FaultSpec("NaN injected into the input features of every batch",
                            data_fault="nan_inputs", expected=("nonfinite",)),
}
TRAIN_ONLY = ("empty_targets", "nan_inputs")  # faults of the training data alone: validation data is clean


def shift_input(grid: torch.Tensor, shift: tuple[int, int, int], levels: int) -> torch.Tensor:
    """Move a (F*Z, Y, X) model input by (dx, dy, dz) voxels, filling with zeros, never wrapping."""
    dx, dy, dz = shift
    f = grid.shape[0] // levels
    src = grid.reshape(f, levels, *grid.shape[1:])
    out = torch.zeros_like(src)
    z, y, x = src.shape[1:]

    def cut(d: int, n: int) -> tuple[slice, slice]:
        return (slice(max(0, -d), n - max(0, d)), slice(max(0, d), n - max(0, -d)))

    (sz, tz), (sy, ty), (sx, tx) = cut(dz, z), cut(dy, y), cut(dx, x)
    out[:, tz, ty, tx] = src[:, sz, sy, sx]
    return out.reshape(grid.shape)


class FaultInjectingDataset(Dataset):
    """Wraps a dataset of model-layout samples and corrupts each one the same way."""

    def __init__(self, base: Dataset, fault: str, input_shift: tuple[int, int, int] = (0, 0, 0)) -> None:
        kind = fault.split(":")[0]
        if kind not in ("empty_targets", "misaligned", "nan_inputs", "offset", "none"):
            raise ValueError(f"unknown data fault {fault!r}")
        self.base = base
        self.fault = fault
        fault_dx = int(fault.split(":")[1]) if kind == "offset" else 0
        self.input_shift = (input_shift[0] + fault_dx, input_shift[1], input_shift[2])

    def __len__(self) -> int:
        return len(self.base)  # type: ignore[arg-type]

    def __getitem__(self, index: Any) -> dict[str, Any]:
        sample = dict(self.base[index])
        if self.fault == "empty_targets":
            sample["target"] = torch.zeros_like(sample["target"])
        elif self.fault == "misaligned":
            z, y, x = sample["target"].shape
            shifts = (max(2, z // 4), y // 4, x // 4)
            sample["target"] = torch.roll(sample["target"], shifts=shifts, dims=(0, 1, 2))
        elif self.fault == "nan_inputs":
            inputs = sample["input"].clone()
            inputs.view(-1)[:: max(1, inputs.numel() // 50)] = math.nan
            sample["input"] = inputs
        if any(self.input_shift):
            sample["input"] = shift_input(sample["input"], self.input_shift, sample["target"].shape[0])
        return sample


def corrupt_loader(loader: DataLoader, fault: str, input_shift: tuple[int, int, int] = (0, 0, 0)) -> DataLoader:
    """The same loader (sampler, batch size, collate) over corrupted samples."""
    dataset = FaultInjectingDataset(loader.dataset, fault, input_shift)
    return DataLoader(dataset, batch_size=loader.batch_size, sampler=loader.sampler, collate_fn=loader.collate_fn,
                      num_workers=loader.num_workers, drop_last=loader.drop_last,
                      multiprocessing_context=worker_context(loader.num_workers, dataset))


@dataclass
class FaultResult:
    name: str
    spec: FaultSpec
    run_dir: Path
    events: list[HealthEvent] = field(default_factory=list)
    onset_step: int | None = None
    stopped: bool = False
    val_iou: float | None = None
    final_loss: float | None = None

    @property
    def detected_kinds(self) -> list[str]:
        return sorted({e.kind for e in self.events})

    @property
    def first_right_event(self) -> HealthEvent | None:
        right = [e for e in self.events if e.kind in self.spec.expected]
        return min(right, key=lambda e: e.step) if right else None

    @property
    def correct(self) -> bool:
        if not self.spec.expected:
            return not self.events
        return self.first_right_event is not None

    @property
    def false_alarms(self) -> list[str]:
        return [k for k in self.detected_kinds if k not in self.spec.expected]

    @property
    def latency(self) -> int | None:
        event = self.first_right_event
        if event is None or self.onset_step is None:
            return None
        return max(0, event.step - self.onset_step)


def _onset(spec: FaultSpec, run: Any) -> int | None:
    """Step at which the fault became visible: 0 for injected ones; for a collapse the first step from which on
    nothing is predicted above 0.5."""
    if spec.onset != "collapse":
        return 0
    pairs = sorted(run.steps.get("pred/max", []))
    onset = None
    for step, value in pairs:
        if value < 0.5:
            onset = step if onset is None else onset
        else:
            onset = None
    return onset


def _final(run: Any) -> tuple[float | None, float | None]:
    """The last validation IoU and the mean training loss of the last 20 steps."""
    _, ious = run.series("val/iou")
    _, losses = run.series("train/loss")
    losses = [v for v in losses if math.isfinite(v)]
    tail = losses[-20:]
    return (ious[-1] if ious else None), (sum(tail) / len(tail) if tail else None)


def run_fault(name: str, base: ExperimentConfig, *, run_root: Path, verbose: bool = False,
              extra_overrides: tuple[str, ...] = (), data_fault: str | None = "spec",
              input_shift: tuple[int, int, int] = (0, 0, 0), suffix: str = "", validate: bool = True) -> FaultResult:
    """Train ``base`` with fault ``name`` injected; collect the health events and the final figures.

    ``extra_overrides`` / ``data_fault`` / ``input_shift`` let ``check_advice`` rerun it with a fix applied.
    """
    from occkit.data.dataset import build_dataloader
    from occkit.train.runner import fit

    spec = FAULTS[name]
    fault = spec.data_fault if data_fault == "spec" else data_fault
    cfg = apply_overrides(base, [*spec.overrides, *extra_overrides, f"name=\"fault_{name}{suffix}\""],
                          origin=f"fault {name}")
    train_loader = build_dataloader(cfg.data, "train", seed=cfg.seed)
    val_loader = build_dataloader(cfg.data, "val", seed=cfg.seed) if validate else None
    if fault or any(input_shift):
        train_loader = corrupt_loader(train_loader, fault or "none", input_shift)
        if val_loader is not None:
            val_fault = "none" if fault in TRAIN_ONLY or fault is None else fault
            val_loader = corrupt_loader(val_loader, val_fault, input_shift)
    run_dir = run_root / f"{name}{suffix}"
    stopped = False
    try:
        fit(cfg, run_dir=run_dir, train_loader=train_loader, val_loader=val_loader, verbose=verbose)
    except TrainingHealthError:
        stopped = True
    events = [HealthEvent.from_dict(e) for e in read_jsonl(run_dir / "events.jsonl")]
    run = read_run(run_dir)
    iou, loss = _final(run)
    return FaultResult(name, spec, run_dir, events, _onset(spec, run), stopped, iou, loss)


@dataclass
class AdviceCheck:
    """The doctor's first suggestion, how it was applied, and whether the rerun was better."""

    suggestion: str
    applied: str
    before_iou: float | None
    after_iou: float | None
    before_loss: float | None
    after_loss: float | None

    @property
    def helped(self) -> bool:
        if self.before_iou is not None and self.after_iou is not None and abs(self.after_iou - self.before_iou) > 0.005:
            return self.after_iou > self.before_iou
        if self.before_loss is not None and self.after_loss is not None:
            return self.after_loss < self.before_loss
        return False


def check_advice(result: FaultResult, base: ExperimentConfig, *, run_root: Path) -> AdviceCheck | None:
    """Rerun ``result``'s fault with the doctor's first suggestion applied; None for a healthy control."""
    from occkit.health.doctor import diagnose

    if not result.spec.expected:
        return None
    findings = [f for f in diagnose(result.run_dir).findings if f.kind not in ("crash", "interrupted")]
    if not findings:
        return AdviceCheck("(none)", "(nothing to apply)", result.val_iou, None, result.final_loss, None)
    first = findings[0]
    kwargs: dict[str, Any] = {}
    offset = first.evidence.get("offset_voxels") if first.kind == "misaligned_target" else None
    if offset and any(offset):
        dx, dy, dz = (int(v) for v in offset)
        kwargs["input_shift"] = (-dx, -dy, -dz)  # move the input back by the offset the doctor estimated
        applied = f"input moved back by the estimated ({dx:+d}, {dy:+d}, {dz:+d}) voxels"
    elif first.kind in ("empty_targets", "nonfinite", "misaligned_target"):
        kwargs["data_fault"] = None  # the data the suggestion says to check, fixed
        applied = "the data problem it names removed (verified data)"
    elif first.fix:
        kwargs["extra_overrides"] = tuple(first.fix)
        applied = " ".join(first.fix)
    else:
        return AdviceCheck(first.suggestion, "(no machine-readable fix)", result.val_iou, None,
                           result.final_loss, None)
    rerun = run_fault(result.name, base, run_root=run_root, suffix="_fixed", **kwargs)
    return AdviceCheck(first.suggestion, applied, result.val_iou, rerun.val_iou, result.final_loss, rerun.final_loss)
