"""The default main job: train on the built-in synthetic UAV town on a laptop CPU in a few minutes.

    occkit train --config configs/synthetic_uav.py

A coarse grid (0.8 m in plan, 1.6 m in height, 100 x 100 x 32) over the UAV range and a small U-Net keep
one epoch to seconds on 2 cores while the town's buildings and trees are still resolved.
"""

from occkit.config import ExperimentConfig
from occkit.geometry.grid import GridSpec
from occkit.sources.config import SyntheticSourceConfig

GRID = GridSpec(pc_range=(-40.0, -40.0, -4.0, 40.0, 40.0, 47.2), voxel_size=(0.8, 0.8, 1.6))

config = ExperimentConfig(
    name="synthetic_uav",
    seed=0,
    data={
        "source": SyntheticSourceConfig(preset="uav_town", seed=0, train_frames=48, val_frames=8),
        "grid": GRID,
        "input": {"points": "lidar", "features": ["soft"]},
        "target": {"kind": "hard"},
        "batch_size": 4,
        "num_workers": 0,
    },
    model={"unet_channels": [16, 32, 64], "residual": True, "prior_occupancy": 0.03},
    loss={"kind": "focal_dice", "focal_alpha": 0.99, "focal_gamma": 2.0, "dice_weight": 1.0, "mean_weight": 10.0},
    optim={"lr": 5e-3, "weight_decay": 0.01, "warmup_steps": 10, "schedule": "cosine", "grad_clip": 10.0},
    trainer={"max_epochs": 6, "accelerator": "cpu", "devices": 1, "log_every_n_steps": 5,
             "checkpoint_every_n_epochs": 2,
             # frames are generated once into runs/cache/<name>-<settings hash> and read back every epoch
             "preprocess_cache": True, "preprocess_workers": 2},
    health={"every_n_steps": 20},
)
