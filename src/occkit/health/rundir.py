"""Read a run directory back: config, status, per-step metrics, health checks, events.

Tolerant by design: the doctor must work on runs that crashed midway, so every file is optional
and torn lines are skipped.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from occkit.errors import InputFileError
from occkit.health.events import HealthEvent, read_jsonl

STEP_COLUMNS = ("train/loss", "train/grad_norm", "train/clipped", "train/lr", "pred/mean", "pred/min", "pred/max",
                "pred/occupancy_rate", "target/occupancy_rate")


@dataclass
class RunRecord:
    run_dir: Path
    config: dict[str, Any] = field(default_factory=dict)
    status: dict[str, Any] = field(default_factory=dict)
    steps: dict[str, list[tuple[int, float]]] = field(default_factory=dict)  # metric -> [(step, value)]
    epochs: dict[str, list[tuple[int, float]]] = field(default_factory=dict)  # epoch/val metrics -> [(step, value)]
    health: list[dict[str, Any]] = field(default_factory=list)
    events: list[HealthEvent] = field(default_factory=list)

    @property
    def name(self) -> str:
        return str(self.config.get("name") or self.run_dir.name)

    def series(self, key: str) -> tuple[list[int], list[float]]:
        pairs = self.steps.get(key) or self.epochs.get(key) or []
        return [p[0] for p in pairs], [p[1] for p in pairs]

    def last_step(self) -> int:
        candidates = [pairs[-1][0] for pairs in self.steps.values() if pairs]
        candidates += [int(h.get("step", 0)) for h in self.health[-1:]]
        candidates.append(int(self.status.get("global_step", 0) or 0))
        return max(candidates) if candidates else 0

    def config_value(self, dotted: str, default: Any = None) -> Any:
        node: Any = self.config
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        return {"_unreadable": str(path)}


def _read_metrics_csv(path: Path) -> tuple[dict[str, list], dict[str, list]]:
    steps: dict[str, list[tuple[int, float]]] = {}
    epochs: dict[str, list[tuple[int, float]]] = {}
    if not path.is_file():
        return steps, epochs
    with path.open(newline="") as fh:
        for row in csv.DictReader(fh):
            try:
                step = int(float(row.get("step") or 0))
            except ValueError:
                continue
            for key, text in row.items():
                if key in (None, "step", "epoch") or text in (None, ""):
                    continue
                try:
                    value = float(text)
                except ValueError:
                    continue
                target = steps if key in STEP_COLUMNS or key.startswith("train/loss_") else epochs
                target.setdefault(key, []).append((step, value))
    for store in (steps, epochs):
        for key in store:
            store[key].sort(key=lambda p: p[0])
    return steps, epochs


def read_run(run_dir: str | Path) -> RunRecord:
    """Load everything the doctor can use from ``run_dir`` (errors only if it is not a run at all)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise InputFileError(run_dir, "not a directory; pass the run directory that `occkit train` printed")
    known = ["config.json", "status.json", "metrics.csv", "health.jsonl", "events.jsonl"]
    if not any((run_dir / name).exists() for name in known):
        raise InputFileError(run_dir, f"does not look like an occkit run directory (none of {', '.join(known)})")
    steps, epochs = _read_metrics_csv(run_dir / "metrics.csv")
    return RunRecord(
        run_dir=run_dir,
        config=_read_json(run_dir / "config.json"),
        status=_read_json(run_dir / "status.json"),
        steps=steps,
        epochs=epochs,
        health=read_jsonl(run_dir / "health.jsonl"),
        events=[HealthEvent.from_dict(e) for e in read_jsonl(run_dir / "events.jsonl")],
    )


def finite(values: list[float]) -> list[float]:
    return [v for v in values if math.isfinite(v)]
