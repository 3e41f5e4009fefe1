"""Shared pieces for the training tests: a tiny learnable occupancy task and readers for what a run wrote.

The task: the input is the target occupancy with a third of its voxels missing and noisy soft values on the rest
(zero where no point fell, as the soft feature is), so the network has holes to fill and validation IoU rises.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from occkit.config import ExperimentConfig
from occkit.geometry.grid import GridSpec

TINY_GRID = GridSpec(pc_range=(0.0, 0.0, 0.0, 16.0, 16.0, 4.0), voxel_size=(1.0, 1.0, 1.0))  # 16 x 16 x 4


class TinyOccupancy(Dataset):
    """Blocky random scenes on TINY_GRID in model layout (Z, Y, X); input = target with holes and soft noise."""

    def __init__(self, n: int, seed: int = 0, grid: GridSpec = TINY_GRID) -> None:
        x, y, z = grid.shape
        g = torch.Generator().manual_seed(seed)
        coarse = (torch.rand(n, z, y // 4, x // 4, generator=g) < 0.15).float()
        self.target = coarse.repeat_interleave(4, dim=2).repeat_interleave(4, dim=3)
        self.noise = 0.2 * torch.rand(self.target.shape, generator=g)
        self.seen = (torch.rand(self.target.shape, generator=g) > 0.35).float()

    def __len__(self) -> int:
        return len(self.target)

    def __getitem__(self, i: int) -> dict[str, Any]:
        t = self.target[i]
        return {"input": (t * self.seen[i] * (0.8 + self.noise[i])).float(), "target": t, "frame_id": f"tiny{i:03d}"}


def collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"input": torch.stack([i["input"] for i in items]), "target": torch.stack([i["target"] for i in items]),
            "frame_id": [i["frame_id"] for i in items]}


def tiny_loaders(n_train: int = 8, n_val: int = 4, batch_size: int = 2) -> tuple[DataLoader, DataLoader]:
    return (DataLoader(TinyOccupancy(n_train, seed=0), batch_size=batch_size, shuffle=False, collate_fn=collate),
            DataLoader(TinyOccupancy(n_val, seed=1), batch_size=batch_size, shuffle=False, collate_fn=collate))


def tiny_config(runs_root: Path, **sections: dict[str, Any]) -> ExperimentConfig:
    """A config for TINY_GRID: 1 feature, small U-Net, CPU, quiet, logging every step."""
    base: dict[str, Any] = {
        "name": "tiny",
        "seed": 0,
        "data": {"grid": TINY_GRID.model_dump(), "batch_size": 2, "input": {"features": ["soft"]}},
        "model": {"unet_channels": [8, 16], "prior_occupancy": 0.1},
        "optim": {"lr": 2e-2, "warmup_steps": 2, "grad_clip": 10.0},
        "trainer": {"max_epochs": 2, "accelerator": "cpu", "devices": 1, "runs_root": str(runs_root),
                    "log_every_n_steps": 1, "progress_bar": False, "model_summary": False,
                    "num_sanity_val_steps": 0},
        "health": {"every_n_steps": 2},
    }
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return ExperimentConfig.model_validate(base)


def read_metrics_csv(run_dir: Path) -> list[dict[str, str]]:
    with (Path(run_dir) / "metrics.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


def column(rows: list[dict[str, str]], key: str) -> list[tuple[int, float]]:
    return [(int(float(r["step"])), float(r[key])) for r in rows if r.get(key) not in (None, "")]


def read_tensorboard(log_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """All scalars in the TensorBoard event files under ``log_dir``, read with tensorboard's own reader."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out: dict[str, list[tuple[int, float]]] = {}
    for events in sorted(Path(log_dir).glob("events.out.tfevents.*")):
        acc = EventAccumulator(str(events), size_guidance={"scalars": 0})
        acc.Reload()
        for tag in acc.Tags()["scalars"]:
            out.setdefault(tag, []).extend((e.step, e.value) for e in acc.Scalars(tag))
    return out
