"""Fault injection: tiny trainings with a known fault, to prove each detector names the right cause.

Each fault is a set of config overrides and/or a data corruption applied to the training samples.
``benchmarks/health_faults.py`` runs them all and prints a table; the tests run a fast subset.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from occkit.config import ExperimentConfig, apply_overrides
from occkit.health.events import HealthEvent, TrainingHealthError, read_jsonl
from occkit.health.rundir import read_run


@dataclass(frozen=True)
class FaultSpec:
    description: str
    overrides: tuple[str, ...] = ()
    data_fault: str | None = None
    expected: tuple[str, ...] = ()  # detector kinds that are the right cause; empty = healthy control


FAULTS: dict[str, FaultSpec] = {
    "healthy": FaultSpec("default config: focal + dice + mean-matching, prior bias init"),
    "collapse": FaultSpec(
        "weighted BCE with an inverted class weight (pos_weight=0.002: n_pos/n_neg instead of n_neg/n_pos), lr 0.03",
        overrides=("loss.kind=\"weighted_bce\"", "loss.pos_weight=0.002", "loss.mean_weight=0", "optim.lr=0.03"),
        expected=("collapse",)),
    "plateau": FaultSpec(
        "lr 1e-5 with gradient clipping at max_norm 0.1",
        overrides=("optim.lr=1e-5", "optim.grad_clip=0.1", "optim.warmup_steps=0", "optim.schedule=\"constant\""),
        expected=("starved_gradients", "plateau")),
    "empty_targets": FaultSpec("every target grid empty (ego-frame misalignment pushed GT out of range)",
                               data_fault="empty_targets", expected=("empty_targets",)),
    "misaligned": FaultSpec("target grid shifted against the input by a quarter of the grid in plan and "
                            "by a quarter of the height levels (at least 2)",
                            data_fault="misaligned", expected=("misaligned_target",)),
    "nan_inputs": FaultSpec("NaN injected into the input features of every batch",
                            data_fault="nan_inputs", expected=("nonfinite",)),
}


class FaultInjectingDataset(Dataset):
    """Wraps a dataset of model-layout samples and corrupts each one the same way."""

    def __init__(self, base: Dataset, fault: str) -> None:
        if fault not in ("empty_targets", "misaligned", "nan_inputs"):
            raise ValueError(f"unknown data fault {fault!r}")
        self.base = base
        self.fault = fault

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
        return sample


def corrupt_loader(loader: DataLoader, fault: str) -> DataLoader:
    """The same loader (sampler, batch size, collate) over corrupted samples."""
    return DataLoader(FaultInjectingDataset(loader.dataset, fault), batch_size=loader.batch_size,
                      sampler=loader.sampler, collate_fn=loader.collate_fn, num_workers=loader.num_workers,
                      drop_last=loader.drop_last)


@dataclass
class FaultResult:
    name: str
    spec: FaultSpec
    run_dir: Path
    events: list[HealthEvent] = field(default_factory=list)
    onset_step: int | None = None
    stopped: bool = False

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
        return event.step - self.onset_step


def _onset(name: str, run_dir: Path, ratio: float) -> int | None:
    """Step at which the fault became visible: step 0 for injected ones, the first collapsed step otherwise."""
    if name != "collapse":
        return 0
    run = read_run(run_dir)
    pred = dict(run.steps.get("pred/mean", []))
    target = dict(run.steps.get("target/occupancy_rate", []))
    for step in sorted(pred):
        if step in target and pred[step] < ratio * target[step]:
            return step
    return None


def run_fault(name: str, base: ExperimentConfig, *, run_root: Path, verbose: bool = False) -> FaultResult:
    """Train ``base`` with fault ``name`` injected; collect the health events it produced."""
    from occkit.data.dataset import build_dataloader
    from occkit.train.runner import fit

    spec = FAULTS[name]
    cfg = apply_overrides(base, [*spec.overrides, f"name=\"fault_{name}\""], origin=f"fault {name}")
    train_loader = build_dataloader(cfg.data, "train", seed=cfg.seed)
    if spec.data_fault:
        train_loader = corrupt_loader(train_loader, spec.data_fault)
    run_dir = run_root / name
    stopped = False
    try:
        fit(cfg, run_dir=run_dir, train_loader=train_loader, val_loader=None, verbose=verbose)
    except TrainingHealthError:
        stopped = True
    events = [HealthEvent.from_dict(e) for e in read_jsonl(run_dir / "events.jsonl")]
    return FaultResult(name, spec, run_dir, events, _onset(name, run_dir, cfg.health.collapse_ratio), stopped)
