"""Loss study on the main job: which losses beat the trivial predictors, which collapse to "all empty".

Every loss trains the main job's model (configs/synthetic_uav.py: the copy path, the shared level filter, the
users' 0.4 x 0.4 x 0.5 m voxels and 121 levels, 1.4 % occupied) for the same shorter budget, on the same 128
training scenes, and is measured on the same 16 held-out validation scenes beside the best trivial baseline of
those frames (the input dilated one voxel). Reported per loss and seed: validation IoU overall and above the ground
at the last step, the share of the gap from the best baseline to 1.0 that it closes, and whether it collapsed
(predicted occupancy under a tenth of the target's at the end). The threshold is the validation one (0.5): a loss
that needs another threshold to score shows it here.

    python benchmarks/loss_study.py [--epochs 10] [--seeds 0] [--only bce bce_dice ...]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from _results import markdown_table, publish

from occkit.config import ExperimentConfig, apply_overrides, load_config, resolve_cache_dir
from occkit.data.preprocessing import preprocess
from occkit.health.rundir import read_run
from occkit.train.runner import fit

ROOT = Path(__file__).resolve().parents[1]
MAIN_JOB = ROOT / "configs" / "synthetic_uav.py"
LOSSES: dict[str, list[str]] = {
    "bce": ['loss.kind="bce"', "loss.mean_weight=0"],
    "weighted_bce (pos_weight 10)": ['loss.kind="weighted_bce"', "loss.pos_weight=10", "loss.mean_weight=0"],
    "focal": ['loss.kind="focal"', "loss.mean_weight=0"],
    "dice": ['loss.kind="dice"', "loss.mean_weight=0"],
    "bce + dice (the main job)": ['loss.kind="bce_dice"', "loss.mean_weight=0"],
    "focal + dice + 10 mean (the package default)": ['loss.kind="focal_dice"', "loss.mean_weight=10"],
    "bce + dice + above-ground dice": ['loss.kind="bce_dice"', "loss.mean_weight=0",
                                       "loss.above_ground_dice_weight=1.0"],
}


def base_config(runs_root: Path, epochs: int) -> ExperimentConfig:
    """The main job with a shorter schedule, validation once at the end, no pictures and no health stops."""
    cfg = load_config(MAIN_JOB, [f'trainer.runs_root="{runs_root}"', 'name="loss_study"',
                                 f"trainer.max_epochs={epochs}", f"trainer.check_val_every_n_epoch={epochs}",
                                 f"trainer.checkpoint_every_n_epochs={epochs}", "trainer.progress_bar=false",
                                 "logging.images_every_n_epochs=0", "health.enabled=false"])
    return resolve_cache_dir(cfg)  # one cache for every loss: the data do not depend on the loss


def last(run, key: str) -> float:
    _, values = run.series(key)
    return float(values[-1]) if values else float("nan")


def stat(runs: list[dict], key: str, scale: float = 1.0, fmt: str = ".3f") -> str:
    """Mean over seeds, with the spread when there are several."""
    values = [r[key] * scale for r in runs]
    spread = f" ± {statistics.pstdev(values):{fmt}}" if len(values) > 1 else ""
    return f"{statistics.mean(values):{fmt}}{spread}"


def study(losses: dict[str, list[str]], seeds: list[int], cfg: ExperimentConfig
          ) -> tuple[list[tuple], tuple[float, float]]:
    """One row per loss; and the best baseline's IoU overall and above the ground on the same frames."""
    preprocess(cfg.data, ["train", "val"], progress=False, workers=2)
    rows, baseline = [], (float("nan"), float("nan"))
    for name, overrides in losses.items():
        runs = []
        for seed in seeds:
            slug = "".join(c if c.isalnum() else "_" for c in name.split(" (")[0])
            run_cfg = apply_overrides(cfg, [*overrides, f"seed={seed}", f'name="loss_{slug}_s{seed}"'])
            run = read_run(fit(run_cfg, verbose=False).run_dir)
            above, gap_above = last(run, "val/iou_above_ground"), last(run, "val/iou_above_ground_gap_closed")
            baseline = (last(run, "val/iou_best_baseline"), (above - gap_above) / (1 - gap_above))
            runs.append({"iou": last(run, "val/iou"), "gap": last(run, "val/iou_gap_closed"),
                         "above": above, "gap_above": gap_above,
                         "collapsed": last(run, "pred/mean") < 0.1 * last(run, "target/occupancy_rate")})
        rows.append((name, stat(runs, "iou"), stat(runs, "gap", 100, ".1f") + " %", stat(runs, "above"),
                     stat(runs, "gap_above", 100, ".1f") + " %", f"{sum(r['collapsed'] for r in runs)}/{len(runs)}"))
    return rows, baseline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10, help="training epochs per loss (the main job trains 30)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--only", nargs="+", default=None, choices=sorted(LOSSES), metavar="LOSS")
    parser.add_argument("--runs-root", type=Path, default=Path("runs/bench_loss_study"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/loss_study.md"))
    args = parser.parse_args()
    losses = {k: v for k, v in LOSSES.items() if args.only is None or k in args.only}
    cfg = base_config(args.runs_root, args.epochs)
    t0 = time.perf_counter()
    rows, baseline = study(losses, args.seeds, cfg)
    header = ("loss", "IoU all", "gap closed", "IoU above ground", "gap closed above ground", "collapsed")
    steps = args.epochs * -(-cfg.data.source.train_frames // cfg.data.batch_size)
    note = (f"The main job's model and data (configs/synthetic_uav.py), {args.epochs} epochs ({steps} steps; the main "
            f"job trains 30), seeds {args.seeds}, last step, threshold 0.5, on the {cfg.data.source.val_frames} "
            f"held-out validation scenes. Best trivial baseline on the same frames (the input dilated one voxel): "
            f"IoU {baseline[0]:.3f} overall, {baseline[1]:.3f} above the ground; gap closed = (IoU - baseline) / "
            f"(1 - baseline). "
            f"{time.perf_counter() - t0:.0f} s in all (2-core CPU).")
    command = (f"python benchmarks/loss_study.py --epochs {args.epochs} --seeds {' '.join(map(str, args.seeds))}"
               + (" --only " + " ".join(f'"{k}"' for k in args.only) if args.only else ""))
    publish(args.out, "Loss study on the main job", command, markdown_table(header, rows) + "\n\n" + note)


if __name__ == "__main__":
    main()
