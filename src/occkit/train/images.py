"""Pictures at validation: the first validation sample's BEV, GT-vs-prediction overlay and per-height IoU,
logged as images to TensorBoard and W&B and written as PNGs under ``<run_dir>/images/``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import Callback, LightningModule, Trainer

from occkit.geometry.grid import GridSpec
from occkit.geometry.layout import channels_to_grid


class ValidationImages(Callback):
    """Every ``every_n_epochs`` validation passes, starting with the first, draw the first sample of the first batch
    (rank 0 only). It counts validation passes, not epochs: with ``check_val_every_n_epoch=2`` validation runs on
    odd epoch indices only, where an epoch count divisible by 10 never comes."""

    def __init__(self, spec: GridSpec, run_dir: Path | None, every_n_epochs: int = 1, threshold: float = 0.5) -> None:
        self.spec = spec
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.every_n_epochs = every_n_epochs
        self.threshold = threshold
        self.passes = 0  # validation passes finished, sanity checks excluded

    def on_validation_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not trainer.sanity_checking:
            self.passes += 1

    def on_validation_batch_end(self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any,
                                batch_idx: int, dataloader_idx: int = 0) -> None:
        if batch_idx != 0 or trainer.sanity_checking or not trainer.is_global_zero:
            return
        if self.passes % self.every_n_epochs:
            return
        from PIL import Image

        from occkit.viz.images import validation_images

        with torch.no_grad():
            first = {k: v[:1] for k, v in batch.items() if isinstance(v, torch.Tensor)}
            prob = torch.sigmoid(pl_module.predict_batch(first)[0])[0].float().cpu()
        pred = channels_to_grid(prob.numpy())
        gt = channels_to_grid(batch["target"][0].float().cpu().numpy()) >= 0.5
        mask = batch.get("mask")
        mask = channels_to_grid(mask[0].cpu().numpy()) if isinstance(mask, torch.Tensor) else None
        images = validation_images(pred, gt, self.spec, mask=mask, threshold=self.threshold)
        step = trainer.global_step
        from occkit.train.loggers import is_wandb_logger

        for logger in trainer.loggers:
            kind = type(logger).__name__
            for name, rgb in images.items():
                if kind == "TensorBoardLogger":
                    logger.experiment.add_image(f"val/{name}", rgb, step, dataformats="HWC")
                elif is_wandb_logger(logger):
                    logger.log_image(key=f"val/{name}", images=[rgb], step=step)
        if self.run_dir is not None:
            out = self.run_dir / "images"
            out.mkdir(parents=True, exist_ok=True)
            for name, rgb in images.items():
                Image.fromarray(rgb).save(out / f"epoch{trainer.current_epoch:03d}_{name}.png")
