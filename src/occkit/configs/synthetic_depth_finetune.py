"""Depth in the graph: camera images -> a depth network -> soft splat -> BEV height U-Net, trained together.

    occkit run --config synthetic_depth_finetune
    python benchmarks/depth_finetune.py        # frozen vs fine-tuned depth, with a pre-trained depth CNN

The users' system trains monocular depth (DA3) and the occupancy ("refinement") network in one graph, the
refinement network at 10x the depth network's learning rate (their mmdet ``paramwise_cfg`` custom key). This
config is that system at CPU size: occkit's small depth CNN (``model.depth.kind="cnn"``; ``"da3"`` builds
Depth Anything 3 from its package config in the optional DA3 environment) on the synthetic world's nadir camera
(160 x 128, a 20 degree lens: from 50-130 m up the image covers about the grid), the users' voxel size and height levels
on a 25.6 m square (64 x 64 x 121), LiDAR accumulated over nine sweeps as the target, held-out validation scenes.

Without ``model.depth.weights`` the depth network starts from random weights, which only shows that the
pipeline trains; the benchmark pre-trains the CNN on the synthetic depth first and passes its weights.
"""

from occkit.config import ExperimentConfig
from occkit.geometry.grid import GridSpec
from occkit.sources.config import SyntheticSourceConfig

GRID = GridSpec(pc_range=(-12.8, -12.8, -10.0, 12.8, 12.8, 50.5), voxel_size=(0.4, 0.4, 0.5))

SOURCE = SyntheticSourceConfig(preset="uav_town", seed=3, train_frames=64, val_frames=16, test_frames=8,
                               frames_per_scene=4, accumulate_poses=9, accumulate_dt=2.5,
                               accumulate_pose_noise_m=0.05, accumulate_pose_noise_deg=0.1,
                               camera={"width": 160, "height": 128, "hfov_deg": 20.0})

config = ExperimentConfig(
    name="synthetic_depth_finetune",
    seed=0,
    data={
        "source": SOURCE,
        "grid": GRID,
        # the voxel input (the stand-in pseudo-LiDAR) still feeds the health monitor's alignment check; the
        # network reads the image through its own depth network
        "input": {"points": "pseudo", "features": ["soft"], "pseudo_ground_align": True,
                  "camera": {"scale": 1.0}},
        "target": {"kind": "hard"},
        "batch_size": 4,
    },
    model={"unet_channels": [32, 64, 128], "residual": True, "prior_occupancy": 0.01, "input_skip": True,
           "skip_kernel": 1, "skip_shared_kernel": 5, "skip_shared_channels": 8, "skip_shared_context": 2,
           # depth relative to the ground plane the camera's known height gives (occkit.depth.plane_prior)
           "depth": {"kind": "cnn", "channels": [16, 32, 64, 96], "splat": "trilinear", "prior": "ground_plane",
                     "ground_align": False, "frozen_steps": 48,
                     # the occupancy loss alone moves the points where the U-Net likes them, off the surfaces
                     # (benchmarks/depth_finetune.py): the depth keeps the supervision it was pre-trained with
                     "depth_loss_weight": 1.0}},
    loss={"kind": "bce", "mean_weight": 0.0},
    # lr is the depth network's; the refinement network gets 10x (the users' paramwise_cfg)
    optim={"lr": 3e-4, "weight_decay": 0.01, "warmup_steps": 10, "schedule": "cosine", "grad_clip": 10.0,
           "custom_keys": {"refinement": {"lr_mult": 10.0}}},
    trainer={"max_epochs": 4, "accelerator": "cpu", "log_every_n_steps": 5, "checkpoint_every_n_epochs": 2,
             "preprocess_cache": True, "preprocess_workers": 2},
    health={"every_n_steps": 10, "min_input_target_overlap": 0.1, "min_offset_gain": 1.5},
    eval={"ray_elevations_deg": [-88.0, -85.0, -82.0, -79.0, -76.0, -73.0, -70.0, -67.0, -64.0, -61.0],
          "select_threshold_on": "test"},
)
