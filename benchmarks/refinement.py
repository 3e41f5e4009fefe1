"""Refined point clouds: how much closer to the LiDAR does monocular-depth pseudo-LiDAR get after refinement?

Trains ``configs/synthetic_refinement.py`` (or loads ``--checkpoint``; the last checkpoint is used), then on every
validation frame (held-out scenes) compares with the LiDAR (the frame's accumulated sweeps, inside the grid):

* raw: the pseudo points inside the grid (the reference every refined figure is divided by);
* aligned: the same points after the config's scale alignment to the known ground height alone
  (``data.input.pseudo_ground_align``), without the occupancy: what the network adds is the step from here;
* each refinement mode of ``occkit.evaluation.refine_modes`` (filter, snap, complete; default = complete);
* oracle: the centres of the LiDAR-occupied voxels (what a perfect occupancy prediction would give).

Figures: Chamfer distance and its two directions (accuracy: points -> LiDAR, completeness: LiDAR -> points), the
F-score at one and two voxels (0.4 m / 0.8 m), points kept (from the input) and added. Per scene and in total; the
last line is ``refined vs raw: chamfer <x>x, fscore@1vox <y>x`` for the default mode.

    python benchmarks/refinement.py [--checkpoint CKPT]
"""

from __future__ import annotations

import argparse
import statistics
from collections import defaultdict
from pathlib import Path

import numpy as np
from _results import markdown_table, publish

from occkit.config import load_config
from occkit.data.grids import FrameToGrids
from occkit.evaluation.frame_refine import refine_frame
from occkit.evaluation.refine import chamfer_distance, fscore, in_grid_mask
from occkit.evaluation.scenes import scene_of
from occkit.geometry.transforms import apply_transform, invert_transform
from occkit.train.checkpoint import load_module

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "synthetic_refinement.py"
CLOUDS = ("raw", "aligned", "filter", "snap", "complete", "oracle")
METRICS = ("chamfer", "accuracy", "completeness", "f1vox", "f2vox", "points", "added")


def measure(points: np.ndarray, lidar: np.ndarray, voxel: float, added: int = 0) -> dict[str, float]:
    c = chamfer_distance(points, lidar)
    return {"chamfer": c.chamfer, "accuracy": c.accuracy, "completeness": c.completeness,
            "f1vox": fscore(points, lidar, voxel).fscore, "f2vox": fscore(points, lidar, 2 * voxel).fscore,
            "points": float(len(points) - added), "added": float(added)}


def frame_rows(module, frame, to_grids: FrameToGrids, threshold: float) -> dict[str, dict[str, float]]:
    spec = to_grids.spec
    voxel = float(min(spec.size[0], spec.size[1]))
    base = refine_frame(module, frame, to_grids, threshold, mode="filter")
    inside = in_grid_mask(base.pseudo, spec, base.T_grid_sensor)
    out = {"raw": measure(base.raw, base.lidar, voxel),
           "aligned": measure(base.pseudo[inside], base.lidar, voxel),  # scale alignment alone, no occupancy
           "filter": measure(base.refined.xyz, base.lidar, voxel)}
    for mode in ("snap", "complete"):
        r = base.refine(mode)
        out[mode] = measure(r.xyz, base.lidar, voxel, r.counts["added"])
    T = base.T_grid_sensor
    centres = spec.indices_to_centers(np.argwhere(base.target))
    out["oracle"] = measure(apply_transform(invert_transform(T), centres), base.lidar, voxel)  # grid -> sensor
    return out


def table(groups: dict[str, list[dict[str, dict[str, float]]]]) -> tuple[str, dict[str, dict[str, float]]]:
    header = ("scene", "cloud", "frames", "Chamfer (m)", "accuracy (m)", "completeness (m)", "F@1vox", "F@2vox",
              "points kept", "points added")
    rows, totals = [], {}
    for scene, frames in groups.items():
        for cloud in CLOUDS:
            m = {k: statistics.mean(f[cloud][k] for f in frames) for k in METRICS}
            if scene == "all":
                totals[cloud] = m
            label = f"**{cloud}**" if cloud == "complete" else cloud
            rows.append((scene, label, str(len(frames)), f"{m['chamfer']:.3f}", f"{m['accuracy']:.3f}",
                         f"{m['completeness']:.3f}", f"{m['f1vox']:.3f}", f"{m['f2vox']:.3f}", f"{m['points']:.0f}",
                         f"{m['added']:.0f}"))
    return markdown_table(header, rows), totals


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
        checkpoint = result.last_checkpoint or result.best_checkpoint
    if args.threshold is None and cfg.eval.select_threshold_on:  # as occkit run does: never on the reported frames
        from occkit.evaluation.model_choice import choose_model

        choice = choose_model(Path(checkpoint), cfg)
        checkpoint, cfg = choice.checkpoint, choice.cfg
    module = load_module(checkpoint, cfg).eval()
    threshold = cfg.eval.refine_threshold if args.threshold is None else args.threshold
    to_grids = FrameToGrids(cfg.data)
    source = cfg.data.source.build("val")
    groups: dict[str, list] = defaultdict(list)
    for i in range(len(source)):
        frame = source[i]
        rows = frame_rows(module, frame, to_grids, threshold)
        groups[scene_of(frame.frame_id)].append(rows)
        groups["all"].append(rows)
    text, totals = table({**{k: v for k, v in groups.items() if k != "all"}, "all": groups["all"]})  # totals last
    raw, ref = totals["raw"], totals["complete"]
    completeness_ok = ref["completeness"] <= raw["completeness"]
    chosen = f" (chosen on the {cfg.eval.select_threshold_on} split)" if args.threshold is None and \
        cfg.eval.select_threshold_on else ""
    lines = [f"Model: configs/synthetic_refinement.py ({checkpoint}), refine threshold {threshold:g}{chosen}; "
             f"LiDAR = the frame's accumulated sweeps inside the grid; oracle = centres of the LiDAR-occupied "
             "voxels. Rows are means over the frames of each validation scene (held out from training).", "",
             text, "",
             "targets (default mode = complete): Chamfer <= 0.5x raw, F@1vox >= 2x raw, completeness never worse "
             f"than raw -> completeness {raw['completeness']:.3f} -> {ref['completeness']:.3f} m "
             f"({'not worse' if completeness_ok else 'WORSE'})",
             f"refined vs raw: chamfer {ref['chamfer'] / raw['chamfer']:.2f}x, "
             f"fscore@1vox {ref['f1vox'] / raw['f1vox'] if raw['f1vox'] else float('inf'):.2f}x"]
    command = "python benchmarks/refinement.py" + (f" --checkpoint {checkpoint}" if args.checkpoint else "")
    publish(args.out, "Refined point clouds vs raw pseudo-LiDAR", command, "\n".join(lines))


if __name__ == "__main__":
    main()
