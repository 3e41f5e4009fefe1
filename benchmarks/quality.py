"""Prediction quality: the trained network beside every trivial predictor, on held-out validation scenes.

For the main job (configs/synthetic_uav.py, LiDAR in) and the synthetic refinement config (pseudo-LiDAR in) this
trains the config (or loads ``--checkpoint``), evaluates its **last** checkpoint on the validation scenes (other
scenes, other seeds than training) and prints predictor x (IoU all / ground / above ground / unseen recall /
added-voxel precision), the gap to a perfect score that the model closes over the best baseline, RayIoU from each
frame's sensor positions beside the copied and dilated input, and the wall time of each run (2-core CPU).

It also measures the **target's own ceiling**: the IoU between the validation targets and a second, independent
accumulation of the same frames (same scenes and poses, other sweep pattern, range and registration noise;
``accumulation_seed=1``). No predictor can be expected to agree with one realization of the accumulated LiDAR
much better than another realization does, so the share of the *achievable* gap,
``(IoU_model - IoU_best) / (IoU_ceiling - IoU_best)``, is printed beside the share of the gap to 1.0.

    python benchmarks/quality.py [--only main|refinement] [--checkpoint-main CKPT] [--checkpoint-refinement CKPT]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from _results import publish

from occkit.config import load_config
from occkit.evaluation.report import baseline_table

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {"main": ROOT / "configs" / "synthetic_uav.py", "refinement": ROOT / "configs" / "synthetic_refinement.py"}
TARGETS = {"main": "gap closed >= 40 % overall and above ground; unseen recall >= 0.3 at added-voxel precision >= 0.6",
           "refinement": "gap closed >= 30 % overall; above-ground IoU >= 2x the best baseline's"}


def run_one(name: str, checkpoint: Path | None, runs_root: Path) -> tuple[dict, float, str]:
    """Train (or load) and evaluate one config; returns the eval report, the seconds it took, the checkpoint."""
    cfg = load_config(CONFIGS[name], [f'trainer.runs_root="{runs_root}"'])
    t0 = time.perf_counter()
    if checkpoint is None:
        from occkit.pipeline import run_main_job

        result = run_main_job(cfg, pictures=1)
        return result.metrics, time.perf_counter() - t0, str(result.run_dir)
    from occkit.evaluation.split_eval import evaluate

    report = evaluate(str(checkpoint), None, "val", progress=False).report
    return report, time.perf_counter() - t0, str(checkpoint)


def target_ceiling(name: str, runs_root: Path) -> float | None:
    """Pooled IoU between the validation targets and a second accumulation of the same frames (synthetic only)."""
    from occkit.data.dataset import OccupancyDataset

    cfg = load_config(CONFIGS[name], [f'trainer.runs_root="{runs_root}"'])
    if cfg.data.source.kind != "synthetic":
        return None
    other = cfg.data.model_copy(update={"source": cfg.data.source.model_copy(update={"accumulation_seed": 1}),
                                        "cache_dir": None})
    a = OccupancyDataset(cfg.data.model_copy(update={"cache_dir": None}), "val", augment=False)
    b = OccupancyDataset(other, "val", augment=False)
    inter = union = 0
    for i in range(len(a)):
        ta, tb = a[i]["target"] >= 0.5, b[i]["target"] >= 0.5
        inter, union = inter + int((ta & tb).sum()), union + int((ta | tb).sum())
    return inter / union if union else None


def section(name: str, report: dict, seconds: float, where: str, trained: bool, ceiling: float | None) -> str:
    b = report["baselines"]
    s_all, s_above = b["summary"]["iou"], b["summary"]["iou_above"]
    model = b["predictors"]["model"]
    lines = [f"### {name}: {CONFIGS[name].relative_to(ROOT)}", "",
             f"{report['num_frames']} validation frames (held-out scenes), grid {report['grid']}; "
             f"{'trained and evaluated' if trained else 'evaluated'} in {seconds:.0f} s ({where})", ""]
    lines += baseline_table(b)
    ray = report.get("ray_iou") or {}
    if ray.get("rayiou") is not None:
        base = ", ".join(f"{k} {v:.4f}" for k, v in (ray.get("baselines") or {}).items() if v is not None)
        lines += ["", f"RayIoU (rays from each frame's own and neighbouring sensor positions): model "
                      f"{ray['rayiou']:.4f}; {base}"]
    if ceiling is not None:
        best = s_all["best_baseline_value"]
        lines += ["", f"target ceiling (IoU of a second, independent accumulation of the same frames): {ceiling:.4f}; "
                      f"the model closes {_pct((model['iou'] - best) / (ceiling - best) if ceiling > best else None)} "
                      f"of the gap from the best baseline to it"]
    best_above = s_above["best_baseline_value"] or 0.0
    lines += ["", f"target: {TARGETS[name]}",
              f"measured: gap closed {_pct(s_all['gap_closed'])} overall, {_pct(s_above['gap_closed'])} above "
              f"ground; unseen recall {model['recall_unseen']:.3f} at added-voxel precision "
              f"{model['precision_added']:.3f}; above-ground IoU {model['iou_above']:.3f} = "
              f"{model['iou_above'] / best_above if best_above else float('nan'):.2f}x the best baseline's"]
    return "\n".join(lines)


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.1f} %"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(CONFIGS), default=None)
    parser.add_argument("--checkpoint-main", type=Path, default=None)
    parser.add_argument("--checkpoint-refinement", type=Path, default=None)
    parser.add_argument("--runs-root", type=Path, default=Path("runs/bench_quality"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/quality.md"))
    args = parser.parse_args()
    names = [args.only] if args.only else ["main", "refinement"]
    parts = []
    for name in names:
        ckpt = getattr(args, f"checkpoint_{name}")
        report, seconds, where = run_one(name, ckpt, args.runs_root)
        parts.append(section(name, report, seconds, where, ckpt is None, target_ceiling(name, args.runs_root)))
    parts.append("GPU (200 x 200 x 121): unmeasured, no GPU was lent to this session.")
    command = "python benchmarks/quality.py" + (f" --only {args.only}" if args.only else "")
    publish(args.out, "Prediction quality beside the trivial baselines", command, "\n\n".join(parts))


if __name__ == "__main__":
    main()
