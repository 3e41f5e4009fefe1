"""Loggers of a run: CSV (metrics.csv in the run dir), TensorBoard, and optionally W&B."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import CSVLogger, Logger, TensorBoardLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.loggers.logger import rank_zero_experiment

from occkit.config import ExperimentConfig
from occkit.errors import ConfigError

WANDB_MISSING = 'W&B logging (--wandb / logging.wandb) needs the wandb package: pip install "occkit[wandb]"'


class _ResumableWriter(ExperimentWriter):
    """Keeps an existing metrics.csv (Lightning's writer deletes it) and drops rows past the resume step."""

    def __init__(self, log_dir: str, keep_until_step: int | None = None) -> None:
        self.keep_until_step = keep_until_step
        super().__init__(log_dir=log_dir)

    def _check_log_dir_exists(self) -> None:
        path = Path(self.metrics_file_path)
        if not path.is_file():
            return
        with path.open(newline="") as fh:
            reader = csv.DictReader(fh)
            keys = list(reader.fieldnames or [])
            rows = list(reader)
        if self.keep_until_step is not None:
            rows = [r for r in rows if _step(r) <= self.keep_until_step]
            with path.open("w", newline="") as fh:
                writer = csv.DictWriter(fh, fieldnames=keys)
                writer.writeheader()
                writer.writerows(rows)
        self.metrics_keys = sorted(keys)


def _step(row: dict[str, str]) -> float:
    try:
        return float(row.get("step") or 0)
    except ValueError:
        return 0.0


class RunCSVLogger(CSVLogger):
    """CSVLogger writing run_dir/metrics.csv, appending on resume instead of starting over."""

    def __init__(self, run_dir: Path, flush_every: int, keep_until_step: int | None = None) -> None:
        super().__init__(save_dir=run_dir, name="", version="", flush_logs_every_n_steps=flush_every)
        self._keep_until_step = keep_until_step

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _ResumableWriter(self.log_dir, keep_until_step=self._keep_until_step)
        return self._experiment


def is_wandb_logger(logger: Any) -> bool:
    """A (subclassed) Lightning WandbLogger, told without importing wandb where it is not installed."""
    return any(c.__name__ == "WandbLogger" for c in type(logger).__mro__)


def wandb_config(cfg: ExperimentConfig, parameter_count: int) -> dict[str, Any]:
    """The W&B run config: every config leaf under its own dotted path (``optim.lr``, ``data.grid.voxel_size``),
    so a W&B sweep parameter maps one to one onto ``occkit train KEY=VALUE`` / ``--set KEY=VALUE``; plus what
    the run measured about itself (``model.parameter_count``, ``data.grid_shape``, ``data.in_channels``)."""
    flat = flatten_config(cfg.model_dump(mode="json"))
    flat.update({"model.parameter_count": int(parameter_count), "data.grid_shape": list(cfg.data.grid.shape),
                 "data.in_channels": int(cfg.data.in_channels)})
    return flat


def flatten_config(node: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts -> {dotted.path: leaf}; lists and scalars are leaves."""
    if not isinstance(node, dict):
        return {prefix: node}
    out: dict[str, Any] = {}
    for key, value in node.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            out.update(flatten_config(value, path))
        else:
            out[path] = value
    return out


def _wandb_run_id(run_dir: Path) -> str | None:
    path = run_dir / "wandb" / "occkit_run_id"
    return path.read_text().strip() if path.is_file() else None


def build_wandb_logger(cfg: ExperimentConfig, run_dir: Path, parameter_count: int) -> Logger:
    """A WandbLogger in run_dir/wandb that resumes the same W&B run when the run dir is resumed."""
    try:
        import wandb  # noqa: F401
    except ImportError:
        raise ConfigError(WANDB_MISSING) from None
    from lightning.pytorch.loggers import WandbLogger

    class DottedWandbLogger(WandbLogger):
        """Lightning logs the module's hyperparameters as one nested ``config`` key; occkit's W&B config is
        the flat dotted one from :func:`wandb_config` instead (the same values, so nothing is lost)."""

        def log_hyperparams(self, params: Any) -> None:
            nested = params.get("config") if isinstance(params, dict) else None
            if isinstance(nested, dict):
                self.experiment.config.update(flatten_config(nested), allow_val_change=True)
                return
            super().log_hyperparams(params)

    (run_dir / "wandb").mkdir(parents=True, exist_ok=True)
    run_id = _wandb_run_id(run_dir)
    log = cfg.logging
    logger = DottedWandbLogger(
        project=log.wandb_project, entity=log.wandb_entity, name=log.wandb_run_name or run_dir.name,
        tags=list(log.wandb_tags) or None, save_dir=str(run_dir), id=run_id, resume="allow" if run_id else None,
        log_model=False, config=wandb_config(cfg, parameter_count),
    )
    return logger


def wandb_files_hint(run_dir: Path) -> str | None:
    """Where a run's W&B files are and how to upload an offline one (W&B's own banner is silenced)."""
    folder = Path(run_dir) / "wandb"
    offline = sorted(folder.glob("offline-run-*"))
    if offline:
        return f"W&B offline run: {offline[-1]} (upload it with `wandb sync {offline[-1]}`)"
    online = sorted(folder.glob("run-*"))
    return f"W&B run files: {online[-1]}" if online else None


def remember_wandb_run(logger: Logger, run_dir: Path) -> None:
    """Store the W&B run id so `--resume` continues the same W&B run."""
    from occkit.utils.atomic import atomic_write_text

    run = logger.experiment
    atomic_write_text(run_dir / "wandb" / "occkit_run_id", str(run.id))


def build_loggers(cfg: ExperimentConfig, run_dir: Path, *, use_wandb: bool, parameter_count: int,
                  resume_step: int | None) -> list[Logger]:
    loggers: list[Logger] = [RunCSVLogger(run_dir, cfg.trainer.log_every_n_steps, keep_until_step=resume_step)]
    if cfg.logging.tensorboard:
        loggers.append(TensorBoardLogger(save_dir=str(run_dir), name="tensorboard", version="",
                                         default_hp_metric=False))
    if use_wandb:
        loggers.append(build_wandb_logger(cfg, run_dir, parameter_count))
    return loggers
