"""The seed user's fine-tuning run: a folder of UAV scans (Tokyo) on the 200 x 200 x 121 UAV grid.

Batch 3, lr 1e-4 with warmup + cosine, focal (alpha 0.99, gamma 2) + dice 1.0 + mean-occupancy 10.0.

    occkit train --config configs/finetune_tokyo.py --resume auto
"""

from occkit.config import ExperimentConfig
from occkit.geometry.grid import GridSpec
from occkit.sources.config import FolderSourceConfig

config = ExperimentConfig(
    name="finetune_tokyo",
    data={
        "source": FolderSourceConfig(),
        "grid": GridSpec.preset("uav"),
        "input": {"points": "lidar", "features": ["soft"]},
        "target": {"kind": "hard"},
        "batch_size": 3,
        "num_workers": 4,
    },
    model={"unet_channels": [64, 128, 256, 512]},
    loss={"kind": "focal_dice", "focal_alpha": 0.99, "focal_gamma": 2.0, "dice_weight": 1.0, "mean_weight": 10.0},
    optim={"lr": 1e-4, "schedule": "cosine", "warmup_steps": 200, "grad_clip": 10.0},
    trainer={"max_epochs": 30, "precision": "bf16-mixed", "log_every_n_steps": 10, "checkpoint_every_n_epochs": 5},
)
