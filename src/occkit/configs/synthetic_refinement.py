"""Pseudo-LiDAR refinement on the synthetic world: monocular-depth points in, accumulated LiDAR occupancy out.

The synthetic camera's depth goes through the Depth-Anything-like noise model (scale/shift error, distance noise,
smeared edges); the network learns where the real surfaces are. Same grid as the main job (configs/synthetic_uav.py):
96 x 96 x 121 at 0.4 x 0.4 x 0.5 m; every frame is a scene of its own (128 training, 16 validation and 8 test scenes,
seed 1). ``benchmarks/quality.py`` compares it with the trivial predictors, ``benchmarks/refinement.py`` measures
the refined point cloud against the LiDAR.

It trains as the main job does: random 48 x 48 windows, the shared level filter on a band of levels, focal + dice
+ mean matching with a dice term above the ground, 30 epochs, but with focal alpha 0.5 (every seed learns the
ground past the DEM's, where 0.99 left two of three at the DEM's). The filter is smaller than the main job's (16
channels, 3 x 3): pseudo points smear every edge over many levels, so the band is wider than a LiDAR sweep's.
Each frame's elevation model aligns the depth's scale and is an input channel (its own ground is a baseline), and so
is the free space the camera's rays crossed.

    occkit run --config configs/synthetic_refinement.py
"""

from occkit.config import ExperimentConfig
from occkit.geometry.grid import GridSpec
from occkit.sources.config import SyntheticSourceConfig

GRID = GridSpec(pc_range=(-19.2, -19.2, -10.0, 19.2, 19.2, 50.5), voxel_size=(0.4, 0.4, 0.5))

SOURCE = SyntheticSourceConfig(preset="uav_town", seed=1, train_frames=128, val_frames=16, frames_per_scene=1,
                               accumulate_poses=9, accumulate_dt=2.5,
                               accumulate_pose_noise_m=0.05, accumulate_pose_noise_deg=0.1)

config = ExperimentConfig(
    name="synthetic_refinement",
    seed=0,
    data={
        "source": SOURCE,
        "grid": GRID,
        # count: dense camera depth puts many points in a voxel; mean_height: where inside the voxel they sit;
        # dem_ground: the elevation model's ground under each column (occkit.data.elevation). Monocular depth
        # smears the ground over several levels, and the DEM's own ground beats the network that cannot read it
        # (IoU 0.482 against 0.351, "Main job choices", seventh round); the same channel scores that baseline
        # free: where the camera's rays crossed a voxel and ended 3 m or more beyond it (observed empty; the margin is
        # the depth's own error, 1-2 m at 50-130 m): IoU 0.522 -> 0.556, above the ground 0.185 -> 0.220 (seventh round)
        # left out: surface (the raised points' pooled median height, occkit.data.surface) lifts the above-ground IoU
        # by 0.022 over two seeds, most from 99 m up, and costs 0.010 overall (ninth round)
        "input": {"points": "pseudo", "features": ["soft", "count", "mean_height", "dem_ground", "free"],
                  "free_margin": 3.0,
                  # the drone's height over the ground fixes the depth's per-image scale (several metres of height
                  # error at 50-130 m otherwise; occkit.depth.scale_align); the ground is each frame's elevation
                  # model, not the datum: the town's terrain lies up to 1.5 m above or below it
                  "pseudo_ground_align": True, "pseudo_ground_z": "dem"},
        "target": {"kind": "hard"},
        "batch_size": 4,
        "num_workers": 0,
        "augment": {"crop": (48, 48)},
    },
    model={"unet_channels": [32, 64, 128], "residual": True, "prior_occupancy": 0.01, "input_skip": True,
           "skip_kernel": 1, "skip_shared_kernel": 3, "skip_shared_channels": 16, "skip_shared_context": 2,
           "skip_shared_span": [3], "skip_shared_dilations": [2], "skip_shared_band": 4},
    # the main job's loss: the dice terms pay for every missed occupied voxel, however rare ("Main job choices",
    # sixth round: 19.0 % of the gap against 9.5 % for BCE + dice on whole grids for 6 epochs; seventh: with the DEM
    # input an above-ground dice of 1.0 closes 4.2 % against 7.6 %)
    # focal_alpha 0.5 instead of the package's 0.99: with 0.99, two seeds of three never learned the ground past the
    # DEM's levels (ground IoU 0.63 against 0.69; 0.516 and 0.513 overall); with 0.5 all three did (0.545-0.553),
    # and the best threshold lies inside the sweep (0.85-0.9) instead of at 0.95-0.999 ("Main job choices",
    # eleventh round)
    loss={"kind": "focal_dice", "focal_alpha": 0.5, "mean_weight": 10.0, "above_ground_dice_weight": 0.5},
    optim={"lr": 3e-3, "weight_decay": 0.01, "warmup_steps": 20, "schedule": "cosine", "grad_clip": 10.0},
    trainer={"max_epochs": 30, "accelerator": "cpu", "devices": 1, "precision": "auto", "log_every_n_steps": 5,
             "check_val_every_n_epoch": 10, "checkpoint_every_n_epochs": 10,
             "preprocess_cache": True, "preprocess_workers": 2},
    # noisy pseudo-LiDAR sits further from the LiDAR target than a LiDAR input would
    health={"every_n_steps": 20, "min_input_target_overlap": 0.1, "min_offset_gain": 1.5},
    # the threshold and the checkpoint (epoch=009, epoch=019 or last) are chosen after training on the test split
    # (8 more held-out scenes), never on the reported val
    eval={"ray_elevations_deg": [-88.0, -85.0, -82.0, -79.0, -76.0, -73.0, -70.0, -67.0, -64.0, -61.0],
          "select_threshold_on": "test", "select_checkpoint": True},
)
