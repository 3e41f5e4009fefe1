"""HealthMonitor: a Lightning callback that watches every step and checks health every N steps.

It reads what OccupancyModule leaves in ``step_stats`` (see docs/ARCHITECTURE.md), keeps a window of
per-step values, and every ``every_n_steps`` builds a HealthCheck, runs the detectors, prints a
one-line status, logs ``health/*`` to every logger and appends to ``health.jsonl``. Events go to the
console, the loggers (a W&B alert where wandb is active) and ``events.jsonl``; in ``stop`` mode the
guard raises TrainingHealthError.
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.callbacks import Callback
from rich.console import Console

from occkit.health.alignment import measure_alignment
from occkit.health.config import HealthConfig
from occkit.health.detectors import DetectorSuite, HealthCheck, spread
from occkit.health.events import HealthEvent, JsonlWriter, TrainingHealthError

_console = Console(highlight=False)


def layer_grad_norms(module: torch.nn.Module, depth: int = 2) -> dict[str, float]:
    """Gradient norm per layer group (parameter names cut to ``depth`` dotted parts): gradient flow."""
    sums: dict[str, float] = {}
    for name, param in module.named_parameters():
        if param.grad is None:
            continue
        key = ".".join(name.split(".")[:depth])
        sums[key] = sums.get(key, 0.0) + float(param.grad.detach().float().pow(2).sum())
    return {k: math.sqrt(v) for k, v in sums.items()}


class _Window:
    """Per-step values since the last check."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.losses: list[float] = []
        self.target_rates: list[float] = []
        self.pred_means: list[float] = []
        self.pred_mins: list[float] = []
        self.pred_maxs: list[float] = []
        self.pred_occ: list[float] = []
        self.grad_norms: list[float] = []
        self.clipped: list[bool] = []
        self.clip_factors: list[float] = []
        self.per_height: torch.Tensor | None = None
        self.per_height_n = 0


class HealthMonitor(Callback):
    """Live training health: status line, health logs, detectors and the guard."""

    def __init__(self, cfg: HealthConfig, run_dir: str | Path | None = None, *, warmup_steps: int = 0,
                 verbose: bool = True, voxel_size: tuple[float, float, float] | None = None) -> None:
        self.cfg = cfg
        self.voxel_size = voxel_size
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.warmup_steps = warmup_steps
        self.verbose = verbose
        self.suite = DetectorSuite(cfg)
        self.window = _Window()
        self.checks: list[HealthCheck] = []
        self.events: list[HealthEvent] = []
        self.total_steps = 0
        self.total_clipped = 0
        self._last_step = -1
        self._seen_nonfinite = 0
        self._layer_norms: dict[str, float] = {}
        self._weights_before: dict[str, list[torch.Tensor]] = {}
        self._update_ratio: dict[str, float] = {}
        self._optimizer = "AdamW"
        self._pending_stop: HealthEvent | None = None
        self._health_log = JsonlWriter(self.run_dir / "health.jsonl") if self.run_dir else None
        self._event_log = JsonlWriter(self.run_dir / "events.jsonl") if self.run_dir else None

    # ---- Lightning hooks ----------------------------------------------------------------------
    def on_before_optimizer_step(self, trainer: Any, pl_module: Any, optimizer: Any) -> None:
        # Called before clipping: norms here are the real gradient flow of this step.
        if (trainer.global_step + 1) % self.cfg.every_n_steps == 0:
            self._layer_norms = layer_grad_norms(pl_module)
            self._optimizer = type(getattr(optimizer, "optimizer", optimizer)).__name__
            self._weights_before = {  # one copy of the weights per check: |dw|/|w| of the update applied next
                _group_name(g, i): [p.detach().clone() for p in g["params"]]
                for i, g in enumerate(getattr(optimizer, "param_groups", []))}

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        nonfinite = int(getattr(pl_module, "nonfinite_steps", 0))
        if nonfinite != self._seen_nonfinite:
            self._seen_nonfinite = nonfinite
            self._handle(trainer, self.suite.detectors[0].update(self._nonfinite_check(trainer, nonfinite)))
        step = int(trainer.global_step)
        if step == self._last_step:
            return  # no optimizer step happened (gradient accumulation, or a skipped step)
        self._last_step = step
        self._record(pl_module)
        if self._weights_before:
            self._update_ratio = _update_ratios(self._weights_before, trainer.optimizers[0])
            self._weights_before = {}
        if step % self.cfg.every_n_steps == 0 and self.window.losses:
            overlap, offset = None, None
            if isinstance(batch, dict) and "input" in batch and "target" in batch:
                overlap, offset = measure_alignment(batch["input"], batch["target"])
            self._check(trainer, pl_module, step, overlap, offset)

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        """A validation IoU of zero is a collapse whatever the training statistics say."""
        if trainer.sanity_checking or "val/iou" not in trainer.callback_metrics:
            return
        iou = float(trainer.callback_metrics["val/iou"])
        check = HealthCheck.blank(int(trainer.global_step), val_iou=iou, phase="val")
        if trainer.is_global_zero and self._health_log:
            self._health_log.write(check.to_dict())
        for event in self.suite.update(check):
            self._handle(trainer, event)

    @staticmethod
    def _print(trainer: Any, *args: Any, **kwargs: Any) -> None:
        """Through the progress bar's console when there is one, so a HEALTH line never glues onto the bar."""
        console = getattr(getattr(trainer, "progress_bar_callback", None), "_console", None) or _console
        console.print(*args, **kwargs)

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        """The nonfinite detector speaks at the first skipped step and at the K-th; give the final count too."""
        reported = max((int(e.evidence.get("nonfinite_steps", 0)) for e in self.events if e.kind == "nonfinite"),
                       default=0)
        if trainer.is_global_zero and self._seen_nonfinite > reported:
            self._print(trainer, f"[bold yellow]HEALTH[/] {self._seen_nonfinite} step(s) in total had a non-finite "
                        "loss or gradient and were skipped (status.json nonfinite_steps)", soft_wrap=True)

    # ---- internals ----------------------------------------------------------------------------
    def _record(self, pl_module: Any) -> None:
        stats: dict[str, Any] = getattr(pl_module, "step_stats", None) or {}
        if "loss" not in stats:
            return
        w = self.window
        w.losses.append(float(stats["loss"]))
        w.target_rates.append(float(stats.get("target_rate", math.nan)))
        w.pred_means.append(float(stats.get("pred_mean", math.nan)))
        w.pred_mins.append(float(stats.get("pred_min", math.nan)))
        w.pred_maxs.append(float(stats.get("pred_max", math.nan)))
        w.pred_occ.append(float(stats.get("pred_occupied_frac", math.nan)))
        if "grad_norm" in stats:
            w.grad_norms.append(float(stats["grad_norm"]))
            norm, max_norm = float(stats["grad_norm"]), stats.get("clip_max_norm")
            if max_norm is not None and math.isfinite(float(max_norm)) and norm > 0 and math.isfinite(norm):
                w.clip_factors.append(min(1.0, float(max_norm) / norm))
            clipped = bool(stats.get("clipped", False))
            w.clipped.append(clipped)
            self.total_clipped += int(clipped)
        self.total_steps += 1
        self._lr = float(stats.get("lr", math.nan))
        self._max_norm = stats.get("clip_max_norm")
        per_height = getattr(pl_module, "step_per_height_loss", None)
        if isinstance(per_height, torch.Tensor) and per_height.numel():
            ph = per_height.detach().float().cpu()
            w.per_height = ph if w.per_height is None else w.per_height + ph
            w.per_height_n += 1

    def _nonfinite_check(self, trainer: Any, nonfinite: int) -> HealthCheck:
        return HealthCheck.blank(int(trainer.global_step), nonfinite_steps=nonfinite)

    def _check(self, trainer: Any, pl_module: Any, step: int, overlap: float | None, offset: Any = None) -> None:
        w = self.window
        empty = [r <= self.cfg.empty_target_rate for r in w.target_rates if math.isfinite(r)]
        max_norm = self._max_norm if self._max_norm is not None and math.isfinite(float(self._max_norm)) else None
        check = HealthCheck(
            step=step,
            loss=_mean(w.losses),
            target_rate=_mean(w.target_rates),
            pred_mean=_mean(w.pred_means),
            pred_min=min(w.pred_mins) if w.pred_mins else math.nan,
            pred_max=max(w.pred_maxs) if w.pred_maxs else math.nan,
            pred_occupied_frac=_mean(w.pred_occ),
            grad_norm=statistics.median(w.grad_norms) if w.grad_norms else math.nan,
            clip_fraction=sum(w.clipped) / len(w.clipped) if w.clipped else 0.0,
            clip_fraction_total=self.total_clipped / max(self.total_steps, 1),
            max_norm=float(max_norm) if max_norm is not None else None,
            lr=self._lr,
            nonfinite_steps=self._seen_nonfinite,
            empty_target_fraction=sum(empty) / len(empty) if empty else 0.0,
            input_target_overlap=overlap,
            steps_in_window=len(w.losses),
            warmup_done=step > self.warmup_steps,
            per_height_loss=(w.per_height / w.per_height_n).tolist() if w.per_height is not None else [],
            layer_grad_norms=dict(self._layer_norms),
            optimizer=self._optimizer,
            update_ratio=dict(self._update_ratio),
            clip_factor_cv=spread(w.clip_factors),
            input_offset_voxels=[offset.dx, offset.dy, offset.dz] if offset is not None else None,
            input_offset_m=(list(offset.metres(self.voxel_size)) if offset is not None and self.voxel_size
                            else None),
            input_offset_gain=min(offset.gain, 1e9) if offset is not None else None,  # inf is not JSON
        )
        w.clear()
        self.checks.append(check)
        if trainer.is_global_zero:
            if self.verbose:
                self._print(trainer, check.status_line(), markup=False, soft_wrap=True)
            if self._health_log:
                self._health_log.write(check.to_dict())
            self._log_scalars(trainer, check)
        for event in self.suite.update(check):
            self._handle(trainer, event, at_check=True)
        if trainer.world_size > 1:
            # Every rank must stop together: rank 0 decides.
            flag = trainer.strategy.broadcast(self._pending_stop is not None, src=0)
            if flag and self._pending_stop is None:
                self._pending_stop = HealthEvent(step=step, kind="guard", severity="error",
                                                 message="stopped by rank 0's health guard", suggestion="")
        if self._pending_stop is not None:
            raise TrainingHealthError(self._pending_stop)

    def _handle(self, trainer: Any, event: HealthEvent | None, at_check: bool = False) -> None:
        if event is None:
            return
        self.events.append(event)
        if trainer.is_global_zero:
            colour = "red" if event.severity == "error" else "yellow"
            self._print(trainer, f"[bold {colour}]HEALTH {event.severity.upper()}[/] {event.one_line()}",
                        soft_wrap=True)
            if self._event_log:
                self._event_log.write(event.to_json())
            self._alert(trainer, event)
        stops = self.cfg.guard == "stop" and (event.severity == "error" or event.kind != "nonfinite")
        if stops and self._pending_stop is None:
            self._pending_stop = event
            if not at_check and trainer.world_size == 1:
                raise TrainingHealthError(event)

    def _log_scalars(self, trainer: Any, check: HealthCheck) -> None:
        metrics: dict[str, float] = {
            f"health/{k}": float(v) for k, v in check.to_dict().items()
            if isinstance(v, int | float) and not isinstance(v, bool) and v is not None and k != "step"
        }
        metrics["health/events"] = float(len(self.events))
        for layer, norm in check.layer_grad_norms.items():
            metrics[f"health/grad_norm/{layer}"] = norm
        for group, ratio in check.update_ratio.items():
            metrics[f"health/update_ratio/{group}"] = ratio
        if check.per_height_loss:
            ph = torch.tensor(check.per_height_loss)
            metrics["health/height_loss_max"] = float(ph.max())
            metrics["health/height_loss_argmax"] = float(ph.argmax())
        metrics = {k: v for k, v in metrics.items() if math.isfinite(v)}
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=check.step)

    def _alert(self, trainer: Any, event: HealthEvent) -> None:
        from occkit.train.loggers import is_wandb_logger

        for logger in trainer.loggers:
            if not is_wandb_logger(logger):
                continue
            try:
                import wandb

                level = wandb.AlertLevel.ERROR if event.severity == "error" else wandb.AlertLevel.WARN
                logger.experiment.alert(title=f"occkit health: {event.kind}", text=event.one_line(), level=level)
            except Exception as err:  # an alert must never kill training (offline runs cannot send them)
                self._print(trainer, f"[dim]W&B alert not sent: {err}[/]")


def _group_name(group: dict[str, Any], index: int) -> str:
    return str(group.get("name") or f"group{index}")


def _update_ratios(before: dict[str, list[torch.Tensor]], optimizer: Any) -> dict[str, float]:
    """|w_after - w_before| / |w_before| per parameter group, over the one step just taken."""
    out = {}
    for i, g in enumerate(getattr(optimizer, "param_groups", [])):
        old = before.get(_group_name(g, i))
        if not old or len(old) != len(g["params"]):
            continue
        delta = sum(float((p.detach() - o).float().pow(2).sum()) for p, o in zip(g["params"], old, strict=True))
        norm = sum(float(o.float().pow(2).sum()) for o in old)
        if norm > 0 and delta > 0:  # exactly 0: the step was skipped (non-finite), not starved
            out[_group_name(g, i)] = math.sqrt(delta / norm)
    return out


def _mean(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else math.nan
