"""Runs recorded by other trainers, read for the doctor: OpenMMLab work dirs, W&B runs, Lightning CSV logs.

Each reader gives (step, {metric: value}) rows and the run's own config; here the metrics get occkit's names
(``occkit.health.metric_names``) and the config's learning rate, clipping norm and optimizer are found under
whatever name the trainer gave them, so the doctor's checks and advice apply. The doctor's advice names occkit's
settings (``optim.lr``); ``settings`` says what each is called in the run's own config.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from occkit.health.metric_names import drop_restarted_steps, records_to_series, to_occkit_names

# occkit's setting -> the last parts of the names other trainers give it, most specific first
SETTING_LEAVES = {
    "optim.lr": ("optimizer.lr", "optim.lr", "lr", "learning_rate"),
    "optim.grad_clip": ("clip_grad.max_norm", "grad_clip.max_norm", "grad_clip", "max_norm", "gradient_clip_val",
                        "max_grad_norm", "clip_grad_norm", "grad_clip_norm", "clip_norm"),
    "optim.optimizer": ("optimizer.type", "optimizer"),
}
MAX_DEPTH = 3


@dataclass
class ForeignRun:
    series: dict[str, list[tuple[int, float]]]
    config: dict[str, Any]  # occkit-shaped: {"optim": {"lr": …, "grad_clip": …, "optimizer": …}}
    settings: dict[str, str]  # occkit's setting -> its name in the run's own config
    kind: str  # "OpenMMLab log", "W&B log", "Lightning CSV log"
    source: str  # the file read, relative to the run directory
    problems: list[str] = field(default_factory=list)


def read_foreign_run(run_dir: Path) -> ForeignRun | None:
    """The newest OpenMMLab log, else W&B log, else Lightning CSV under ``run_dir``; None when there is none."""
    from occkit.health.mm_logs import find_mm_logs, read_mm_log
    from occkit.health.wandb_log import WandbLogError, read_wandb_run, wandb_logs

    logs = find_mm_logs(run_dir, MAX_DEPTH)
    if logs:
        log = read_mm_log(logs[-1])
        return _foreign(log.rows, log.config, _source("OpenMMLab log", run_dir, logs), log.problems)
    logs = wandb_logs(run_dir, MAX_DEPTH)
    if logs:
        try:
            run = read_wandb_run(logs[-1])
        except ImportError:  # its records are wandb's own protobufs
            return _foreign([], {}, _source("W&B log", run_dir, logs),
                            [f"{logs[-1]}: reading a W&B log needs the wandb package: pip install \"occkit[wandb]\""])
        except (WandbLogError, OSError) as exc:
            return _foreign([], {}, _source("W&B log", run_dir, logs), [str(exc)])
        rows = drop_restarted_steps(run.rows)
        return _foreign(rows, run.config, _source("W&B log", run_dir, logs), [])
    logs = _lightning_csvs(run_dir)
    if logs:
        rows, problems = read_csv_rows(logs[-1])
        return _foreign(rows, _hparams(logs[-1].parent / "hparams.yaml"), _source("Lightning CSV log", run_dir, logs),
                        problems)
    return None


def _source(kind: str, run_dir: Path, files: list[Path]) -> tuple[str, str]:
    text = str(files[-1].relative_to(run_dir))
    if len(files) > 1:
        text += (f"; the newest of {len(files)} such logs, each a run of its own: pass a folder holding one to read "
                 "another")
    return kind, text


def _foreign(rows: list[tuple[int, dict[str, float]]], raw_config: dict[str, Any], source: tuple[str, str],
             problems: list[str]) -> ForeignRun:
    series = to_occkit_names(records_to_series(rows))
    config, settings = occkit_settings(raw_config)
    max_norm = config.get("optim", {}).get("grad_clip")
    if "train/clipped" not in series and "train/grad_norm" in series and isinstance(max_norm, int | float):
        # the pre-clip norm (what clip_grad_norm_ returns, what mmengine and Lightning log) against the clip
        series["train/clipped"] = [(s, float(g > max_norm)) for s, g in series["train/grad_norm"] if math.isfinite(g)]
    return ForeignRun(series, config, settings, *source, problems)


def occkit_settings(raw: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The learning rate, clipping norm and optimizer of a foreign config, in occkit's shape, and where each was."""
    flat = _flatten(raw)
    config: dict[str, Any] = {}
    settings: dict[str, str] = {}
    for setting, leaves in SETTING_LEAVES.items():
        want_text = setting == "optim.optimizer"
        for leaf in leaves:
            hit = next((path for path, value in flat.items()
                        if (path == leaf or path.endswith("." + leaf))
                        and (isinstance(value, str) if want_text else _is_number(value))), None)
            if hit is not None:
                section, name = setting.split(".")
                config.setdefault(section, {})[name] = flat[hit]
                settings[setting] = hit
                break
    return config, settings


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def _flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(node, dict):
        return {prefix: node} if prefix else {}
    out: dict[str, Any] = {}
    for key, value in node.items():
        out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def _lightning_csvs(run_dir: Path) -> list[Path]:
    """Lightning CSVLogger files (``version_N/metrics.csv`` beside ``hparams.yaml``; ``run_dir`` itself may be
    the version folder), oldest first."""
    found: list[Path] = []
    for depth in range(MAX_DEPTH + 1):
        found += [p for p in run_dir.glob("/".join(["*"] * depth + ["metrics.csv"])) if p.is_file()]
    return sorted(set(found), key=lambda p: (p.stat().st_mtime, str(p)))


def read_csv_rows(path: Path) -> tuple[list[tuple[int, dict[str, float]]], list[str]]:
    """A metrics CSV with a ``step`` column (occkit's or Lightning's) as (step, {column: value}) rows, file order;
    torn rows (a writer killed mid-line, the wrong number of fields) are dropped and counted."""
    raw = path.read_bytes()
    if b"\0" in raw:
        return [], [f"{path}: holds binary data (NUL bytes), not a CSV; its metrics were ignored"]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return [], [f"{path}: not UTF-8 text (byte {exc.start}); its metrics were ignored"]
    lines = text.splitlines(keepends=True)
    torn = 0
    if lines and not lines[-1].endswith("\n"):  # the writer was killed mid-line
        lines, torn = lines[:-1], 1
    reader = csv.reader(lines)
    header = next(reader, None) or []
    rows: list[tuple[int, dict[str, float]]] = []
    for fields in reader:
        if len(fields) != len(header):
            torn += 1
            continue
        row = dict(zip(header, fields, strict=True))
        try:
            step = int(float(row.get("step") or 0))
        except ValueError:
            torn += 1
            continue
        values: dict[str, float] = {}
        for key, text_value in row.items():
            if key in ("step", "epoch") or text_value == "":
                continue
            try:
                values[key] = float(text_value)
            except ValueError:
                continue
        rows.append((step, values))
    problems = [f"{path}: dropped {torn} torn row(s) (cut mid-line or with the wrong number of fields)"] if torn else []
    return rows, problems


def _hparams(path: Path) -> dict[str, Any]:
    """Lightning's hparams.yaml, read with yaml.safe_load (no Python tags: a data file runs no code)."""
    import yaml

    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text(errors="replace"))
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}
