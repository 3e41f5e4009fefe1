"""Fault-injection suite: tiny synthetic trainings with known faults and a healthy control.

For each fault it reports whether the right cause was detected, how many steps after the fault's onset,
and any other (false) alarms. Target: every fault detected with its right cause, no alarm on the control.

    python benchmarks/health_faults.py [--steps 150] [--out benchmarks/results/health_faults.md]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _results import markdown_table, publish

from occkit.config import ExperimentConfig
from occkit.data.preprocessing import preprocess
from occkit.geometry.grid import GridSpec
from occkit.health.faults import FAULTS, run_fault

GRID = GridSpec(pc_range=(-40.0, -40.0, -4.0, 40.0, 40.0, 47.2), voxel_size=(1.6, 1.6, 3.2))  # 50 x 50 x 16


def base_config(root: Path, steps: int) -> ExperimentConfig:
    return ExperimentConfig(
        name="faults",
        data={"source": {"kind": "synthetic", "train_frames": 8, "val_frames": 2, "seed": 11}, "grid": GRID,
              "batch_size": 2, "cache_dir": str(root / "cache")},
        # the users' architecture, no copy path: the recorded figures were measured on it
        model={"unet_channels": [16, 32, 64], "prior_occupancy": 0.02, "input_skip": False},
        optim={"lr": 3e-3, "warmup_steps": 10},
        trainer={"max_steps": steps, "max_epochs": 1000, "accelerator": "cpu", "progress_bar": False,
                 "runs_root": str(root / "runs"), "log_every_n_steps": 1},
        health={"every_n_steps": 10, "collapse_patience": 3, "plateau_window": 60, "starved_patience": 2},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/health_faults.md"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cfg = base_config(root, args.steps)
        preprocess(cfg.data, ["train"], progress=False, workers=2)
        rows = []
        for name in FAULTS:
            t0 = time.perf_counter()
            r = run_fault(name, cfg, run_root=root / "runs")
            rows.append((name, FAULTS[name].description, ", ".join(FAULTS[name].expected) or "(none)",
                         ", ".join(r.detected_kinds) or "(none)", "yes" if r.correct else "NO",
                         "-" if r.latency is None else str(r.latency), ", ".join(r.false_alarms) or "-",
                         f"{time.perf_counter() - t0:.0f}"))
    header = ("fault", "what", "right cause", "detected", "correct", "steps after onset", "false alarms", "s")
    correct = sum(row[4] == "yes" for row in rows)
    summary = f"{correct}/{len(rows)} correct; grid {GRID.shape}, {args.steps} steps per run, checks every 10 steps"
    publish(args.out, "Health fault injection", f"python benchmarks/health_faults.py --steps {args.steps}",
            markdown_table(header, rows) + "\n\n" + summary)


if __name__ == "__main__":
    main()
