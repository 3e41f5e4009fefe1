"""Callbacks around checkpoints: named checkpoint files, W&B artifacts, status.json progress."""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint

from occkit.train.status import write_status

SavedHook = Callable[[Trainer, Path, str], None]


class NotifyingCheckpoint(ModelCheckpoint):
    """A ModelCheckpoint that tells listeners (W&B artifacts) about each file right after it is written.

    ``role`` is "best", "periodic" or "last". Lightning runs checkpoint callbacks last, so a plain
    callback hook would fire before the file exists; hooking the save itself avoids that.
    """

    def __init__(self, *args: Any, role: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.role = role
        self.listeners: list[SavedHook] = []

    @property
    def state_key(self) -> str:
        return f"{super().state_key}[role={self.role}]"

    def _save_checkpoint(self, trainer: Trainer, filepath: str) -> None:
        super()._save_checkpoint(trainer, filepath)  # collective; the file is complete on return
        if trainer.is_global_zero:
            for listener in self.listeners:
                listener(trainer, Path(filepath), self.role)


def build_checkpoint_callbacks(ckpt_dir: Path, every_n_epochs: int, every_n_steps: int | None,
                               monitor: str | None = "val/iou") -> list[NotifyingCheckpoint]:
    """last.ckpt (every epoch, and every N steps when asked), best.ckpt by val/iou, epoch=NNN.ckpt every N."""
    # last.ckpt as a top-1 "no monitor" checkpoint rather than save_last: Lightning's save_last also saves
    # in on_train_end, after the epoch counter moved on, and resuming from that file skips an epoch.
    cadence = {"every_n_train_steps": every_n_steps} if every_n_steps else {"every_n_epochs": 1}
    last = NotifyingCheckpoint(dirpath=ckpt_dir, filename="last", save_top_k=1, monitor=None,
                               save_on_train_epoch_end=True, role="last", enable_version_counter=False, **cadence)
    periodic = NotifyingCheckpoint(dirpath=ckpt_dir, filename="epoch={epoch:03d}", auto_insert_metric_name=False,
                                   every_n_epochs=every_n_epochs, save_top_k=-1, monitor=None,
                                   save_on_train_epoch_end=True, role="periodic", enable_version_counter=False)
    callbacks = [periodic]
    if monitor:
        callbacks.append(NotifyingCheckpoint(dirpath=ckpt_dir, filename="best", monitor=monitor, mode="max",
                                             save_top_k=1, role="best", enable_version_counter=False))
    # last.ckpt is written after the others: a kill between two writes then resumes from the previous epoch
    # and writes epoch=N.ckpt again, instead of resuming past an epoch whose checkpoint never landed.
    return [*callbacks, last]


class SaveLastOnTrainEnd(Callback):
    """Write last.ckpt when training ends mid-epoch (max_steps), so a resume loses no steps.

    Skipped when ``last`` already saved this global step: a second save after the epoch loop finished
    would record the epoch as completed twice and a resume would skip an epoch.
    """

    def __init__(self, last: ModelCheckpoint, ckpt_dir: Path) -> None:
        self.last = last
        self.path = Path(ckpt_dir) / "last.ckpt"

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.global_step == 0 or self.last._last_global_step_saved == trainer.global_step:
            return
        trainer.save_checkpoint(self.path)
        self.last._last_global_step_saved = trainer.global_step


class StopRequested(Exception):
    """Raised at a batch boundary after SIGTERM / Ctrl-C, once last.ckpt holds the finished batch."""


class InterruptRecorder(Callback):
    """Turns SIGTERM and the first Ctrl-C into a clean stop: finish the batch, save last.ckpt, then stop.

    The handlers only set a flag; the stop happens in ``on_train_batch_end``, the point where Lightning's own
    every-N-steps checkpoints are taken, so the saved loop counters resume exactly (no step logged twice or
    skipped). A second Ctrl-C interrupts at once. Under DDP, Lightning's own SIGTERM handling stays in charge
    (a save there is collective), and the stop is only recorded.
    """

    def __init__(self, last_path: Path) -> None:
        self.last_path = Path(last_path)
        self.started = False
        self.signal_name: str | None = None
        self.exit_code = 1
        self.saved_checkpoint: Path | None = None

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.started = True
        if trainer.world_size > 1:
            return
        try:
            signal.signal(signal.SIGTERM, self._on_signal)
            signal.signal(signal.SIGINT, self._on_signal)
        except ValueError:  # not the main thread: leave the handlers as they are
            pass

    def _on_signal(self, signum: int, frame: Any) -> None:
        if self.signal_name is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now
        self.signal_name = signal.Signals(signum).name
        self.exit_code = 128 + int(signum)

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        if self.signal_name is None:
            return
        trainer.save_checkpoint(self.last_path)
        self.saved_checkpoint = self.last_path
        raise StopRequested(self.signal_name)

    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception: BaseException) -> None:
        from lightning.pytorch.utilities.exceptions import SIGTERMException

        if self.signal_name is not None:
            return
        if isinstance(exception, SIGTERMException) or trainer.received_sigterm:
            self.signal_name, self.exit_code = "SIGTERM", 143
        elif isinstance(exception, KeyboardInterrupt):
            self.signal_name, self.exit_code = "SIGINT", 130


class StatusUpdater(Callback):
    """Keeps status.json's global_step and heartbeat current (state "running"): every epoch, and at most every
    ``every_s`` seconds between, so a killed run shows how far it got and when it stopped."""

    def __init__(self, run_dir: Path, every_s: float = 30.0) -> None:
        self.run_dir = Path(run_dir)
        self.every_s = every_s
        self._last = time.monotonic()

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        if trainer.is_global_zero and time.monotonic() - self._last >= self.every_s:
            self._last = time.monotonic()
            write_status(self.run_dir, "running", trainer.global_step, f"epoch {trainer.current_epoch} running")

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.is_global_zero:
            write_status(self.run_dir, "running", trainer.global_step, f"epoch {trainer.current_epoch} done")


class WandbArtifacts:
    """Logs checkpoints as W&B artifacts: ``model-checkpoint-epochN`` (periodic) and ``model-best``."""

    def __init__(self, logger: Any, metadata: dict[str, Any] | None = None) -> None:
        self.logger = logger  # a WandbLogger; its run is created lazily, so look it up at save time
        self.metadata = metadata or {}
        self.logged: list[str] = []

    def __call__(self, trainer: Trainer, path: Path, role: str) -> None:
        import wandb

        if role == "periodic":
            match = re.search(r"epoch=(\d+)", path.name)
            epoch = int(match.group(1)) if match else trainer.current_epoch
            name, aliases, policy = f"model-checkpoint-epoch{epoch}", [f"epoch{epoch}"], "immutable"
        elif role == "best":
            name, aliases, policy = "model-best", ["best", f"step{trainer.global_step}"], "mutable"
        else:
            return
        metadata = {**self.metadata, "global_step": int(trainer.global_step), "epoch": int(trainer.current_epoch),
                    **{k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}}
        artifact = wandb.Artifact(name=name, type="model", metadata=metadata)
        artifact.add_file(str(path), name=path.name, policy=policy)  # best.ckpt is rewritten later: copy it
        self.logger.experiment.log_artifact(artifact, aliases=aliases)
        self.logged.append(name)
