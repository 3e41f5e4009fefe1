"""Pseudo-LiDAR refinement on the synthetic world: monocular-depth points in, LiDAR occupancy out.

The synthetic camera's depth goes through the Depth-Anything-like noise model (scale/shift error, distance noise,
smeared edges); the network learns where the real surfaces are. ``benchmarks/refinement.py`` then keeps only the
pseudo points in voxels predicted occupied and measures their Chamfer distance to the LiDAR.

    occkit run --config configs/synthetic_refinement.py
"""

from occkit.config import ExperimentConfig
from occkit.geometry.grid import GridSpec
from occkit.sources.config import SyntheticSourceConfig

GRID = GridSpec(pc_range=(-40.0, -40.0, -4.0, 40.0, 40.0, 47.2), voxel_size=(0.8, 0.8, 1.6))

config = ExperimentConfig(
    name="synthetic_refinement",
    seed=0,
    data={
        "source": SyntheticSourceConfig(preset="uav_town", seed=1, train_frames=48, val_frames=8),
        "grid": GRID,
        "input": {"points": "pseudo", "features": ["soft", "count"]},
        "target": {"kind": "hard"},
        "batch_size": 4,
    },
    model={"unet_channels": [16, 32, 64], "residual": True, "prior_occupancy": 0.03},
    loss={"kind": "focal_dice", "focal_alpha": 0.99, "focal_gamma": 2.0, "dice_weight": 1.0, "mean_weight": 10.0},
    optim={"lr": 5e-3, "warmup_steps": 10, "schedule": "cosine", "grad_clip": 10.0},
    trainer={"max_epochs": 8, "accelerator": "cpu", "log_every_n_steps": 5, "checkpoint_every_n_epochs": 4,
             "preprocess_cache": True, "preprocess_workers": 2},
    # noisy pseudo-LiDAR sits further from the LiDAR target than a LiDAR input would
    health={"every_n_steps": 20, "min_input_target_overlap": 0.1},
)
