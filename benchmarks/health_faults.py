"""Fault-injection suite: tiny synthetic trainings with known faults (the ones users hit) and three healthy
controls with different seeds.

For each fault it reports whether the right cause was named, how many steps after the fault's onset, any
other (false) alarms, and whether the doctor's first suggestion helped: the run is repeated with it applied
and its validation IoU (then its final training loss) compared. Targets: every fault named by its right cause
within 100 steps of onset, no alarm on the healthy runs, every first suggestion verified to help.

    python benchmarks/health_faults.py [--steps 150] [--only a,b] [--out benchmarks/results/health_faults.md]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _results import markdown_table, publish

from occkit.config import ExperimentConfig
from occkit.data.preprocessing import preprocess
from occkit.experiments.faults import FAULTS, check_advice, run_fault
from occkit.geometry.grid import GridSpec

# the users' voxel size and height levels (0.4 x 0.4 x 0.5 m, 121 levels) on a 64 x 64 crop: ~1 % occupied
GRID = GridSpec(pc_range=(-12.8, -12.8, -10.0, 12.8, 12.8, 50.5), voxel_size=(0.4, 0.4, 0.5))


def base_config(root: Path, steps: int) -> ExperimentConfig:
    return ExperimentConfig(
        name="faults",
        data={"source": {"kind": "synthetic", "train_frames": 8, "val_frames": 2, "seed": 11}, "grid": GRID,
              "batch_size": 2, "cache_dir": str(root / "cache")},
        # the users' architecture, no copy path: the recorded figures were measured on it
        model={"unet_channels": [16, 32, 64], "prior_occupancy": 0.02, "input_skip": False},
        optim={"lr": 3e-3, "warmup_steps": 10},
        trainer={"max_steps": steps, "max_epochs": 1000, "accelerator": "cpu", "progress_bar": False,
                 "runs_root": str(root / "runs"), "log_every_n_steps": 1, "check_val_every_n_epoch": 5,
                 "model_summary": False},
        health={"every_n_steps": 10, "collapse_patience": 3, "plateau_window": 60, "starved_patience": 2},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--only", default="", help="comma-separated fault names (default: all)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/health_faults.md"))
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n] or list(FAULTS)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cfg = base_config(root, args.steps)
        preprocess(cfg.data, ["train", "val"], progress=False, workers=2)
        rows = []
        for name in names:
            t0 = time.perf_counter()
            r = run_fault(name, cfg, run_root=root / "runs")
            advice = check_advice(r, cfg, run_root=root / "runs") if r.correct else None
            helped = "-" if advice is None else ("yes" if advice.helped else "NO")
            figures = "-" if advice is None else (
                f"IoU {_f(advice.before_iou)} -> {_f(advice.after_iou)}, loss {_f(advice.before_loss)} -> "
                f"{_f(advice.after_loss)}")
            rows.append((name, FAULTS[name].description, ", ".join(FAULTS[name].expected) or "(none)",
                         ", ".join(r.detected_kinds) or "(none)", "yes" if r.correct else "NO",
                         "-" if r.latency is None else str(r.latency), ", ".join(r.false_alarms) or "-",
                         "-" if advice is None else advice.applied, helped, figures,
                         f"{time.perf_counter() - t0:.0f}"))
            print(" | ".join(rows[-1]), flush=True)
    header = ("fault", "what", "right cause", "detected", "correct", "steps after onset", "false alarms",
              "first suggestion applied", "helped", "val IoU / final loss, before -> after", "s")
    correct = sum(row[4] == "yes" for row in rows)
    faults = [row for row in rows if row[2] != "(none)"]
    helped = sum(row[8] == "yes" for row in faults)
    late = [row[0] for row in faults if row[5] not in ("-",) and int(row[5]) > 100]
    alarms = [row[0] for row in rows if row[6] != "-"]
    summary = (f"{correct}/{len(rows)} named by their right cause (healthy: no alarm); other alarms in: "
               f"{', '.join(alarms) or 'none'}; {helped}/{len(faults)} first "
               f"suggestions helped; named later than 100 steps after onset: {', '.join(late) or 'none'}; grid "
               f"{GRID.shape}, {args.steps} steps per run, checks every 10 steps")
    only = f" --only {args.only}" if args.only else ""
    publish(args.out, "Health fault injection", f"python benchmarks/health_faults.py --steps {args.steps}{only}",
            markdown_table(header, rows) + "\n\n" + summary)


def _f(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


if __name__ == "__main__":
    main()
