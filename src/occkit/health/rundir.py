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
from occkit.health.tb_events import event_files, read_scalars

STEP_COLUMNS = ("train/loss", "train/grad_norm", "train/clipped", "train/lr", "pred/mean", "pred/min", "pred/max",
                "pred/occupancy_rate", "target/occupancy_rate", "train/nonfinite_steps")


@dataclass
class RunRecord:
    run_dir: Path
    config: dict[str, Any] = field(default_factory=dict)
    status: dict[str, Any] = field(default_factory=dict)
    steps: dict[str, list[tuple[int, float]]] = field(default_factory=dict)  # metric -> [(step, value)]
    epochs: dict[str, list[tuple[int, float]]] = field(default_factory=dict)  # epoch/val metrics -> [(step, value)]
    health: list[dict[str, Any]] = field(default_factory=list)
    events: list[HealthEvent] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # damaged files, one line each (torn rows, binary data)
    metrics_from: str = "metrics.csv"  # where the per-step series came from (TensorBoard events without the CSV)
    written_by_occkit: bool = True  # False: only another trainer's TensorBoard events, no status.json to expect

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
        data = json.loads(path.read_text(errors="replace"))
    except json.JSONDecodeError:
        return {"_unreadable": str(path)}
    return data if isinstance(data, dict) else {"_unreadable": str(path)}


def _read_metrics_csv(path: Path) -> tuple[dict[str, list], dict[str, list], list[str]]:
    """Per-step and per-epoch series, plus one line per damage found (torn rows are dropped, not guessed)."""
    steps: dict[str, list[tuple[int, float]]] = {}
    epochs: dict[str, list[tuple[int, float]]] = {}
    if not path.is_file():
        return steps, epochs, []
    raw = path.read_bytes()
    if b"\0" in raw:
        return steps, epochs, [f"{path}: holds binary data (NUL bytes), not a CSV; its metrics were ignored"]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return steps, epochs, [f"{path}: not UTF-8 text (byte {exc.start}); its metrics were ignored"]
    lines = text.splitlines(keepends=True)
    torn = 0
    if lines and not lines[-1].endswith("\n"):  # the writer was killed mid-line
        lines, torn = lines[:-1], 1
    rows = csv.reader(lines)
    header = next(rows, None) or []
    for fields in rows:
        if len(fields) != len(header):
            torn += 1
            continue
        row = dict(zip(header, fields, strict=True))
        try:
            step = int(float(row.get("step") or 0))
        except ValueError:
            torn += 1
            continue
        for key, text_value in row.items():
            if key in ("step", "epoch") or text_value == "":
                continue
            try:
                value = float(text_value)
            except ValueError:
                continue
            target = steps if _is_step_series(key) else epochs
            target.setdefault(key, []).append((step, value))
    for store in (steps, epochs):
        for key in store:
            store[key].sort(key=lambda p: p[0])
    problems = [f"{path}: dropped {torn} torn row(s) (cut mid-line or with the wrong number of fields)"] if torn else []
    return steps, epochs, problems


def _is_step_series(key: str) -> bool:
    return key in STEP_COLUMNS or key.startswith("train/loss_")


def _split_series(series: dict[str, list[tuple[int, float]]]) -> tuple[dict[str, list], dict[str, list]]:
    """Per-step and per-epoch series, as the CSV reader splits them."""
    steps = {k: v for k, v in series.items() if _is_step_series(k)}
    return steps, {k: v for k, v in series.items() if not _is_step_series(k)}


def read_run(run_dir: str | Path) -> RunRecord:
    """Load everything the doctor can use from ``run_dir`` (errors only if it is not a run at all)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise InputFileError(run_dir, "not a directory; pass the run directory that `occkit train` printed")
    known = ["config.json", "status.json", "metrics.csv", "health.jsonl", "events.jsonl"]
    tb_files, tb_runs = event_files(run_dir)
    ours = any((run_dir / name).exists() for name in known)
    if not tb_files and not ours:
        raise InputFileError(run_dir, f"does not look like a training run (none of {', '.join(known)}, nor "
                                      "TensorBoard event files)")
    steps, epochs, problems = _read_metrics_csv(run_dir / "metrics.csv")
    metrics_from = "metrics.csv"
    if not steps and tb_files:  # the CSV is gone or damaged: TensorBoard logged the same names
        series, tb_problems = read_scalars(tb_files)
        problems += tb_problems
        if series:
            steps, epochs = _split_series(series)
            metrics_from = ", ".join(str(p.relative_to(run_dir)) for p in tb_files)
            if tb_runs > 1:
                metrics_from += (f"; the newest of {tb_runs} folders of event files, each a run of its own: pass "
                                 "one of them to read another")
    return RunRecord(
        run_dir=run_dir,
        config=_read_json(run_dir / "config.json"),
        status=_read_json(run_dir / "status.json"),
        steps=steps,
        epochs=epochs,
        health=read_jsonl(run_dir / "health.jsonl"),
        events=[HealthEvent.from_dict(e) for e in read_jsonl(run_dir / "events.jsonl")],
        problems=problems,
        metrics_from=metrics_from,
        written_by_occkit=ours,
    )


def stopped_without_status(status: dict[str, Any], stale_after_s: float = 1800.0) -> str | None:
    """Why a run whose status still says "running" is in fact dead, or None when it may be alive.

    status.json carries the trainer's pid and host and a heartbeat time: on the same host a missing pid is
    proof; elsewhere a heartbeat older than ``stale_after_s`` is the best evidence there is.
    """
    import os
    import socket
    import time

    if status.get("state") != "running":
        return None
    beat = status.get("updated", "unknown")
    pid, host = status.get("pid"), status.get("host")
    if isinstance(pid, int) and host == socket.gethostname():
        try:
            os.kill(pid, 0)
            return None
        except ProcessLookupError:
            return f"stopped without a final status (process {pid} is gone; last heartbeat {beat})"
        except PermissionError:
            return None
    try:
        age = time.time() - time.mktime(time.strptime(str(beat)[:19], "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return None
    if age > stale_after_s:
        return f"stopped without a final status (no heartbeat for {age / 60:.0f} min; last heartbeat {beat})"
    return None


def finite(values: list[float]) -> list[float]:
    return [v for v in values if math.isfinite(v)]
