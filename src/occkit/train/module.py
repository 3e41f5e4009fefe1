"""OccupancyModule: one training step of an occupancy network, with everything a health check needs.

Besides the loss it keeps ``step_stats`` / ``step_per_height_loss`` (the health-monitor contract in
docs/ARCHITECTURE.md), measures the pre-clip gradient norm every step, skips non-finite steps instead
of poisoning the weights, and stores the resolved config (with its GridSpec) in every checkpoint.
"""

from __future__ import annotations

import math
import time
from typing import Any

import lightning as L
import torch
from torch import nn

from occkit.config import ExperimentConfig, validate_config


class OccupancyModule(L.LightningModule):
    """Wraps a logits network and an occupancy loss; logs the names fixed in docs/ARCHITECTURE.md."""

    def __init__(self, config: ExperimentConfig | dict[str, Any], net: nn.Module | None = None,
                 loss_fn: nn.Module | None = None) -> None:
        super().__init__()
        self.cfg = validate_config(config, origin="OccupancyModule config")
        # Only the config travels in hparams: load_from_checkpoint rebuilds net and loss from it.
        self.save_hyperparameters({"config": self.cfg.model_dump(mode="json")})
        z = self.cfg.data.grid.shape[2]
        if net is None and self.cfg.model.depth is not None:
            from occkit.models.depth_occupancy import build_depth_occupancy

            net = build_depth_occupancy(self.cfg.model, self.cfg.data)
        elif net is None:
            from occkit.models import build_model

            net = build_model(self.cfg.model, self.cfg.data.in_channels, z)
        if loss_fn is None:
            from occkit.losses import OccupancyLoss

            loss_fn = OccupancyLoss(self.cfg.loss, voxel_size=self.cfg.data.grid.voxel_size)
        self.net = net
        self.loss_fn = loss_fn
        from occkit.metrics import build_occupancy_metrics

        self.val_metric = build_occupancy_metrics(self.cfg.eval, self.cfg.data.grid)
        # the train split's most common target level (the ground_plane baseline); the runner sets it
        self.plane_level: int | None = None
        self.val_quality: Any = None
        self.step_stats: dict[str, float] = {}
        self.step_per_height_loss = torch.zeros(z)
        self.nonfinite_steps = 0
        self.nonfinite_grad_steps = 0
        self._epoch_t0 = time.perf_counter()

    # ---- forward / loss ----------------------------------------------------------------------
    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.net(inputs)

    @property
    def reads_images(self) -> bool:
        """The network has its own depth network and reads the batch's camera images, not its voxel input."""
        return callable(getattr(self.net, "forward_batch", None))

    @property
    def input_features(self) -> list[str]:
        """The features of the voxel grid the occupancy network reads (a depth model splats ``soft`` only)."""
        return ["soft"] if self.reads_images else list(self.cfg.data.input.features)

    def forward_batch(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits, the voxel features the occupancy network read) for a dataset batch: its ``input``, or
        for a depth model the grid it splatted from its own depth."""
        if self.reads_images:
            return self.net.forward_batch(batch)
        return self.net(batch["input"]), batch["input"]

    def predict_batch(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits, input occupancy (B, Z, Y, X) bool): what evaluation and the baselines read."""
        from occkit.data.grids import input_occupancy

        logits, grid = self.forward_batch(batch)
        return logits, input_occupancy(grid, self.input_features, self.cfg.data.grid.shape[2])

    def dem_ground(self, batch: dict[str, Any]) -> torch.Tensor | None:
        """The DEM's ground levels (B, Z, Y, X) uint8 when the input carries it (``dem_ground``): 1 on the nearest
        level per column, 2 on the next one near a level boundary (``occkit.data.elevation.dem_ground_levels``)."""
        from occkit.data.elevation import dem_ground_levels

        return dem_ground_levels(batch["input"], self.input_features, self.cfg.data.grid.shape[2])

    def surface(self, batch: dict[str, Any]) -> torch.Tensor | None:
        """The smoothed surface's levels (B, Z, Y, X) bool when the input carries it (``surface``)."""
        from occkit.data.surface import surface_levels

        return surface_levels(batch["input"], self.input_features, self.cfg.data.grid.shape[2])

    @property
    def reads_surface(self) -> bool:
        """The occupancy network's input carries the smoothed surface."""
        from occkit.data.surface import FEATURE

        return FEATURE in self.input_features

    @property
    def reads_elevation_model(self) -> bool:
        """The occupancy network's input carries the DEM (a depth model's splatted grid never does)."""
        from occkit.data.elevation import FEATURE

        return FEATURE in self.input_features

    def parameter_count(self) -> int:
        counter = getattr(self.net, "parameter_count", None)
        return int(counter()) if callable(counter) else sum(p.numel() for p in self.net.parameters())

    def _loss(self, logits: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None) -> tuple[
            torch.Tensor, dict[str, torch.Tensor], torch.Tensor | None]:
        out = self.loss_fn(logits, target, mask)
        if isinstance(out, torch.Tensor):  # a plain loss module: one term, no per-height split
            return out, {}, None
        return out.total, dict(out.terms), out.per_height

    @staticmethod
    def _unpack(batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        return batch["input"], batch["target"], batch.get("mask")

    # ---- training ----------------------------------------------------------------------------
    def _current_lr(self) -> float:
        try:
            return float(self.trainer.optimizers[0].param_groups[0]["lr"])
        except (RuntimeError, IndexError, AttributeError):
            return math.nan

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor | None:
        inputs, target, mask = self._unpack(batch)
        logits, _ = self.forward_batch(batch)
        total, terms, per_height = self._loss(logits, target, mask)
        depth_term = self._depth_loss(batch)
        if depth_term is not None:
            total = total + self.cfg.model.depth.depth_loss_weight * depth_term
            terms["depth"] = depth_term
        stats = self._prediction_stats(logits, target, mask)
        lr = self._current_lr()
        bsz = int(inputs.shape[0])
        finite = bool(torch.isfinite(total.detach()).all())
        if self.trainer.world_size > 1:  # every rank must skip together, or DDP's gradient all-reduce hangs
            finite = self.trainer.strategy.reduce_boolean_decision(finite, all=True)
        if not finite:
            # A NaN/inf loss would poison every weight through the optimizer: skip the step, count it.
            self.nonfinite_steps += 1
            self.step_stats = {"loss": math.nan, "lr": lr, **stats}
            # NaN, not the previous step's value: a skipped step must read as skipped in metrics.csv
            self.log_dict({"train/loss": math.nan, "train/nonfinite_steps": float(self.nonfinite_steps)},
                          on_step=True, on_epoch=False, batch_size=bsz)
            return None
        loss_value = float(total.detach())
        self.step_stats = {"loss": loss_value, "lr": lr, **stats}
        if per_height is not None:
            self.step_per_height_loss = per_height.detach().float().cpu()
        logs = {
            "train/loss": loss_value,
            "train/lr": lr,
            "pred/mean": stats["pred_mean"],
            "pred/min": stats["pred_min"],
            "pred/max": stats["pred_max"],
            "pred/occupancy_rate": stats["pred_occupied_frac"],
            "target/occupancy_rate": stats["target_rate"],
        }
        logs.update({f"train/loss_{name}": float(value.detach()) for name, value in terms.items()})
        self.log_dict(logs, on_step=True, on_epoch=False, batch_size=bsz)
        self.log("epoch/train_loss", total.detach(), on_step=False, on_epoch=True, sync_dist=True, batch_size=bsz)
        return total

    def _depth_loss(self, batch: dict[str, Any]) -> torch.Tensor | None:
        """model.depth.depth_loss_weight: the scale-invariant log loss of the depth the grid was made from against
        the batch's true depth, or None when off, frozen this step or without depth_gt."""
        dcfg = self.cfg.model.depth
        depth = getattr(self.net, "last_depth_graph", None)
        if (dcfg is None or not dcfg.depth_loss_weight or depth is None or not depth.requires_grad
                or "depth_gt" not in batch):
            return None
        from occkit.models.depth_cnn import silog_loss

        return silog_loss(depth, batch["depth_gt"].to(depth.dtype), lam=0.5)

    @torch.no_grad()
    def _prediction_stats(self, logits: torch.Tensor, target: torch.Tensor,
                          mask: torch.Tensor | None) -> dict[str, float]:
        prob = logits.detach().float().sigmoid()
        tgt = target.detach().float()
        if mask is not None:
            prob, tgt = prob[mask.bool()], tgt[mask.bool()]
        if prob.numel() == 0:
            return {"pred_mean": math.nan, "pred_min": math.nan, "pred_max": math.nan, "pred_occupied_frac": math.nan,
                    "target_rate": math.nan}
        return {
            "pred_mean": float(prob.mean()),
            "pred_min": float(prob.min()),
            "pred_max": float(prob.max()),
            "pred_occupied_frac": float((prob > 0.5).float().mean()),
            "target_rate": float((tgt > 0.5).float().mean()),
        }

    def configure_gradient_clipping(self, optimizer: torch.optim.Optimizer, gradient_clip_val: Any = None,
                                    gradient_clip_algorithm: Any = None) -> None:
        """Measure the pre-clip total norm every step (the health monitor needs it), then clip."""
        max_norm = float(self.cfg.optim.grad_clip) if self.cfg.optim.grad_clip else math.inf
        params = [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        if not params:
            return
        norm = float(torch.nn.utils.clip_grad_norm_(params, max_norm=max_norm))
        finite = math.isfinite(norm)
        clipped = finite and norm > max_norm
        if not finite:
            # Dropping the gradients makes the optimizer leave these weights alone this step.
            for p in params:
                p.grad = None
            self.nonfinite_grad_steps += 1
            self.nonfinite_steps += 1
            self.log("train/nonfinite_steps", float(self.nonfinite_steps), on_step=True, on_epoch=False)
        self.step_stats.update(grad_norm=norm, clipped=clipped, clip_max_norm=max_norm)
        self.log("train/grad_norm", norm, on_step=True, on_epoch=False)
        self.log("train/clipped", float(clipped), on_step=True, on_epoch=False)

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        depth_cfg = self.cfg.model.depth
        if depth_cfg is not None and self.reads_images:  # model.depth.frozen_steps
            self.net.hold_depth = self.global_step < depth_cfg.frozen_steps

    def on_train_epoch_start(self) -> None:
        self._epoch_t0 = time.perf_counter()

    def on_train_epoch_end(self) -> None:
        self.log("epoch/lr", self._current_lr(), on_step=False, on_epoch=True, sync_dist=True)
        self.log("epoch/time_seconds", time.perf_counter() - self._epoch_t0, on_step=False, on_epoch=True,
                 sync_dist=True)

    # ---- validation --------------------------------------------------------------------------
    def on_validation_epoch_start(self) -> None:
        self.val_metric.reset()
        from occkit.metrics.build import build_quality_metrics

        if self.val_quality is None or self.val_quality.plane_level != self.plane_level:
            self.val_quality = build_quality_metrics(self.cfg.eval, self.cfg.data.grid, self.plane_level,
                                                     self.reads_elevation_model, self.reads_surface)
        self.val_quality = self.val_quality.to(self.device)
        self.val_quality.reset()

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        inputs, target, mask = self._unpack(batch)
        logits, occ = self.predict_batch(batch)
        total, _, _ = self._loss(logits, target, mask)
        bsz = int(inputs.shape[0])
        if torch.isfinite(total).all():
            self.log("epoch/val_loss", total, on_step=False, on_epoch=True, sync_dist=True, batch_size=bsz)
        self.val_metric.update(logits.detach().float(), target, mask)
        if self.val_quality is not None:
            self.val_quality.update(logits.detach().float(), target, occ, mask, self.dem_ground(batch),
                                    self.surface(batch))
        depth = getattr(self.net, "last_depth", None)
        if self.reads_images and depth is not None and "depth_gt" in batch:
            from occkit.metrics.depth import depth_errors

            for name, value in depth_errors(depth, batch["depth_gt"]).items():
                self.log(f"val/depth_{name}", value, on_step=False, on_epoch=True, sync_dist=True, batch_size=bsz)

    def on_validation_epoch_end(self) -> None:
        values = self.val_metric.compute()  # torchmetrics syncs the counts across ranks
        from occkit.metrics import SCALAR_KEYS

        for name in SCALAR_KEYS:
            if name in values:
                self.log(f"val/{name}", float(values[name]), on_step=False, on_epoch=True)
        self.val_metric.reset()
        if self.val_quality is not None:
            for name, value in quality_logs(self.val_quality.compute()).items():
                self.log(name, value, on_step=False, on_epoch=True)
            self.val_quality.reset()

    # ---- optimisation ------------------------------------------------------------------------
    def configure_optimizers(self) -> dict[str, Any]:
        from occkit.train.optim import build_optimizer, build_scheduler

        total_steps = int(self.trainer.estimated_stepping_batches)
        optimizer = build_optimizer(self.net, self.cfg.optim)
        scheduler = build_scheduler(optimizer, self.cfg.optim, total_steps)
        return {"optimizer": optimizer,
                "lr_scheduler": {"scheduler": scheduler, "interval": "step", "frequency": 1}}

    # ---- checkpoints -------------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        from occkit import __version__

        checkpoint["occkit_grid"] = self.cfg.data.grid.model_dump(mode="json")
        checkpoint["occkit_version"] = __version__
        checkpoint["occkit_nonfinite_steps"] = self.nonfinite_steps
        checkpoint["occkit_plane_level"] = self.plane_level

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        from occkit.train.checkpoint import check_grid, checkpoint_grid

        saved = checkpoint_grid(checkpoint)
        if saved is not None:
            check_grid(saved, self.cfg.data.grid)
        self.nonfinite_steps = int(checkpoint.get("occkit_nonfinite_steps", 0))
        self.plane_level = checkpoint.get("occkit_plane_level")



def quality_logs(q: dict[str, Any]) -> dict[str, float]:
    """The logged names of a QualityMetrics result: the model beside the best baseline, per region."""
    model = q["predictors"]["model"]
    out = {"val/iou_gain": q["iou"]["gain"], "val/iou_gap_closed": q["iou"]["gap_closed"],
           "val/iou_best_baseline": q["iou"]["best_baseline_value"],
           "val/iou_ground": model["iou_ground"], "val/iou_above_ground": model["iou_above"],
           "val/iou_above_ground_gap_closed": q["iou_above"]["gap_closed"],
           "val/recall_unseen": model["recall_unseen"], "val/precision_added": model["precision_added"]}
    return {k: float(v) for k, v in out.items()}
