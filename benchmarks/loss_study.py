"""Loss study at the seed user's occupancy (~0.8%): which losses learn, which collapse to "all empty".

Each loss trains the same model for the same budget on the synthetic UAV town over several seeds, on a
64 x 64 x 121 grid (121 height levels of 0.5 m, like the 200 x 200 x 121 UAV grid, coarser in plan so
it runs on a CPU). Reported per loss: final validation IoU (mean ± std), how many seeds collapsed
(prediction mean < 0.1 x target rate at the end), and steps to the first validation IoU above 0.1.

    python benchmarks/loss_study.py [--steps 200] [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from _results import markdown_table, publish

from occkit.config import ExperimentConfig, apply_overrides
from occkit.data.preprocessing import preprocess
from occkit.geometry.grid import GridSpec
from occkit.health.rundir import read_run
from occkit.train.runner import fit

GRID = GridSpec(pc_range=(-40.0, -40.0, -10.0, 40.0, 40.0, 50.5), voxel_size=(1.25, 1.25, 0.5))  # 64 x 64 x 121
LOSSES: dict[str, list[str]] = {
    "bce": ['loss.kind="bce"', "loss.mean_weight=0"],
    "weighted_bce": ['loss.kind="weighted_bce"', "loss.pos_weight=10", "loss.mean_weight=0"],
    "focal": ['loss.kind="focal"', "loss.mean_weight=0"],
    "dice": ['loss.kind="dice"', "loss.mean_weight=0"],
    "bce_dice": ['loss.kind="bce_dice"', "loss.mean_weight=0"],
    "focal+dice+mean": ['loss.kind="focal_dice"', "loss.mean_weight=10"],
}


def base_config(root: Path, steps: int) -> ExperimentConfig:
    return ExperimentConfig(
        name="loss_study",
        data={"source": {"kind": "synthetic", "train_frames": 12, "val_frames": 4, "seed": 5}, "grid": GRID,
              "batch_size": 2, "cache_dir": str(root / "cache")},
        # the plain U-Net (no copy path): the recorded study was measured on it
        model={"unet_channels": [32, 64, 128], "prior_occupancy": 0.0083, "input_skip": False},
        optim={"lr": 2e-3, "warmup_steps": 20},
        trainer={"max_steps": steps, "max_epochs": 10000, "accelerator": "cpu", "progress_bar": False,
                 "runs_root": str(root / "runs"), "log_every_n_steps": 2, "checkpoint_every_n_epochs": 1000},
        health={"enabled": False},
    )


def study(losses: dict[str, list[str]], seeds: list[int], steps: int, root: Path) -> list[tuple]:
    cfg = base_config(root, steps)
    preprocess(cfg.data, ["train", "val"], progress=False, workers=2)
    rows = []
    for name, overrides in losses.items():
        ious, collapsed, first = [], 0, []
        for seed in seeds:
            run_cfg = apply_overrides(cfg, [*overrides, f"seed={seed}", f'name="{name.replace("+", "_")}_s{seed}"'])
            result = fit(run_cfg, verbose=False)
            run = read_run(result.run_dir)
            steps_iou, iou = run.series("val/iou")
            ious.append(iou[-1] if iou else 0.0)
            hits = [s for s, v in zip(steps_iou, iou, strict=True) if v > 0.1]
            first.append(hits[0] if hits else None)
            _, pred = run.series("pred/mean")
            _, target = run.series("target/occupancy_rate")
            if pred and target and pred[-1] < 0.1 * target[-1]:
                collapsed += 1
        reached = [f for f in first if f is not None]
        rows.append((name, f"{statistics.mean(ious):.3f} ± {statistics.pstdev(ious):.3f}",
                     f"{collapsed}/{len(seeds)}",
                     f"{statistics.median(reached):.0f} ({len(reached)}/{len(seeds)} seeds)" if reached else "never"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/loss_study.md"))
    args = parser.parse_args()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        rows = study(LOSSES, args.seeds, args.steps, Path(tmp))
    header = ("loss", "final val IoU", "collapsed", "steps to IoU > 0.1")
    note = (f"grid {GRID.shape}, {args.steps} steps, batch 2, seeds {args.seeds}, "
            f"{time.perf_counter() - t0:.0f} s in all")
    command = f"python benchmarks/loss_study.py --steps {args.steps} --seeds {' '.join(map(str, args.seeds))}"
    publish(args.out, "Loss study", command, markdown_table(header, rows) + "\n\n" + note)


if __name__ == "__main__":
    main()
