"""Shared pieces for the evaluation/prediction tests: a folder dataset of crafted scans and a tiny checkpoint
trained on it with the real ``occkit.train.runner`` (no tests in this file)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from occkit.config import ExperimentConfig
from occkit.geometry.grid import GridSpec
from occkit.io.points import write_points

TINY_GRID = GridSpec(pc_range=(0.0, 0.0, 0.0, 16.0, 16.0, 4.0), voxel_size=(1.0, 1.0, 1.0))  # 16 x 16 x 4
SEQUENCES = {"train": 6, "sceneA": 2, "sceneB": 2}


def crafted_scan(rng: np.random.Generator, n_ground: int = 1500) -> np.ndarray:
    """Ground at z ~ 0.3 over the whole grid plus two boxes (walls 1-3 m high): points in the grid frame."""
    ground = np.column_stack([rng.uniform(0, 16, n_ground), rng.uniform(0, 16, n_ground),
                              rng.normal(0.3, 0.05, n_ground).clip(0.05, 0.95)])
    parts = [ground]
    for _ in range(2):
        x0, y0 = rng.integers(1, 11, 2)
        w, h = rng.integers(2, 5), rng.uniform(1.2, 3.8)
        n = 400
        side = rng.integers(0, 4, n)
        t = rng.uniform(0, w, n)
        px = np.where(side < 2, x0 + t, x0 + (side == 3) * w)
        py = np.where(side < 2, y0 + (side == 1) * w, y0 + t)
        parts.append(np.column_stack([px.clip(0, 15.99), py.clip(0, 15.99), rng.uniform(0, h, n)]))
    return np.concatenate(parts).astype(np.float32)


def write_folder_dataset(root: Path, seed: int = 0) -> Path:
    """ROOT/<sequence>/scans/<name>.npy for train, sceneA, sceneB (identity poses: no pose file)."""
    rng = np.random.default_rng(seed)
    for seq, n in SEQUENCES.items():
        for i in range(n):
            write_points(root / seq / "scans" / f"{seq}_{i:03d}.npy", crafted_scan(rng))
    return root


def tiny_config(data_root: Path, runs_root: Path, **sections: dict[str, Any]) -> ExperimentConfig:
    """Folder source on TINY_GRID, small U-Net, CPU, quiet; val = sceneA + sceneB."""
    base: dict[str, Any] = {
        "name": "evaltiny",
        "seed": 0,
        "data": {"source": {"kind": "folder", "root": str(data_root), "train_sequences": ["train"],
                            "val_sequences": ["sceneA", "sceneB"]},
                 "grid": TINY_GRID.model_dump(), "batch_size": 2, "input": {"features": ["soft"]},
                 "augment": {"flip": False, "rotate90": False}},
        "model": {"unet_channels": [8, 16], "prior_occupancy": 0.1},
        "optim": {"lr": 2e-2, "warmup_steps": 2, "grad_clip": 10.0},
        "trainer": {"max_epochs": 2, "accelerator": "cpu", "devices": 1, "runs_root": str(runs_root),
                    "log_every_n_steps": 1, "progress_bar": False, "model_summary": False,
                    "num_sanity_val_steps": 0},
        "health": {"enabled": False},
        "eval": {"ray_iou": False},
    }
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return ExperimentConfig.model_validate(base)


_TRAINED: dict[str, tuple[ExperimentConfig, Path]] = {}


def train_tiny(tmp: Path) -> tuple[ExperimentConfig, Path]:
    """Write the dataset, train 6 steps with occkit.train.runner; returns (config, last checkpoint).

    Trained once per pytest process (the evaluate and predict test files share it)."""
    import warnings

    from occkit.train.runner import fit

    if "tiny" in _TRAINED and _TRAINED["tiny"][1].is_file():
        return _TRAINED["tiny"]
    root = write_folder_dataset(tmp / "data")
    cfg = tiny_config(root, tmp / "runs")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fit(cfg, verbose=False)
    assert result.state == "finished", result.message
    _TRAINED["tiny"] = cfg, Path(result.last_checkpoint)
    return _TRAINED["tiny"]
