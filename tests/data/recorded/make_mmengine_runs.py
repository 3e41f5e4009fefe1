"""Write the mmengine work dirs under tests/data/recorded/ with the real mmengine runner (not run by the tests).

    pip install mmengine-lite opencv-python-headless   # mmengine 0.10.7 wrote the shipped ones
    python tests/data/recorded/make_mmengine_runs.py

A small occupancy network (a 3 x 3 convolution over 8 height levels, 1 % of the voxels occupied, weighted BCE)
trained by mmengine's Runner from a config, as mmdetection3d trains: its LoggerHook writes vis_data/scalars.json,
the config dump <time>.py and TensorBoard events, which the doctor reads back.

- mmengine_starved/: AdamW at lr 1e-5 with clip_grad max_norm 0.1: the loss barely moves in 600 iterations.
- mmengine_healthy/: AdamW at lr 3e-3 with clip_grad max_norm 10 for 600 iterations, then a rerun of 300 in the
  same work dir (a rerun starts a new <time>/ folder beside the first).
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import torch
from mmengine.config import Config
from mmengine.evaluator import BaseMetric
from mmengine.model import BaseModel
from mmengine.registry import DATASETS, METRICS, MODELS
from mmengine.runner import Runner
from torch import nn
from torch.utils.data import Dataset

HERE = Path(__file__).parent


@MODELS.register_module()
class TinyOccupancy(BaseModel):
    def __init__(self, levels: int = 8, pos_weight: float = 10.0) -> None:
        super().__init__()
        self.net = nn.Conv2d(levels, levels, 3, padding=1)
        self.pos_weight = pos_weight

    def forward(self, inputs, target, mode="tensor"):
        logits = self.net(inputs)
        if mode == "loss":
            weight = torch.tensor(self.pos_weight)
            return {"loss_occ": nn.functional.binary_cross_entropy_with_logits(logits, target, pos_weight=weight)}
        return [((logits > 0).float(), target)]


@DATASETS.register_module()
class TinyGrids(Dataset):
    def __init__(self, n: int = 40, seed: int = 0) -> None:
        self.n, self.seed = n, seed

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict:
        g = torch.Generator().manual_seed(self.seed * 1000 + i)
        target = (torch.rand(8, 24, 24, generator=g) < 0.01).float()
        noise = torch.rand(8, 24, 24, generator=g) < 0.002
        return {"inputs": torch.clamp(target + noise.float(), 0, 1) * 0.9, "target": target}


@METRICS.register_module()
class OccupancyIoU(BaseMetric):
    default_prefix = "occ"

    def process(self, data_batch, data_samples) -> None:
        for pred, target in data_samples:
            self.results.append(((pred * target).sum().item(), ((pred + target) > 0).sum().item()))

    def compute_metrics(self, results) -> dict:
        return {"IoU": sum(r[0] for r in results) / max(1.0, sum(r[1] for r in results))}


def config(work_dir: Path, lr: float, max_norm: float, epochs: int) -> Config:
    loader = dict(batch_size=4, num_workers=0, sampler=dict(type="DefaultSampler", shuffle=True),
                  collate_fn=dict(type="default_collate"))
    return Config(dict(
        work_dir=str(work_dir),
        model=dict(type="TinyOccupancy", levels=8, pos_weight=10.0),
        train_dataloader=dict(dataset=dict(type="TinyGrids", n=40, seed=0), **loader),
        val_dataloader=dict(dataset=dict(type="TinyGrids", n=8, seed=1), **loader),
        val_evaluator=dict(type="OccupancyIoU"),
        optim_wrapper=dict(type="OptimWrapper", optimizer=dict(type="AdamW", lr=lr, weight_decay=0.01),
                           clip_grad=dict(max_norm=max_norm, norm_type=2)),
        train_cfg=dict(by_epoch=True, max_epochs=epochs, val_interval=10),
        val_cfg=dict(),
        default_hooks=dict(logger=dict(type="LoggerHook", interval=10),
                           checkpoint=dict(type="CheckpointHook", interval=1000)),
        visualizer=dict(type="Visualizer", vis_backends=[dict(type="LocalVisBackend"),
                                                         dict(type="TensorboardVisBackend")]),
        randomness=dict(seed=0),
        launcher="none",
    ))


def train(work_dir: Path, lr: float, max_norm: float, epochs: int) -> None:
    Runner.from_cfg(config(work_dir, lr, max_norm, epochs)).train()
    for leftover in [*work_dir.glob("*.pth"), work_dir / "last_checkpoint"]:
        leftover.unlink(missing_ok=True)


def main() -> int:
    for name in ("mmengine_starved", "mmengine_healthy"):
        shutil.rmtree(HERE / name, ignore_errors=True)
    train(HERE / "mmengine_starved", lr=1e-5, max_norm=0.1, epochs=60)
    train(HERE / "mmengine_healthy", lr=3e-3, max_norm=10.0, epochs=60)
    time.sleep(1.1)  # mmengine names a run's folder by the second it started
    train(HERE / "mmengine_healthy", lr=3e-3, max_norm=10.0, epochs=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
