"""Read an OpenMMLab work dir back: mmengine's ``vis_data/scalars.json`` and mmcv 1.x's ``<time>.log.json``.

Most occupancy codebases (mmdetection3d and the repositories built on it: Occ3D's baselines, SurroundOcc,
FlashOcc, BEVFormer) train with these runners. Both write one JSON object per line:

- mmengine: training lines carry ``step`` (the global iteration), ``epoch`` and ``iter``; validation lines carry
  only their metrics and ``step``, which counts *epochs* under an epoch-based loop, so each is moved to the last
  training step of its epoch. A rerun in the same work dir starts a new ``<time>/`` folder; a file that holds two
  runs (steps falling back to 1) keeps the last.
- mmcv 1.x: ``mode`` (train / val), ``epoch`` and ``iter`` counted within the epoch; the first line holds the run's
  meta, its config text included.

The config comes from the dump beside the logs (``<time>.py`` or ``vis_data/config.py``), or from mmcv's meta line,
read with ``ast``: literals and ``dict(...)`` calls only. A data file never runs code.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from occkit.health.metric_names import drop_restarted_steps

# bookkeeping fields of a log line, not metrics
SKIP_FIELDS = {"epoch", "iter", "step", "mode", "memory", "data_time", "time", "eta", "base_lr"}


@dataclass
class MMLog:
    """One run's training rows and validation rows on the training-step axis, its config, and what went wrong."""

    rows: list[tuple[int, dict[str, float]]] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def read_mm_log(path: Path) -> MMLog:
    """One log file, with its config."""
    lines, problems = _json_lines(path)
    if path.name == "scalars.json":
        log = MMLog(rows=_mmengine_rows(lines), problems=problems)
        log.config = _mmengine_config(path)
    else:
        log = MMLog(rows=_mmcv_rows(lines), problems=problems)
        meta = next((line for line in lines if "config" in line and "mode" not in line), None)
        if meta is not None and isinstance(meta["config"], str):
            log.config = safe_config(meta["config"])
    return log


def _json_lines(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    raw = path.read_bytes()
    if b"\0" in raw:
        return [], [f"{path}: holds binary data (NUL bytes), not JSON lines; its metrics were ignored"]
    lines, torn = [], 0
    for text in raw.decode("utf-8", errors="replace").splitlines():
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError:
            torn += 1
            continue
        if isinstance(obj, dict):
            lines.append(obj)
    problems = [f"{path}: dropped {torn} line(s) that are not JSON (cut mid-line?)"] if torn else []
    return lines, problems


def _numbers(line: dict[str, Any]) -> dict[str, float]:
    """The line's metrics (NaN and inf kept: the doctor counts non-finite steps)."""
    return {k: float(v) for k, v in line.items()
            if k not in SKIP_FIELDS and isinstance(v, int | float) and not isinstance(v, bool)}


def _step_of(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _mmengine_rows(lines: list[dict[str, Any]]) -> list[tuple[int, dict[str, float]]]:
    train = [(s, line) for line in lines if "iter" in line and (s := _step_of(line.get("step"))) is not None]
    val = [(s, line) for line in lines if "iter" not in line and (s := _step_of(line.get("step"))) is not None]
    train_kept = drop_restarted_steps([(s, {**_numbers(line), "_epoch": line.get("epoch")}) for s, line in train])
    val_kept = drop_restarted_steps([(s, _numbers(line)) for s, line in val])
    epochs = [(row["_epoch"], s) for s, row in train_kept if isinstance(row.get("_epoch"), int | float)]
    rows = [(s, {k: v for k, v in row.items() if k != "_epoch"}) for s, row in train_kept]
    for step, values in val_kept:
        if epochs:  # an epoch-based loop: validation's step is the epoch; its place is that epoch's last step
            in_epoch = [s for e, s in epochs if e <= step]
            step = max(in_epoch) if in_epoch else step
        rows.append((step, values))
    return drop_restarted_steps(sorted(rows, key=lambda r: r[0]))


def epoch_offsets(epoch_iters: list[tuple[int, int]]) -> dict[int, int]:
    """{epoch: the global step its first iteration follows}, from (epoch, iter) pairs in log order. A runner that
    counts ``iter`` within the epoch (an epoch's first iteration at or below the last one's of the epoch before) adds
    the longest iteration logged in each earlier epoch (a log interval short of its length at most); one that counts
    on across epochs adds nothing."""
    longest: dict[int, int] = {}
    first: dict[int, int] = {}
    for epoch, it in epoch_iters:
        longest[epoch] = max(longest.get(epoch, 0), it)
        first.setdefault(epoch, it)
    resets = any(it <= longest.get(e - 1, -1) for e, it in first.items())
    return {e: sum(n for k, n in longest.items() if k < e) if resets else 0 for e in longest}


def _mmcv_rows(lines: list[dict[str, Any]]) -> list[tuple[int, dict[str, float]]]:
    """mmcv 1.x: ``iter`` counts within an epoch under the epoch-based runner (``epoch_offsets``); validation lines
    land on their epoch's last training step."""
    train = [(int(line["epoch"]), int(line["iter"])) for line in lines
             if line.get("mode") == "train" and _step_of(line.get("epoch")) is not None
             and _step_of(line.get("iter")) is not None]
    offset = epoch_offsets(train)
    last = {e: offset[e] + it for e, it in train}
    rows: list[tuple[int, dict[str, float]]] = []
    for line in lines:
        mode, epoch = line.get("mode"), _step_of(line.get("epoch"))
        if mode == "train" and epoch is not None and _step_of(line.get("iter")) is not None:
            rows.append((offset[epoch] + int(line["iter"]), _numbers(line)))
        elif mode == "val" and epoch is not None:
            values = {k: v for k, v in _numbers(line).items() if k != "lr"}
            rows.append((last.get(epoch, offset.get(epoch, 0)), values))
    return drop_restarted_steps(rows)


def _mmengine_config(scalars: Path) -> dict[str, Any]:
    """The config dump beside a ``vis_data/scalars.json``: ``vis_data/config.py`` or the work dir's ``<time>.py``."""
    vis = scalars.parent
    for candidate in (vis / "config.py", vis.parent.parent / f"{vis.parent.name}.py"):
        if candidate.is_file():
            config = safe_config(candidate.read_text(errors="replace"))
            if config:
                return config
    return {}


def safe_config(source: str) -> dict[str, Any]:
    """Top-level ``name = literal`` assignments of an OpenMMLab config, evaluated without running anything: only
    literals, ``dict(...)`` calls and bare names (a new-style config's ``type=AdamW``, kept as the string)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {}
    config: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                config[node.targets[0].id] = _literal(node.value)
            except ValueError:
                continue
    return config


def _literal(node: ast.AST) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        value = _literal(node.operand)
        if isinstance(value, int | float):
            return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.List | ast.Tuple | ast.Set):
        return [_literal(e) for e in node.elts]
    if isinstance(node, ast.Dict) and all(k is not None for k in node.keys):
        return {_literal(k): _literal(v) for k, v in zip(node.keys, node.values, strict=True)}
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict" and not node.args
            and all(kw.arg is not None for kw in node.keywords)):
        return {kw.arg: _literal(kw.value) for kw in node.keywords}
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):  # torch.optim.AdamW
        return ast.unparse(node)
    raise ValueError("not a literal")
