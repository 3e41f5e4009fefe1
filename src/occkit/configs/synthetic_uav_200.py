"""The main job on the users' whole grid, for a GPU: 200 x 200 x 121 at 0.4 x 0.4 x 0.5 m (GridSpec preset ``uav``).

Everything else is the main job's (configs/synthetic_uav.py): the same synthetic town, LiDAR sweep in, 25 accumulated
sweeps out, held-out validation and test scenes, loss, schedule and threshold choice. What changes is what a bigger
grid and a GPU call for: 96 x 96 training windows (the grid is 4.3 times the main job's area), batch 8, loader and
preprocessing workers for a many-core host, and the accelerator left to Lightning. ``benchmarks/quality.py --only
main_200`` trains it and prints the same table as for the main job; on a CPU it runs, slowly.

    occkit run --config configs/synthetic_uav_200.py
"""

from occkit.config import apply_overrides
from occkit.configs.synthetic_uav import config as main_job
from occkit.geometry.grid import GridSpec

GRID = GridSpec.preset("uav")

config = apply_overrides(main_job, [
    'name="synthetic_uav_200"',
    f"data.grid={GRID.model_dump_json()}",
    f"data.source.accumulate_region={list(GRID.pc_range)}",  # the accumulated sweeps' rays that reach this grid
    "data.augment.crop=[96, 96]",
    "data.batch_size=8",
    "data.num_workers=4",
    'trainer.accelerator="auto"',
    "trainer.preprocess_workers=8",
], origin="configs/synthetic_uav_200.py")
