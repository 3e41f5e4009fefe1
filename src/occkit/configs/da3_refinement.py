"""Pseudo-LiDAR refinement: points unprojected from Depth Anything 3 depth in, LiDAR occupancy out.

The network learns to denoise monocular-depth point clouds on the 180 x 180 x 32 BEV-height grid;
``occkit predict`` then exports the refined cloud.

    occkit train --config configs/da3_refinement.py --set data.source.root=/data/UAVScenes
"""

from occkit.config import ExperimentConfig
from occkit.geometry.grid import GridSpec
from occkit.sources.config import UAVScenesSourceConfig

config = ExperimentConfig(
    name="da3_refinement",
    data={
        "source": UAVScenesSourceConfig(root="data/uavscenes", interval=5, load_images=True),
        "grid": GridSpec.preset("bev_height"),
        "input": {"points": "pseudo", "features": ["soft", "count"]},
        "target": {"kind": "hard"},
        "depth": {"model": "depth-anything/DA3METRIC-LARGE", "cache_dir": "cache/da3_depth"},
        "batch_size": 4,
        "num_workers": 4,
    },
    model={"unet_channels": [64, 128, 256]},
    loss={"kind": "focal_dice", "focal_alpha": 0.95, "focal_gamma": 2.0, "dice_weight": 1.0, "mean_weight": 5.0},
    optim={"lr": 5e-4, "warmup_steps": 300, "schedule": "cosine", "grad_clip": 10.0},
    # noisy pseudo-LiDAR sits further from the LiDAR target than a LiDAR input would
    health={"min_input_target_overlap": 0.1, "min_offset_gain": 1.5},
    trainer={"max_epochs": 40, "precision": "bf16-mixed", "log_every_n_steps": 20, "checkpoint_every_n_epochs": 5},
)
