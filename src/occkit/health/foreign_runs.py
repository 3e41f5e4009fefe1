"""Runs recorded by other trainers, read for the doctor: OpenMMLab work dirs, W&B runs, Hugging Face Trainer
states, Lightning CSV logs, and the log a hand-written loop printed.

Each reader gives (step, {metric: value}) rows and the run's own config; here the metrics get occkit's names
(``occkit.health.metric_names``) and the config's learning rate, clipping norm and optimizer are found under
whatever name the trainer gave them, so the doctor's checks and advice apply. The doctor's advice names occkit's
settings (``optim.lr``); ``settings`` says what each is called in the run's own config.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from occkit.health.log_files import files_under
from occkit.health.metric_names import drop_restarted_steps, records_to_series, to_occkit_names
from occkit.health.text_log import SUFFIXES as TEXT_SUFFIXES

# occkit's setting -> the last parts of the names other trainers give it, most specific first
SETTING_LEAVES = {
    "optim.lr": ("optimizer.lr", "optim.lr", "lr", "learning_rate"),
    "optim.grad_clip": ("clip_grad.max_norm", "grad_clip.max_norm", "grad_clip", "max_norm", "gradient_clip_val",
                        "max_grad_norm", "clip_grad_norm", "grad_clip_norm", "clip_norm"),
    "optim.optimizer": ("optimizer.type", "optimizer"),
}
TRAINER_STATE_SKIP = {"epoch", "step", "total_flos", "train_loss"}  # train_loss: the whole run's mean, at its end


@dataclass
class ForeignRun:
    series: dict[str, list[tuple[int, float]]]
    config: dict[str, Any]  # occkit-shaped: {"optim": {"lr": …, "grad_clip": …, "optimizer": …}}
    settings: dict[str, str]  # occkit's setting -> its name in the run's own config
    kind: str  # "OpenMMLab log", "W&B log", "Hugging Face trainer state", "Lightning CSV log", "printed log"
    source: str  # the file read, relative to the run directory
    problems: list[str] = field(default_factory=list)


def read_foreign_run(path: Path) -> ForeignRun | None:
    """The newest OpenMMLab log under ``path``, else W&B log, else Lightning CSV log, else printed log; or ``path``
    itself when it is such a file. None when there is none."""
    if path.is_file():
        kind = next((k for k in LOG_KINDS if k.matches(path)), None)
        if kind is None:
            return None
        rows, config, problems = kind.read(path)
        return _foreign(rows, config, (kind.name, path.name), problems)
    for kind in LOG_KINDS:
        logs = kind.find(path)
        if logs:
            rows, config, problems = kind.read(logs[-1])
            return _foreign(rows, config, _source(kind.name, path, logs), problems)
    return None


Rows = list[tuple[int, dict[str, float]]]


@dataclass(frozen=True)
class LogKind:
    """One trainer's log: how to find it in a folder, how to tell it by its name, how to read it."""

    name: str
    find: Callable[[Path], list[Path]]
    matches: Callable[[Path], bool]
    read: Callable[[Path], tuple[Rows, dict[str, Any], list[str]]]


def _read_mm(path: Path) -> tuple[Rows, dict[str, Any], list[str]]:
    from occkit.health.mm_logs import read_mm_log

    log = read_mm_log(path)
    return log.rows, log.config, log.problems


def _read_wandb(path: Path) -> tuple[Rows, dict[str, Any], list[str]]:
    from occkit.health.wandb_log import WandbLogError, read_wandb_run

    try:
        run = read_wandb_run(path)
    except ImportError:  # its records are wandb's own protobufs
        return [], {}, [f"{path}: reading a W&B log needs the wandb package: pip install \"occkit[wandb]\""]
    except (WandbLogError, OSError) as exc:
        return [], {}, [str(exc)]
    return drop_restarted_steps(run.rows), run.config, []


def _read_lightning_csv(path: Path) -> tuple[Rows, dict[str, Any], list[str]]:
    rows, problems = read_csv_rows(path)
    return rows, read_hparams(path.parent / "hparams.yaml"), problems


def _read_text(path: Path) -> tuple[Rows, dict[str, Any], list[str]]:
    from occkit.health.text_log import read_text_log

    rows, settings, problems = read_text_log(path)
    return drop_restarted_steps(rows), settings, problems


def _read_trainer_state(path: Path) -> tuple[Rows, dict[str, Any], list[str]]:
    """Hugging Face Trainer's ``trainer_state.json``: its ``log_history`` holds the loss, the learning rate and the
    grad norm per logging step, and ``eval_…`` per evaluation. Its ``training_args.bin`` is a pickle and is never
    opened (a data file runs no code), so the clip norm stays unknown."""
    import json

    try:
        state = json.loads(path.read_text(errors="replace"))
    except json.JSONDecodeError as exc:
        return [], {}, [f"{path}: not JSON ({exc.msg} at line {exc.lineno}); its metrics were ignored"]
    history = state.get("log_history") if isinstance(state, dict) else None
    if not isinstance(history, list):
        return [], {}, [f"{path}: has no 'log_history' list; not a Hugging Face trainer state"]
    rows: Rows = []
    for entry in history:
        if not isinstance(entry, dict) or not isinstance(entry.get("step"), int):
            continue
        values = {k: float(v) for k, v in entry.items() if k not in TRAINER_STATE_SKIP
                  and not k.endswith(("_runtime", "_per_second")) and isinstance(v, int | float)
                  and not isinstance(v, bool)}
        if values:
            rows.append((entry["step"], values))
    return drop_restarted_steps(rows), {}, []


def _find_trainer_states(run_dir: Path) -> list[Path]:
    """The ``trainer_state.json`` of the furthest checkpoint (``checkpoint-N/``; the output dir's own last): the
    checkpoints are one run at different steps, each state holding the history up to its own."""
    found = files_under(run_dir, "trainer_state.json")
    return sorted(found, key=lambda p: (_checkpoint_step(p), p.stat().st_mtime, str(p)))[-1:]


def _checkpoint_step(path: Path) -> int:
    name = path.parent.name
    return int(name.rsplit("-", 1)[1]) if name.startswith("checkpoint-") and name.rsplit("-", 1)[1].isdigit() else -1


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
    return files_under(run_dir, "metrics.csv")


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


def read_hparams(path: Path) -> dict[str, Any]:
    """Lightning's hparams.yaml, read with yaml.safe_load (no Python tags: a data file runs no code)."""
    import yaml

    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text(errors="replace"))
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}


# in the order a folder is searched: the richer log first
LOG_KINDS = (
    LogKind("OpenMMLab log", lambda d: files_under(d, "scalars.json", "*.log.json"),
            lambda p: p.name == "scalars.json" or p.name.endswith(".log.json"), _read_mm),
    LogKind("W&B log", lambda d: files_under(d, "run-*.wandb"), lambda p: p.suffix == ".wandb", _read_wandb),
    LogKind("Hugging Face trainer state", _find_trainer_states, lambda p: p.name == "trainer_state.json",
            _read_trainer_state),
    LogKind("Lightning CSV log", _lightning_csvs, lambda p: p.suffix.lower() == ".csv", _read_lightning_csv),
    LogKind("printed log", lambda d: files_under(d, *(f"*{suffix}" for suffix in TEXT_SUFFIXES), max_depth=0),
            lambda p: p.suffix.lower() in TEXT_SUFFIXES, _read_text),
)
