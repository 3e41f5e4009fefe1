"""UAVScenes (interval 5): LiDAR scans in, accumulated LiDAR occupancy on the 200 x 200 x 121 UAV grid out.

    occkit train --config configs/uavscenes.py --set data.source.root=/data/UAVScenes
"""

from occkit.config import ExperimentConfig
from occkit.geometry.grid import GridSpec
from occkit.sources.config import UAVScenesSourceConfig

config = ExperimentConfig(
    name="uavscenes",
    data={
        "source": UAVScenesSourceConfig(root="data/uavscenes", interval=5, accumulate=5),
        "grid": GridSpec.preset("uav"),
        "input": {"points": "lidar", "features": ["soft"]},
        "target": {"kind": "hard"},
        "batch_size": 2,
        "num_workers": 4,
    },
    model={"unet_channels": [64, 128, 256, 512]},
    loss={"kind": "focal_dice", "focal_alpha": 0.99, "focal_gamma": 2.0, "dice_weight": 1.0, "mean_weight": 10.0},
    optim={"lr": 1e-3, "warmup_steps": 500, "schedule": "cosine", "grad_clip": 10.0},
    trainer={"max_epochs": 50, "precision": "bf16-mixed", "log_every_n_steps": 20, "checkpoint_every_n_epochs": 5},
)
