"""Choose the decision threshold, and optionally the checkpoint, on a split that is never reported.

A figure is only honest when nothing it reports was tuned on the frames it is measured on: the main job chooses
its threshold (``eval.select_threshold_on``) and, with ``eval.select_checkpoint``, its checkpoint among the ones
saved on a schedule (``epoch=NNN.ckpt`` and ``last.ckpt``) by the best IoU of the threshold sweep on that split
(``test``: held-out scenes), then reports the validation scenes. ``report/threshold.json`` records the choice, so
``occkit eval RUN_DIR`` loads the same checkpoint at the same threshold.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from occkit.config import ExperimentConfig, apply_overrides
from occkit.errors import ConfigError
from occkit.utils.atomic import atomic_write_text

_console = Console(highlight=False)
PERIODIC = re.compile(r"epoch=(\d+)\.ckpt")


@dataclass(frozen=True)
class ModelChoice:
    """The checkpoint and config to report, and what the choice was made on."""

    checkpoint: Path
    cfg: ExperimentConfig
    split: str | None = None  # None: nothing was chosen (threshold as set, the given checkpoint)
    candidates: dict[str, float] = field(default_factory=dict)  # checkpoint name -> best IoU of its sweep on split

    @property
    def note(self) -> str:
        """One line for reports: the threshold, and the checkpoint when it was chosen, with where."""
        t = self.cfg.eval.threshold
        if self.split is None:
            return f"threshold {t:g} (eval.threshold)"
        note = f"threshold {t:g}, chosen on the {self.split} split (held-out scenes, not reported)"
        if len(self.candidates) > 1:
            scores = ", ".join(f"{name} {iou:.3f}" for name, iou in self.candidates.items())
            note += f"; checkpoint {self.checkpoint.name}, the best IoU there of {scores}"
        return note


def scheduled_checkpoints(last: Path) -> list[Path]:
    """The periodic ``epoch=NNN.ckpt`` files beside ``last`` in epoch order, then ``last`` itself; a periodic file
    saved at the same step as ``last`` (the final epoch) is left out, it holds the same weights."""
    from occkit.train.checkpoint import read_checkpoint

    periodic = sorted((p for p in last.parent.glob("epoch=*.ckpt") if PERIODIC.fullmatch(p.name)),
                      key=lambda p: int(PERIODIC.fullmatch(p.name).group(1)))  # type: ignore[union-attr]
    if not periodic:
        return [last]
    last_step = read_checkpoint(last).get("global_step")
    return [p for p in periodic if read_checkpoint(p).get("global_step") != last_step] + [last]


def best_of_sweep(checkpoint: Path, cfg: ExperimentConfig, split: str) -> tuple[float, float] | None:
    """(best IoU, its threshold) of the threshold sweep on ``split``; None when the sweep has no best."""
    from occkit.evaluation.split_eval import evaluate

    quiet = apply_overrides(cfg, ["eval.ray_iou=false"])  # the sweep needs no rays
    best = evaluate(str(checkpoint), quiet, split, progress=False).report["best"]
    if best.get("threshold") is None or best.get("iou") is None:
        return None
    return float(best["iou"]), float(best["threshold"])


def sweep_edge(threshold: float, sweep: list[float]) -> str | None:
    """'highest' or 'lowest' when ``threshold`` is that end of ``sweep``: the best IoU may lie beyond it, so the
    choice is cut off by the sweep rather than made by the data; None inside the sweep."""
    if len(sweep) < 2:
        return None
    if abs(threshold - max(sweep)) < 1e-6:
        return "highest"
    if abs(threshold - min(sweep)) < 1e-6:
        return "lowest"
    return None


def choose_model(checkpoint: Path, cfg: ExperimentConfig) -> ModelChoice:
    """The checkpoint and threshold to report, chosen on ``cfg.eval.select_threshold_on`` (unchanged when it is
    None or that split has no frames). With ``cfg.eval.select_checkpoint`` the candidates are the scheduled
    checkpoints beside ``checkpoint``; a tie goes to the later one."""
    split = cfg.eval.select_threshold_on
    if not split:
        return ModelChoice(checkpoint, cfg)
    paths = scheduled_checkpoints(checkpoint) if cfg.eval.select_checkpoint else [checkpoint]
    scored: dict[Path, tuple[float, float]] = {}
    for path in paths:
        try:
            best = best_of_sweep(path, cfg, split)
        except ConfigError as err:
            _console.print(f"[yellow]threshold not selected on {split!r}:[/] {err}")
            return ModelChoice(checkpoint, cfg)
        if best is not None:
            scored[path] = best
    if not scored:
        return ModelChoice(checkpoint, cfg)
    chosen = max(reversed(list(scored)), key=lambda p: scored[p][0])  # reversed: the later wins a tie
    iou, threshold = scored[chosen]
    what = f"checkpoint {chosen.name} and threshold" if len(paths) > 1 else "threshold"
    _console.print(f"{what} {threshold:g} selected on the {split} split (best IoU of the sweep {iou:.4f}; "
                   "not reported)")
    edge = sweep_edge(threshold, cfg.eval.sweep_thresholds)
    if edge is not None:
        _console.print(f"[yellow]the threshold {threshold:g} is the sweep's {edge}:[/] the best may lie beyond it; "
                       "add thresholds past it to eval.sweep_thresholds")
    cfg = apply_overrides(cfg, [f"eval.threshold={threshold}", f"eval.refine_threshold={threshold}"])
    return ModelChoice(chosen, cfg, split, {p.name: s[0] for p, s in scored.items()})


def select_threshold(checkpoint: Path, cfg: ExperimentConfig, split: str) -> ExperimentConfig:
    """``cfg`` with eval.threshold and eval.refine_threshold at the best-IoU threshold of the sweep on ``split``,
    for ``checkpoint`` alone (benchmarks that compare given checkpoints)."""
    pinned = apply_overrides(cfg, [f'eval.select_threshold_on="{split}"', "eval.select_checkpoint=false"])
    return choose_model(checkpoint, pinned).cfg


def record_choice(run_dir: Path, choice: ModelChoice) -> None:
    """report/threshold.json: `occkit eval RUN_DIR` loads this checkpoint at this threshold, so its figures match
    the main job's."""
    from occkit.train.run_lookup import THRESHOLD_FILE

    atomic_write_text(run_dir / THRESHOLD_FILE, json.dumps({
        "threshold": choice.cfg.eval.threshold, "chosen_on": choice.split, "checkpoint": choice.checkpoint.name,
        "candidates": choice.candidates}))
