"""How much of training waits for data: ``DataWaitTimer`` logs ``perf/data_wait_fraction`` every epoch.

Lightning fetches the next batch between one ``on_train_batch_end`` and the next ``on_train_batch_start``; that
gap is time the model spends waiting for the loader (reading the cache, collating, augmenting). The share of it
in the epoch's training time says whether more workers, pinned memory or another cache format would help:
under 10 % the model is not starved.
"""

from __future__ import annotations

import time
from typing import Any

from lightning.pytorch import Callback, LightningModule, Trainer


class DataWaitTimer(Callback):
    """Accumulates data-wait and step seconds per epoch; logs their ratio and the seconds themselves."""

    def __init__(self) -> None:
        self._mark: float | None = None
        self._step_start = 0.0
        self.wait = 0.0
        self.compute = 0.0

    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.wait = self.compute = 0.0
        self._mark = time.perf_counter()

    def on_train_batch_start(self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int) -> None:
        now = time.perf_counter()
        if self._mark is not None:
            self.wait += now - self._mark
        self._step_start = now

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        now = time.perf_counter()
        self.compute += now - self._step_start
        self._mark = now

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        total = self.wait + self.compute
        if total > 0:
            pl_module.log_dict({"perf/data_wait_fraction": self.wait / total, "perf/data_wait_seconds": self.wait,
                                "perf/step_seconds": self.compute}, on_step=False, on_epoch=True)
        self._mark = None
