"""``fit(cfg)``: one training run on Lightning, from config to a finished run directory.

The run directory (docs/ARCHITECTURE.md) is created and written by rank 0 only; DDP children that
Lightning launches find it through ``OCCKIT_RUN_DIR``. status.json always ends in finished, crashed,
interrupted (SIGTERM / Ctrl-C, with a resumable last.ckpt) or stopped_by_guard, so ``occkit doctor`` can tell
what happened even after a crash.

A run that fails before training starts (a bad resume, a missing package) leaves the run directory as it found
it: a new directory is removed again, and a resumed one gets its config.json and status.json back.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, RichProgressBar
from lightning.pytorch.utilities.exceptions import MisconfigurationException
from rich.console import Console

from occkit.config import ExperimentConfig, resolve_cache_dir, save_config, validate_config
from occkit.errors import ConfigError, InputFileError, TrainingInterrupted
from occkit.health.events import TrainingHealthError
from occkit.train.callbacks import (
    InterruptRecorder,
    SaveLastOnTrainEnd,
    StatusUpdater,
    WandbArtifacts,
    build_checkpoint_callbacks,
)
from occkit.train.checkpoint import AtomicCheckpointIO, check_checkpoint_grid
from occkit.train.loggers import build_loggers, is_wandb_logger, remember_wandb_run
from occkit.train.module import OccupancyModule
from occkit.train.status import write_status

RUN_DIR_ENV = "OCCKIT_RUN_DIR"
_console = Console(highlight=False)


@dataclass
class RunResult:
    """What a finished (or stopped) run left behind."""

    run_dir: Path
    state: Literal["finished", "crashed", "interrupted", "stopped_by_guard"]
    global_step: int
    parameter_count: int
    val: dict[str, float] = field(default_factory=dict)  # last val/* and epoch/* values
    best_iou: float | None = None
    best_checkpoint: Path | None = None
    last_checkpoint: Path | None = None
    nonfinite_steps: int = 0
    message: str = ""

    @property
    def val_iou(self) -> float | None:
        return self.val.get("val/iou")


def is_rank_zero() -> bool:
    """Global rank 0 from the launcher's environment (torchrun, Lightning's DDP launcher, SLURM)."""
    for var in ("RANK", "SLURM_PROCID"):
        if var in os.environ:
            return int(os.environ[var]) == 0
    return int(os.environ.get("LOCAL_RANK", 0)) == 0 and int(os.environ.get("NODE_RANK", 0)) == 0


def _new_run_dir(cfg: ExperimentConfig) -> Path:
    root = Path(cfg.trainer.runs_root)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    candidate = root / f"{cfg.name}-{stamp}"
    n = 1
    while candidate.exists():
        candidate = root / f"{cfg.name}-{stamp}-{n}"
        n += 1
    return candidate


def _latest_run_with_checkpoint(cfg: ExperimentConfig) -> Path | None:
    root = Path(cfg.trainer.runs_root)
    if not root.is_dir():
        return None
    runs = [p for p in root.glob(f"{cfg.name}-*") if (p / "checkpoints" / "last.ckpt").is_file()]
    return max(runs, key=lambda p: (p / "checkpoints" / "last.ckpt").stat().st_mtime) if runs else None


def resolve_run(cfg: ExperimentConfig, run_dir: str | Path | None,
                resume: str | Path | None) -> tuple[Path, Path | None]:
    """Pick the run directory and the checkpoint to resume from (None: start fresh)."""
    if run_dir is None and os.environ.get(RUN_DIR_ENV) and not is_rank_zero():
        run_dir = os.environ[RUN_DIR_ENV]  # a DDP child follows rank 0's choice
    ckpt: Path | None = None
    if resume is not None and str(resume) != "auto":
        ckpt = Path(resume)
        if not ckpt.is_file():
            raise InputFileError(ckpt, "--resume: checkpoint not found (give a .ckpt path or 'auto')")
        if run_dir is None:
            run_dir = ckpt.parent.parent if ckpt.parent.name == "checkpoints" else None
    elif resume is not None:  # "auto"
        if run_dir is None:
            run_dir = _latest_run_with_checkpoint(cfg)
        if run_dir is not None and (Path(run_dir) / "checkpoints" / "last.ckpt").is_file():
            ckpt = Path(run_dir) / "checkpoints" / "last.ckpt"
    elif run_dir is not None and (Path(run_dir) / "checkpoints" / "last.ckpt").is_file():
        raise ConfigError(f"--run-dir {run_dir}: already holds a trained run (checkpoints/last.ckpt); continue it "
                          "with --resume auto, or choose a new run directory")
    return (Path(run_dir) if run_dir is not None else _new_run_dir(cfg)), ckpt


def _train_plane_level(train_loader: Any, max_samples: int = 32) -> int | None:
    """The ground_plane baseline's level from (up to ``max_samples`` of) the training targets, when the loader's
    dataset yields occkit samples; None otherwise (that baseline is then left out)."""
    from occkit.metrics.baselines import dataset_plane_level

    try:
        return dataset_plane_level(getattr(train_loader, "dataset", None), max_samples)
    except (TypeError, KeyError, IndexError):
        return None


def _build_loaders(cfg: ExperimentConfig, train_loader: Any, val_loader: Any) -> tuple[Any, Any]:
    if train_loader is not None:
        return train_loader, val_loader
    from occkit.data import build_dataloader

    if cfg.trainer.preprocess_cache:  # fit() already set data.cache_dir (resolve_cache_dir)
        from occkit.data.preprocessing import preprocess

        if is_rank_zero():
            preprocess(cfg.data, ("train", "val"), workers=cfg.trainer.preprocess_workers, progress=True)
    return (build_dataloader(cfg.data, "train", seed=cfg.seed),
            val_loader if val_loader is not None else build_dataloader(cfg.data, "val", seed=cfg.seed))


def _health_callbacks(cfg: ExperimentConfig, run_dir: Path, rank_zero: bool) -> list[Callback]:
    # ---- HEALTH MONITOR HOOK: the live monitor reads module.step_stats (docs/ARCHITECTURE.md) ----
    if not cfg.health.enabled:
        return []
    from occkit.health.monitor import HealthMonitor

    return [HealthMonitor(cfg.health, run_dir if rank_zero else None, warmup_steps=cfg.optim.warmup_steps,
                          voxel_size=tuple(cfg.data.grid.voxel_size))]


def _trains_on_gpu(accelerator: str) -> bool:
    """Whether Lightning's ``accelerator`` setting puts the steps on a CUDA GPU on this machine."""
    return accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())


def resolve_precision(precision: str, accelerator: str) -> str:
    """``auto``: bf16-mixed where bf16 is native on the device that will train (about 2x faster steps on
    such a CPU, less memory on a GPU), 32-true elsewhere (emulated bf16 would be slower); others pass through."""
    if precision != "auto":
        return precision
    if _trains_on_gpu(accelerator):
        native = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    else:
        try:
            native = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):
            native = False
    return "bf16-mixed" if native else "32-true"


def describe_precision(precision: str, accelerator: str) -> str:
    """One console line: the precision a run trains in, and why a CPU without native bf16 is slower."""
    resolved = resolve_precision(precision, accelerator)
    if precision != "auto":
        return resolved
    if resolved == "32-true" and not _trains_on_gpu(accelerator):
        return ("auto -> 32-true: this CPU computes no bf16 natively, so every step runs in fp32 (2-3x the time of "
                "a CPU with AVX-512 BF16 or AMX)")
    return f"auto -> {resolved}"


def _build_trainer(cfg: ExperimentConfig, loggers: list, callbacks: list[Callback], run_dir: Path,
                   has_val: bool) -> L.Trainer:
    t = cfg.trainer
    kwargs: dict[str, Any] = dict(
        accelerator=t.accelerator, devices=t.devices, num_nodes=t.num_nodes, strategy=t.strategy,
        precision=resolve_precision(t.precision, t.accelerator), max_epochs=t.max_epochs, max_steps=t.max_steps,
        accumulate_grad_batches=t.accumulate_grad_batches, check_val_every_n_epoch=t.check_val_every_n_epoch,
        log_every_n_steps=t.log_every_n_steps, logger=loggers, callbacks=callbacks,
        default_root_dir=str(run_dir), enable_progress_bar=t.progress_bar, plugins=[AtomicCheckpointIO()],
        num_sanity_val_steps=t.num_sanity_val_steps if has_val else 0,
        enable_model_summary=t.model_summary,
    )
    if t.limit_train_batches is not None:
        kwargs["limit_train_batches"] = t.limit_train_batches
    if t.limit_val_batches is not None:
        kwargs["limit_val_batches"] = t.limit_val_batches
    if not has_val:
        kwargs["limit_val_batches"] = 0
    try:
        return L.Trainer(**kwargs)
    except (MisconfigurationException, ValueError, RuntimeError) as err:
        raise ConfigError(f"trainer (accelerator={t.accelerator!r}, devices={t.devices!r}, strategy={t.strategy!r}, "
                          f"precision={t.precision!r}): Lightning rejected these settings: {err}") from None


def fit(cfg: ExperimentConfig | dict[str, Any], *, run_dir: str | Path | None = None,
        resume: str | Path | None = None, wandb: bool | None = None, net: torch.nn.Module | None = None,
        loss_fn: torch.nn.Module | None = None, train_loader: Any = None, val_loader: Any = None,
        callbacks: list[Callback] | None = None, verbose: bool = True) -> RunResult:
    """Train ``cfg`` and return where the run lives and how it ended.

    ``resume``: None (fresh run), "auto" (continue run_dir's last.ckpt, or the newest run of this name),
    or a checkpoint path. ``wandb`` overrides ``cfg.logging.wandb``. ``net``/``loss_fn``/loaders replace
    the ones the config would build (tests, custom models). Raises TrainingHealthError when the health
    guard stops the run (status.json then says stopped_by_guard).
    """
    cfg = resolve_cache_dir(validate_config(cfg)) if train_loader is None else validate_config(cfg)
    use_wandb = cfg.logging.wandb if wandb is None else wandb
    rank_zero = is_rank_zero()
    run_dir, ckpt_path = resolve_run(cfg, run_dir, resume)
    resume_step: int | None = None
    if ckpt_path is not None:
        resume_step = int(check_checkpoint_grid(ckpt_path, cfg).get("global_step", 0))
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    before = _RunDirSnapshot(run_dir) if rank_zero else None
    if rank_zero:
        run_dir.mkdir(parents=True, exist_ok=True)
        _remove_stale_temp_files(run_dir)
        save_config(cfg, run_dir / "config.json")
        write_status(run_dir, "running", resume_step or 0, "resumed" if ckpt_path else "started")
        if verbose:
            _console.print(f"[bold]run dir:[/] {run_dir}")
    session = _Session(run_dir=run_dir, rank_zero=rank_zero)
    previous_env = os.environ.get(RUN_DIR_ENV)
    os.environ[RUN_DIR_ENV] = str(run_dir)
    try:
        trainer, module, ckpt_callbacks = session.start(
            cfg, ckpt_path=ckpt_path, resume_step=resume_step, use_wandb=use_wandb, net=net, loss_fn=loss_fn,
            train_loader=train_loader, val_loader=val_loader, callbacks=callbacks or [], verbose=verbose)
        trainer.fit(module, train_dataloaders=session.train_loader, val_dataloaders=session.val_loader,
                    ckpt_path=str(ckpt_path) if ckpt_path else None)
        if session.recorder.signal_name:  # the signal came during the last validation: training is complete
            session.recorder.signal_name = None
        session.state, session.message = "finished", f"trained to step {trainer.global_step}"
    except TrainingHealthError as err:
        session.state, session.message = "stopped_by_guard", str(err)
        raise
    except BaseException as err:
        if session.recorder.signal_name is not None:  # SIGTERM / Ctrl-C, whichever way Lightning surfaced it
            raise session.interrupted() from None
        session.state, session.message = "crashed", f"{type(err).__name__}: {err}"
        raise
    finally:
        if previous_env is None:
            os.environ.pop(RUN_DIR_ENV, None)
        else:
            os.environ[RUN_DIR_ENV] = previous_env
        if before is not None and not session.recorder.started:
            session.close_quietly()
            before.restore()
        else:
            session.close()
    return _result(trainer, run_dir, ckpt_callbacks, session.state, session.message, session.n_params, module)


class _RunDirSnapshot:
    """What a run directory held before this fit call, so that a failed start can put it back."""

    KEPT = ("config.json", "status.json")

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.existed = run_dir.exists()
        self.files = {name: (run_dir / name).read_bytes() if (run_dir / name).is_file() else None
                      for name in self.KEPT} if self.existed else {}

    def restore(self) -> None:
        import shutil

        if not self.existed:
            shutil.rmtree(self.run_dir, ignore_errors=True)  # created by this call a moment ago
            return
        for name, data in self.files.items():
            path = self.run_dir / name
            if data is None:
                path.unlink(missing_ok=True)
            else:
                from occkit.utils.atomic import atomic_write_bytes

                atomic_write_bytes(path, data)


def _remove_stale_temp_files(run_dir: Path) -> None:
    """Drop the temp files of atomic writes that a kill interrupted (``.<name>.<random>.tmp``, occkit's own)."""
    from occkit.utils.atomic import stale_temp_files

    for folder in (run_dir, run_dir / "checkpoints"):
        for tmp in stale_temp_files(folder):
            tmp.unlink(missing_ok=True)


class _Session:
    """The pieces of one fit call, so that whatever fails, status.json and W&B are closed properly."""

    def __init__(self, run_dir: Path, rank_zero: bool) -> None:
        self.run_dir = run_dir
        self.rank_zero = rank_zero
        self.state = "crashed"
        self.message = ""
        self.n_params = 0
        self.trainer: L.Trainer | None = None
        self.module: OccupancyModule | None = None
        self.wandb_logger: Any = None
        self.train_loader: Any = None
        self.val_loader: Any = None
        self.recorder = InterruptRecorder(run_dir / "checkpoints" / "last.ckpt")

    def interrupted(self) -> TrainingInterrupted:
        """Record a SIGTERM / Ctrl-C stop and the error that makes the CLI exit with the signal's code."""
        rec = self.recorder
        step = int(self.trainer.global_step) if self.trainer is not None else 0
        saved = f"saved {rec.saved_checkpoint}; " if rec.saved_checkpoint else ""
        self.state = "interrupted"
        self.message = f"received {rec.signal_name} at step {step}; {saved}continue with --resume auto"
        return TrainingInterrupted(self.message, rec.exit_code)

    def start(self, cfg: ExperimentConfig, *, ckpt_path: Path | None, resume_step: int | None, use_wandb: bool,
              net: torch.nn.Module | None, loss_fn: torch.nn.Module | None, train_loader: Any, val_loader: Any,
              callbacks: list[Callback], verbose: bool) -> tuple[L.Trainer, OccupancyModule, list]:
        run_dir, rank_zero = self.run_dir, self.rank_zero
        self.module = module = OccupancyModule(cfg, net=net, loss_fn=loss_fn)
        self.n_params = n_params = module.parameter_count()
        if rank_zero and verbose:
            from occkit.config import config_summary

            for line in config_summary(cfg, n_params):
                _console.print(f"  {line}", markup=False, highlight=False)
            _console.print(f"  precision: {describe_precision(cfg.trainer.precision, cfg.trainer.accelerator)}",
                           markup=False, highlight=False)
            _console.print(f"  full config: {run_dir / 'config.json'}" + (
                f"   [bold]resuming from:[/] {ckpt_path} (step {resume_step})" if ckpt_path else ""))
        self.train_loader, self.val_loader = _build_loaders(cfg, train_loader, val_loader)
        has_val = self.val_loader is not None
        if has_val:
            module.plane_level = _train_plane_level(self.train_loader)
        ckpt_dir = run_dir / "checkpoints"
        ckpt_callbacks = build_checkpoint_callbacks(ckpt_dir, cfg.trainer.checkpoint_every_n_epochs,
                                                    cfg.trainer.checkpoint_every_n_steps,
                                                    monitor="val/iou" if has_val else None)
        all_callbacks: list[Callback] = [self.recorder, *ckpt_callbacks,
                                         SaveLastOnTrainEnd(_last_callback(ckpt_callbacks), ckpt_dir)]
        if rank_zero:
            all_callbacks.append(StatusUpdater(run_dir))
        if cfg.trainer.progress_bar:
            all_callbacks.append(RichProgressBar())
        all_callbacks += _health_callbacks(cfg, run_dir, rank_zero)
        from occkit.train.timing import DataWaitTimer

        all_callbacks.append(DataWaitTimer())
        if has_val and cfg.logging.images_every_n_epochs:
            from occkit.train.images import ValidationImages

            all_callbacks.append(ValidationImages(cfg.data.grid, run_dir if rank_zero else None,
                                                  cfg.logging.images_every_n_epochs, cfg.eval.threshold))
        all_callbacks += callbacks

        loggers = build_loggers(cfg, run_dir, use_wandb=use_wandb, parameter_count=n_params,
                                resume_step=resume_step)
        self.wandb_logger = next((lg for lg in loggers if is_wandb_logger(lg)), None)
        if self.wandb_logger is not None:
            artifacts = WandbArtifacts(self.wandb_logger,
                                       metadata={"run_dir": str(run_dir), "grid": cfg.data.grid.describe()})
            for cb in ckpt_callbacks:
                cb.listeners.append(artifacts)
            if rank_zero:
                remember_wandb_run(self.wandb_logger, run_dir)
        self.trainer = _build_trainer(cfg, loggers, all_callbacks, run_dir, has_val)
        return self.trainer, module, ckpt_callbacks

    def close(self) -> None:
        trainer = self.trainer
        step = int(trainer.global_step) if trainer is not None else 0
        if self.rank_zero:
            extra = _final_metrics(trainer) if trainer is not None else {}
            nonfinite = self.module.nonfinite_steps if self.module is not None else 0
            write_status(self.run_dir, self.state, step, self.message,  # type: ignore[arg-type]
                         parameter_count=self.n_params, nonfinite_steps=nonfinite, **extra)
            if self.wandb_logger is not None:
                _finish_wandb(self.wandb_logger, self.state)

    def close_quietly(self) -> None:
        """After a failed start: finish W&B, write nothing to the run directory."""
        if self.rank_zero and self.wandb_logger is not None:
            try:
                _finish_wandb(self.wandb_logger, "crashed")
            except Exception:  # noqa: BLE001 - the start error is what the user must see
                pass


def _last_callback(ckpt_callbacks: list) -> Any:
    return next(cb for cb in ckpt_callbacks if cb.role == "last")


def _final_metrics(trainer: L.Trainer) -> dict[str, float]:
    out = {}
    for key, value in trainer.callback_metrics.items():
        if key.startswith(("val/", "epoch/")):
            v = float(value)
            if math.isfinite(v):
                out[key] = v
    return out


def _finish_wandb(logger: Any, state: str) -> None:
    run = logger.experiment
    if hasattr(run, "finish"):
        run.finish(exit_code=0 if state == "finished" else 1)


def _result(trainer: L.Trainer, run_dir: Path, ckpt_callbacks: list, state: str, message: str, n_params: int,
            module: OccupancyModule) -> RunResult:
    best = next((cb for cb in ckpt_callbacks if cb.role == "best"), None)
    best_path = Path(best.best_model_path) if best is not None and best.best_model_path else None
    best_iou = float(best.best_model_score) if best is not None and best.best_model_score is not None else None
    last = run_dir / "checkpoints" / "last.ckpt"
    return RunResult(run_dir=run_dir, state=state, global_step=int(trainer.global_step),  # type: ignore[arg-type]
                     parameter_count=n_params, val=_final_metrics(trainer), best_iou=best_iou,
                     best_checkpoint=best_path, last_checkpoint=last if last.is_file() else None,
                     nonfinite_steps=module.nonfinite_steps, message=message)
