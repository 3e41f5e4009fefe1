"""Pseudo-LiDAR refinement: how much closer to the LiDAR do monocular-depth points get after occupancy filtering?

Trains ``configs/synthetic_refinement.py`` (or loads ``--checkpoint``), then for each validation frame keeps the
pseudo points whose voxel the model predicts occupied and compares raw vs refined points with the LiDAR
(accumulated sweeps, the frame's target points), inside the grid: Chamfer distance, accuracy (points -> LiDAR),
completeness (LiDAR -> points) and the fraction of points kept. Reference in the same run: the raw cloud.

    python benchmarks/refinement.py [--checkpoint CKPT] [--threshold 0.5]
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import numpy as np
import torch
from _results import markdown_table, publish

from occkit.config import load_config
from occkit.data.grids import FrameToGrids
from occkit.evaluation.refine import chamfer_distance, in_grid_mask, refine_mask
from occkit.geometry.layout import channels_to_grid
from occkit.train.checkpoint import load_module

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "synthetic_refinement.py"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--threshold", type=float, default=None)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/refinement.md"))
    args = parser.parse_args()
    cfg = load_config(CONFIG)
    checkpoint = args.checkpoint
    if checkpoint is None:
        from occkit.train.runner import fit

        result = fit(cfg, verbose=False)
        checkpoint = result.best_checkpoint or result.last_checkpoint
    module = load_module(checkpoint, cfg).eval()
    threshold = cfg.eval.refine_threshold if args.threshold is None else args.threshold
    to_grids = FrameToGrids(cfg.data)
    source = cfg.data.source.build("val")
    rows = []
    for i in range(len(source)):
        frame = source[i]
        sample = to_grids(frame)
        T = to_grids.align(frame).T_grid_sensor
        with torch.no_grad():
            prob = torch.sigmoid(module(torch.from_numpy(sample["input"])[None].float()))[0].numpy()
        prob = channels_to_grid(prob)
        pseudo = frame.pseudo_points
        lidar = frame.target_points if frame.target_points is not None else frame.points
        inside = in_grid_mask(pseudo, cfg.data.grid, T)
        lidar_in = lidar[in_grid_mask(lidar, cfg.data.grid, T)]
        keep = refine_mask(pseudo, prob, cfg.data.grid, threshold, T)
        raw = chamfer_distance(pseudo[inside], lidar_in)
        refined = chamfer_distance(pseudo[keep], lidar_in)
        rows.append((frame.frame_id, int(inside.sum()), keep.sum() / max(inside.sum(), 1), raw, refined))
    header = ("frame", "pseudo points in grid", "kept", "Chamfer raw -> refined (m)", "accuracy raw -> refined (m)",
              "completeness raw -> refined (m)")
    table = markdown_table(header, [
        (fid, str(n), f"{kept:.0%}", f"{raw.chamfer:.3f} -> {ref.chamfer:.3f}",
         f"{raw.accuracy:.3f} -> {ref.accuracy:.3f}", f"{raw.completeness:.3f} -> {ref.completeness:.3f}")
        for fid, n, kept, raw, ref in rows])

    def mean(get) -> float:  # noqa: ANN001 - small local helper; frames with no kept point are left out
        values = [get(r) for r in rows if np.isfinite(r[4].chamfer)]
        return statistics.mean(values) if values else float("nan")

    empty = sum(not np.isfinite(r[4].chamfer) for r in rows)
    summary = (f"mean over {len(rows) - empty} of {len(rows)} val frames ({empty} kept no point), "
               f"threshold {threshold}: "
               f"Chamfer {mean(lambda r: r[3].chamfer):.3f} -> "
               f"{mean(lambda r: r[4].chamfer):.3f} m, accuracy {mean(lambda r: r[3].accuracy):.3f} -> "
               f"{mean(lambda r: r[4].accuracy):.3f} m, completeness {mean(lambda r: r[3].completeness):.3f} -> "
               f"{mean(lambda r: r[4].completeness):.3f} m, kept {mean(lambda r: r[2]):.0%} of the points")
    command = "python benchmarks/refinement.py" + (f" --checkpoint {checkpoint}" if args.checkpoint else "") + (
        f" --threshold {args.threshold}" if args.threshold is not None else "")
    publish(args.out, "Pseudo-LiDAR refinement", command,
            f"Model: configs/synthetic_refinement.py ({checkpoint.name}).\n\n{table}\n\n{summary}")


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
