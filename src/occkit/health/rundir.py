"""Read a run directory back: config, status, per-step metrics, health checks, events.

Tolerant by design: the doctor must work on runs that crashed midway, so every file is optional
and torn lines are skipped.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from occkit.errors import InputFileError
from occkit.health.events import HealthEvent, read_jsonl
from occkit.health.foreign_runs import ForeignRun, occkit_settings, read_csv_rows, read_foreign_run, read_hparams
from occkit.health.metric_names import records_to_series, to_occkit_names
from occkit.health.tb_events import event_files, read_scalars

OCCKIT_FILES = ("config.json", "status.json", "health.jsonl", "events.jsonl")  # a lone metrics.csv may be Lightning's
KNOWN_FILES = (*OCCKIT_FILES, "metrics.csv")
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
    metrics_kind: str = "occkit CSV"  # what kind of log that is: TensorBoard events, an OpenMMLab or W&B log …
    written_by_occkit: bool = True  # False: another trainer's logs, no status.json to expect
    settings: dict[str, str] = field(default_factory=dict)  # occkit's setting -> its name in another trainer's config
    log_file: Path | None = None  # the one log file read, when the doctor was given a file

    def default_report_dir(self) -> Path:
        """Where doctor.md goes without --out: an occkit run's report/ folder; beside another trainer's run, a folder
        of occkit's own (``occkit_doctor/``, ``<log>_doctor/``), never one of theirs."""
        if self.log_file is not None and not self.log_file.name.startswith("events.out.tfevents."):
            return self.log_file.with_name(f"{self.log_file.stem}_doctor")
        return self.run_dir / ("report" if self.written_by_occkit else "occkit_doctor")

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
    if not path.is_file():
        return {}, {}, []
    rows, problems = read_csv_rows(path)
    steps, epochs = _split_series(to_occkit_names(records_to_series(rows)))
    return steps, epochs, problems


def _is_step_series(key: str) -> bool:
    return key in STEP_COLUMNS or key.startswith("train/loss_")


def _split_series(series: dict[str, list[tuple[int, float]]]) -> tuple[dict[str, list], dict[str, list]]:
    """Per-step and per-epoch series, as the CSV reader splits them."""
    steps = {k: v for k, v in series.items() if _is_step_series(k)}
    return steps, {k: v for k, v in series.items() if not _is_step_series(k)}


def read_run(run_dir: str | Path) -> RunRecord:
    """Load everything the doctor can use from ``run_dir`` (errors only if it is not a run at all): an occkit run,
    else another trainer's TensorBoard events or log (``occkit.health.foreign_runs.LOG_KINDS``), or that one log
    file."""
    run_dir = Path(run_dir)
    if run_dir.is_file():  # one log file of another trainer's: train.log, scalars.json, run-<id>.wandb, metrics.csv
        return _read_log_file(run_dir)
    if not run_dir.is_dir():
        raise InputFileError(run_dir, "not a directory; pass the run directory that `occkit train` printed")
    ours = any((run_dir / name).exists() for name in OCCKIT_FILES)
    if not ours:
        _refuse_a_folder_of_runs(run_dir)
    # a metrics.csv without occkit's other files is Lightning's CSVLogger's: read as another trainer's, hparams too
    steps, epochs, problems = _read_metrics_csv(run_dir / "metrics.csv") if ours else ({}, {}, [])
    record = RunRecord(run_dir=run_dir, config=_read_json(run_dir / "config.json"),
                       status=_read_json(run_dir / "status.json"), health=read_jsonl(run_dir / "health.jsonl"),
                       events=[HealthEvent.from_dict(e) for e in read_jsonl(run_dir / "events.jsonl")],
                       written_by_occkit=ours)
    # an occkit run whose CSV is gone logged the same names to TensorBoard; another trainer's own log is richer
    # than its TensorBoard copy (mmengine's validation epochs, W&B's config)
    readers = (_from_tensorboard, _from_foreign) if ours else (_from_foreign, _from_tensorboard)
    for reader in readers:
        if steps:
            break
        steps, epochs = reader(record)
    if not (steps or epochs or ours or record.problems):
        raise InputFileError(run_dir, f"does not look like a training run (none of {', '.join(KNOWN_FILES)}, nor "
                                      "TensorBoard events, an OpenMMLab or W&B log, a Hugging Face trainer state, a "
                                      "printed log or a Lightning CSV log)")
    record.steps, record.epochs = steps, epochs
    record.problems = problems + record.problems
    return record


def _refuse_a_folder_of_runs(folder: Path) -> None:
    """``occkit doctor runs/``: a folder of occkit runs is not a run; say which ones it holds, newest first."""
    runs = [p.parent for p in folder.glob("*/config.json") if (p.parent / "metrics.csv").is_file()
            or (p.parent / "status.json").is_file()]
    if runs:
        runs.sort(key=lambda p: (p.stat().st_mtime, p.name), reverse=True)
        shown = ", ".join(p.name for p in runs[:3]) + (f" and {len(runs) - 3} more" if len(runs) > 3 else "")
        raise InputFileError(folder, f"holds {len(runs)} occkit run(s), not one ({shown}); pass one of them, e.g. "
                                     f"occkit doctor {runs[0]}")


def _read_log_file(path: Path) -> RunRecord:
    record = RunRecord(run_dir=path.parent, written_by_occkit=False, log_file=path)
    if path.name.startswith("events.out.tfevents."):  # one TensorBoard file: its run's hparams.yaml sits beside it
        record.steps, record.epochs = _from_tensorboard(record, [path])
        if not (record.steps or record.epochs or record.problems):
            raise InputFileError(path, "holds no scalars the doctor can read (no loss, lr or grad norm)")
        return record
    foreign = read_foreign_run(path)
    if foreign is None:
        raise InputFileError(path, "not a log the doctor reads: pass a run directory, or one log file (*.log, *.txt, "
                                   "*.out, mmengine's scalars.json, mmcv's *.log.json, run-<id>.wandb, metrics.csv, "
                                   "trainer_state.json, events.out.tfevents.*)")
    record.steps, record.epochs = _apply_foreign(record, foreign)
    if not (record.steps or record.epochs or record.problems):
        raise InputFileError(path, "holds no metrics the doctor can read (no step with a loss, lr or grad norm)")
    return record


def _from_tensorboard(record: RunRecord, files: list[Path] | None = None) -> tuple[dict[str, list], dict[str, list]]:
    tb_files, tb_runs = (files, 1) if files is not None else event_files(record.run_dir)
    if not tb_files:
        return {}, {}
    series, problems = read_scalars(tb_files)
    record.problems += problems
    if not series:
        return {}, {}
    record.metrics_kind = "TensorBoard events"
    if not record.written_by_occkit:  # Lightning writes the run's hyperparameters beside its events
        record.config, record.settings = occkit_settings(read_hparams(tb_files[-1].parent / "hparams.yaml"))
    record.metrics_from = ", ".join(str(p.relative_to(record.run_dir)) for p in tb_files)
    if tb_runs > 1:
        record.metrics_from += (f"; the newest of {tb_runs} folders of event files, each a run of its own: pass "
                                "one of them to read another")
    return _split_series(series)


def _from_foreign(record: RunRecord) -> tuple[dict[str, list], dict[str, list]]:
    foreign = read_foreign_run(record.run_dir)
    return ({}, {}) if foreign is None else _apply_foreign(record, foreign)


def _apply_foreign(record: RunRecord, foreign: ForeignRun) -> tuple[dict[str, list], dict[str, list]]:
    record.problems += foreign.problems
    if not foreign.series:
        return {}, {}
    record.metrics_kind, record.metrics_from = foreign.kind, foreign.source
    record.config = record.config or foreign.config
    record.settings = foreign.settings
    return _split_series(foreign.series)


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
