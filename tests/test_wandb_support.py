"""Read an offline W&B run back from its ``run-*.wandb`` transaction log, with occkit's reader of it
(``occkit.health.wandb_log``, which the doctor uses on other trainers' W&B runs), once the run has finished."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from occkit.health.wandb_log import WandbRun, read_wandb_run


@dataclass
class OfflineRun:
    metrics: dict[str, list[float]] = field(default_factory=dict)
    config: dict[str, object] = field(default_factory=dict)
    artifacts: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    name: str = ""


def _finished_run(wandb_dir: Path, timeout: float) -> WandbRun:
    """The run once its ``exit`` record is there (wandb-core writes the log in the background)."""
    deadline = time.monotonic() + timeout
    while True:
        paths = sorted(Path(wandb_dir).glob("offline-run-*/run-*.wandb"))
        assert len(paths) <= 1, f"expected one offline run in {wandb_dir}, found {paths}"
        run = read_wandb_run(paths[0]) if paths else WandbRun()
        if run.finished or time.monotonic() > deadline:
            return run
        time.sleep(0.5)


def read_offline_run(wandb_dir: Path, timeout: float = 60.0) -> OfflineRun:
    run = _finished_run(wandb_dir, timeout)
    out = OfflineRun(config=run.config, artifacts=run.artifacts, tags=run.tags, name=run.name)
    for _, values in run.rows:
        for key, value in values.items():
            out.metrics.setdefault(key, []).append(value)
    return out
