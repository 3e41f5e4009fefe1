"""Occ3D-nuScenes: LiDAR sweeps in, the 200 x 200 x 16 Occ3D occupancy (camera-visible voxels) out.

    occkit train --config configs/occ3d_nuscenes.py --set data.source.root=/data/occ3d-nuscenes
"""

from occkit.config import ExperimentConfig
from occkit.geometry.grid import GridSpec
from occkit.sources.config import Occ3DSourceConfig

config = ExperimentConfig(
    name="occ3d_nuscenes",
    data={
        "source": Occ3DSourceConfig(root="data/occ3d-nuscenes"),
        "grid": GridSpec.preset("occ3d_nuscenes"),
        "input": {"points": "lidar", "features": ["soft", "count"]},
        "target": {"kind": "hard", "use_visibility_mask": True, "mask_source": "camera"},
        "ego_frame": False,
        "batch_size": 4,
        "num_workers": 4,
    },
    model={"unet_channels": [64, 128, 256, 512]},
    loss={"kind": "focal_dice", "focal_alpha": 0.9, "focal_gamma": 2.0, "dice_weight": 1.0, "mean_weight": 1.0},
    optim={"lr": 1e-3, "warmup_steps": 500, "schedule": "cosine", "grad_clip": 10.0},
    trainer={"max_epochs": 24, "precision": "bf16-mixed", "log_every_n_steps": 50, "checkpoint_every_n_epochs": 4},
    eval={"use_visibility_mask": True},
)
