"""Prediction quality: the trained network beside every trivial predictor, on held-out validation scenes.

For the main job (configs/synthetic_uav.py, LiDAR in) and the synthetic refinement config (pseudo-LiDAR in) this
trains the config (or loads ``--checkpoint``), evaluates the checkpoint its config reports (the last, or with
``eval.select_checkpoint`` the one chosen on the test split) on the validation scenes (other scenes, other seeds
than training) and prints predictor x (IoU all / ground / above ground / unseen recall /
added-voxel precision), the gap to a perfect score that the model closes over the best baseline, RayIoU from each
frame's sensor positions beside the copied and dilated input, and the wall time of each run (2-core CPU).

It also measures **how far any predictor can go on these targets**: the vote oracle knows four other, independent
accumulations of the same frames (same scenes and poses, other sweep pattern, range and registration noise;
``accumulation_seed`` 1..4) and predicts a voxel where at least half of them have one. A network sees one sweep,
so it cannot be expected to beat that; its row and gap closed stand beside the model's, with the share of the
oracle's gain that the model gets.

For the refinement config it also re-scores the model after moving each validation frame up or down by the whole
number of levels that fits it best: how much of its error is one height offset per frame, which aligning
pseudo-LiDAR to a known camera height leaves wherever the ground it aligns to is not the frame's (the datum on
hilly terrain) and wherever the depth noise shifts the grid's part of the image.

Where the input carries the elevation model (``dem_ground``), it also measures **how far the ground can go from
that DEM** (occkit.metrics.ground_ceiling): the levels the DEM's height fills at the train split's rates, the same
with an oracle on which columns the target has ground in, that oracle's ground beside the model's own voxels above
the ground, and the above-ground IoU the overall target would need beside it.

    python benchmarks/quality.py [--only main|refinement|main_200] [--checkpoint-main CKPT]
        [--checkpoint-refinement CKPT] [--checkpoint-main-200 CKPT]

``main_200`` (configs/synthetic_uav_200.py) is the main job on the users' whole 200 x 200 x 121 grid, for a GPU:
``python benchmarks/quality.py --only main_200 --out benchmarks/results/quality_200.md``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from _results import publish

from occkit.config import load_config
from occkit.evaluation.report import baseline_table, height_table
from occkit.metrics.ground_ceiling import needed_above_iou

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {"main": ROOT / "configs" / "synthetic_uav.py", "refinement": ROOT / "configs" / "synthetic_refinement.py",
           "main_200": ROOT / "configs" / "synthetic_uav_200.py"}  # the users' whole grid, for a GPU (--only)
TARGETS = {"main": "gap closed >= 40 % overall and above ground; unseen recall >= 0.3 at added-voxel precision >= 0.6",
           "refinement": "gap closed >= 30 % overall; above-ground IoU >= 2x the best baseline's"}
TARGETS["main_200"] = TARGETS["main"]


def run_one(name: str, checkpoint: Path | None, runs_root: Path) -> tuple[dict, float, str]:
    """Train (or load) and evaluate one config; returns the eval report, the seconds it took, the checkpoint."""
    cfg = load_config(CONFIGS[name], [f'trainer.runs_root="{runs_root}"'])
    t0 = time.perf_counter()
    if checkpoint is None:
        from occkit.pipeline import run_main_job

        result = run_main_job(cfg, pictures=1)
        return result.metrics, time.perf_counter() - t0, str(result.run_dir)
    from occkit.commands.evaluate import resolve_model
    from occkit.evaluation.split_eval import evaluate

    ckpt, ckpt_cfg = resolve_model(checkpoint, None, [])  # the choice the run made on its test split
    from occkit.train.run_lookup import find_checkpoint

    if find_checkpoint(checkpoint).chosen_threshold() is None:
        from occkit.evaluation.model_choice import choose_model  # a run without threshold.json: choose as the job does

        choice = choose_model(ckpt, ckpt_cfg)
        ckpt, ckpt_cfg = choice.checkpoint, choice.cfg
    report = evaluate(str(ckpt), ckpt_cfg, "val", progress=False).report
    return report, time.perf_counter() - t0, str(ckpt)


def target_ceiling(name: str, runs_root: Path, votes: int = 4) -> dict | None:
    """How reproducible the validation targets are (synthetic only), from more accumulations of the same frames
    (same scenes and poses, other sweep pattern, range and registration noise: ``accumulation_seed`` 1..votes):

    * ``pair``: pooled IoU between the targets and one other accumulation;
    * ``oracle``: the QualityMetrics of a predictor that knows ``votes`` other accumulations and calls a voxel
      occupied when at least half of them do, scored against the real targets beside the same baselines. It
      stands in for the best any predictor can do on this data; its gap closed bounds the targets'.
    """
    import torch

    from occkit.data.dataset import OccupancyDataset
    from occkit.data.elevation import FEATURE as DEM_FEATURE
    from occkit.data.elevation import dem_ground_levels
    from occkit.data.grids import input_occupancy
    from occkit.metrics.build import build_quality_metrics

    cfg = load_config(CONFIGS[name], [f'trainer.runs_root="{runs_root}"'])
    if cfg.data.source.kind != "synthetic":
        return None

    def realization(seed: int) -> OccupancyDataset:
        source = cfg.data.source.model_copy(update={"accumulation_seed": seed})
        return OccupancyDataset(cfg.data.model_copy(update={"source": source, "cache_dir": None}), "val",
                                augment=False)

    sets = [realization(seed) for seed in range(votes + 1)]
    features = cfg.data.input.features
    quality = build_quality_metrics(cfg.eval.model_copy(update={"threshold": 0.5}), cfg.data.grid, None,
                                    DEM_FEATURE in features)
    inter = union = 0
    for i in range(len(sets[0])):
        ref = sets[0][i]
        others = [s[i]["target"] >= 0.5 for s in sets[1:]]
        target = ref["target"] >= 0.5
        inter, union = inter + int((target & others[0]).sum()), union + int((target | others[0]).sum())
        share = torch.stack(others).float().mean(0)
        logits = torch.where(share >= 0.5, 10.0, -10.0)[None]
        occ = input_occupancy(ref["input"][None], features, cfg.data.grid.shape[2])
        quality.update(logits, ref["target"][None], occ, None,
                       dem_ground_levels(ref["input"][None], features, cfg.data.grid.shape[2]))
    return {"pair": inter / union if union else None, "oracle": quality.compute(), "votes": votes}


def height_offset_ceiling(where: str, max_shift: int = 5) -> dict:
    """How much of the model's error is one height offset per frame: its validation prediction re-scored after
    moving each frame up or down by the whole number of levels that fits that frame's target best (an oracle
    that knows the frame's datum error; a network reading one frame cannot know it).

    Pseudo-LiDAR aligned to the datum puts a view's ground at the datum, so a frame whose terrain lies off it (the
    synthetic town's relief is +-1.5 m) gets its whole cloud that far off; aligned to an elevation model
    (``data.input.pseudo_ground_z='dem'``) what remains is the depth noise's own offset over the grid."""
    import torch
    from torch.utils.data import DataLoader

    from occkit.commands.evaluate import resolve_model
    from occkit.data.dataset import OccupancyDataset, collate
    from occkit.train.checkpoint import load_module

    ckpt, cfg = resolve_model(Path(where), None, [])
    module = load_module(str(ckpt), cfg).eval()
    dataset = OccupancyDataset(cfg.data, "val", augment=False)
    plain = [0, 0]
    shifted = [0, 0]
    shifts = []
    with torch.no_grad():
        for batch in DataLoader(dataset, batch_size=2, collate_fn=collate):
            logits, _ = module.predict_batch(batch)
            pred = torch.sigmoid(logits.float()) > float(cfg.eval.threshold)
            target = batch["target"] >= 0.5
            for p, t in zip(pred, target, strict=True):
                scores = []
                for dz in range(-max_shift, max_shift + 1):
                    q = torch.roll(p, dz, dims=0)
                    scores.append((int((q & t).sum()), int((q | t).sum()), dz))
                inter, union, _ = scores[max_shift]
                plain = [plain[0] + inter, plain[1] + union]
                inter, union, dz = max(scores, key=lambda s: s[0] / max(s[1], 1))
                shifted = [shifted[0] + inter, shifted[1] + union]
                shifts.append(dz)
    return {"iou": plain[0] / plain[1], "iou_shifted": shifted[0] / shifted[1], "shifts": shifts}


def dem_ground_ceiling(where: str, train_samples: int = 32, thresholds: tuple[float, ...] = (0.3, 0.4, 0.5, 0.6),
                       target_gap: float = 0.3) -> dict | None:
    """How far the ground can go from the elevation model, for a run whose input carries it (``dem_ground``;
    occkit.metrics.ground_ceiling): the rates of occupied levels around the DEM's height from ``train_samples``
    training frames, each predictor's rate threshold chosen on the same frames, then on the validation frames:

    * ``rates``: the levels the rates call occupied, in every column (no network, no oracle);
    * ``oracle``: the same where the target has ground, and nothing elsewhere (an oracle on what covers the
      ground): what any predictor placing the ground from this DEM can reach there;
    * ``with_model``: the oracle's ground beside the model's own voxels above the ground, overall;
    * ``needed_above``: the above-ground IoU that the oracle's ground would need beside it for ``target_gap``
      of the gap over the best baseline (as many voxels predicted above the ground as the target has there).

    None for a run without the feature."""
    import torch
    from torch.utils.data import DataLoader

    from occkit.commands.evaluate import resolve_model
    from occkit.data.dataset import OccupancyDataset, collate
    from occkit.data.elevation import FEATURE as DEM_FEATURE
    from occkit.data.elevation import dem_heights
    from occkit.metrics.ground_ceiling import DEMGroundRates
    from occkit.metrics.regions import ground_filter_voxels, ground_region
    from occkit.train.checkpoint import load_module

    ckpt, cfg = resolve_model(Path(where), None, [])
    features = cfg.data.input.features
    if DEM_FEATURE not in features:
        return None
    nz = cfg.data.grid.shape[2]
    window, band = ground_filter_voxels(cfg.eval.ground_window_m, cfg.eval.ground_band_m, cfg.data.grid.size)

    def frame(sample: dict) -> tuple:
        target = sample["target"][None] >= 0.5
        region = ground_region(target, window, band)
        return target, region, dem_heights(sample["input"][None], features, nz)

    train = OccupancyDataset(cfg.data, "train", augment=False)
    picked = range(min(train_samples, len(train)))
    rates = DEMGroundRates()
    for i in picked:
        target, region, heights = frame(train[i])
        rates.update(target & region, heights)
    scores = {(kind, t): [0, 0] for kind in ("rates", "oracle") for t in thresholds}
    for i in picked:  # each predictor's threshold, on the frames its rates came from
        target, region, heights = frame(train[i])
        truth = target & region
        for (kind, t), c in scores.items():
            pred = rates.predict(heights, nz, t, truth.any(dim=1) if kind == "oracle" else None) & region
            c[0], c[1] = c[0] + int((pred & truth).sum()), c[1] + int((pred | truth).sum())
    chosen = {kind: max(thresholds, key=lambda t, k=kind: scores[(k, t)][0] / max(scores[(k, t)][1], 1))
              for kind in ("rates", "oracle")}

    module = load_module(str(ckpt), cfg).eval()
    counts = {k: [0, 0] for k in ("model_ground", "rates", "oracle", "with_model")}
    above_targets = 0
    with torch.no_grad():
        for batch in DataLoader(OccupancyDataset(cfg.data, "val", augment=False), batch_size=2, collate_fn=collate):
            logits, _ = module.predict_batch(batch)
            model = torch.sigmoid(logits.float()) > float(cfg.eval.threshold)
            target = batch["target"] >= 0.5
            region = ground_region(target, window, band)
            heights = dem_heights(batch["input"], features, nz)
            truth = target & region
            oracle = rates.predict(heights, nz, chosen["oracle"], truth.any(dim=1)) & region
            preds = {"model_ground": (model & region, truth), "oracle": (oracle, truth),
                     "rates": (rates.predict(heights, nz, chosen["rates"]) & region, truth),
                     "with_model": (oracle | (model & ~region), target)}
            for key, (pred, tgt) in preds.items():
                counts[key][0] += int((pred & tgt).sum())
                counts[key][1] += int((pred | tgt).sum())
            above_targets += int((target & ~region).sum())
    iou = {k: tp / max(union, 1) for k, (tp, union) in counts.items()}
    return {"iou": iou, "thresholds": chosen, "train_samples": len(picked), "counts": counts,
            "above_targets": above_targets, "target_gap": target_gap}


def section(name: str, report: dict, seconds: float, where: str, trained: bool, ceiling: dict | None,
            offset: dict | None = None, ground: dict | None = None) -> str:
    b = report["baselines"]
    s_all, s_above = b["summary"]["iou"], b["summary"]["iou_above"]
    model = b["predictors"]["model"]
    lines = [f"### {name}: {CONFIGS[name].relative_to(ROOT)}", "",
             f"{report['num_frames']} validation frames (held-out scenes), grid {report['grid']}; "
             f"{'trained and evaluated' if trained else 'evaluated'} in {seconds:.0f} s ({where})", ""]
    lines += baseline_table(b)
    by_height = height_table(b)
    if by_height:
        lines += ["", "By the sensor's height over the ground:", ""] + by_height
    ray = report.get("ray_iou") or {}
    if ray.get("rayiou") is not None:
        base = ", ".join(f"{k} {v:.4f}" for k, v in (ray.get("baselines") or {}).items() if v is not None)
        lines += ["", f"RayIoU (rays from each frame's own and neighbouring sensor positions): model "
                      f"{ray['rayiou']:.4f}; {base}"]
    if ceiling is not None:
        o = ceiling["oracle"]
        orow = o["predictors"]["model"]
        share_all = _share(model["iou"], orow["iou"], s_all["best_baseline_value"])
        above_best = s_above["best_baseline_value"]
        share_above = _share(model["iou_above"], orow["iou_above"], above_best)
        lines += ["", "How far any predictor can go on these targets: the **vote oracle** knows "
                      f"{ceiling['votes']} other accumulations of the same frames (other sweep pattern, range and "
                      "registration noise) and predicts a voxel where at least half of them have one:", "",
                  "| predictor | IoU all | IoU ground | IoU above ground | unseen recall | added-voxel precision |",
                  "|---|---|---|---|---|---|",
                  f"| vote oracle ({ceiling['votes']} other accumulations) | {orow['iou']:.4f} | "
                  f"{orow['iou_ground']:.4f} | {orow['iou_above']:.4f} | {orow['recall_unseen']:.4f} | "
                  f"{orow['precision_added']:.4f} |", "",
                  f"the oracle closes {_pct(o['iou']['gap_closed'])} of the gap overall and "
                  f"{_pct(o['iou_above']['gap_closed'])} above ground; the model gets {_pct(share_all)} and "
                  f"{_pct(share_above)} of the oracle's gain over the best baseline. Two accumulations agree at IoU "
                  f"{ceiling['pair']:.4f}. Above the ground the oracle scores {_times(orow['iou_above'], above_best)} "
                  f"the best baseline's IoU and the model {_times(model['iou_above'], above_best)}: a ratio target "
                  "beyond the oracle's is out of reach of any predictor on this input."]
    if offset is not None:
        best = s_all["best_baseline_value"]
        gap = (offset["iou_shifted"] - best) / (1 - best)
        lines += ["", f"Held back by one height offset per frame: moved up or down by the levels that fit each "
                      f"frame best (an oracle on the frame's datum error), the same prediction scores IoU "
                      f"{offset['iou_shifted']:.4f} instead of {offset['iou']:.4f}, {_pct(gap)} of the gap; the "
                      f"best shifts were {offset['shifts']} levels."]
    if ground is not None:
        best = s_all["best_baseline_value"]
        g = ground["iou"]
        mixed_gap = (g["with_model"] - best) / (1 - best)
        needed = needed_above_iou(*ground["counts"]["oracle"], ground["above_targets"],
                                  best + ground["target_gap"] * (1 - best))
        lines += ["", "How far the ground can go from the elevation model (occkit.metrics.ground_ceiling): the "
                      "rates at which each level around the DEM's height holds target ground, from "
                      f"{ground['train_samples']} training frames, by the height's tenth of a level:", "",
                  "| ground predictor | IoU ground |", "|---|---|",
                  f"| **model** | {g['model_ground']:.4f} |",
                  f"| the DEM's levels by their rates (no network; rate >= {ground['thresholds']['rates']:g}) | "
                  f"{g['rates']:.4f} |",
                  f"| the same where the target has ground (oracle on what covers it; rate >= "
                  f"{ground['thresholds']['oracle']:g}) | {g['oracle']:.4f} |", "",
                  f"With that oracle's ground and the model's own voxels above the ground, the overall IoU is "
                  f"{g['with_model']:.4f} ({_pct(mixed_gap)} of the gap over the best baseline); beside it, "
                  f"{_pct(ground['target_gap'])} of the gap needs an above-ground IoU of "
                  + ("out of reach" if needed != needed else f"{needed:.3f}")
                  + f" (the model: {model['iou_above']:.3f}), with as many voxels predicted above the ground as "
                    "the target has there."]
    best_above = s_above["best_baseline_value"] or 0.0
    lines += ["", f"target: {TARGETS[name]}",
              f"measured: gap closed {_pct(s_all['gap_closed'])} overall, {_pct(s_above['gap_closed'])} above "
              f"ground; unseen recall {model['recall_unseen']:.3f} at added-voxel precision "
              f"{model['precision_added']:.3f}; above-ground IoU {model['iou_above']:.3f} = "
              f"{model['iou_above'] / best_above if best_above else float('nan'):.2f}x the best baseline's"]
    return "\n".join(lines)


def _share(model: float, oracle: float, best: float) -> float | None:
    """The model's gain over the best baseline as a share of the oracle's."""
    return (model - best) / (oracle - best) if oracle > best else None


def _times(value: float, best: float) -> str:
    """``value`` as a multiple of ``best`` ("n/a" when the best baseline scores nothing)."""
    return f"{value / best:.2f}×" if best > 0 else "n/a"


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.1f} %"


def gpu_line(measured: bool) -> str:
    """What the record says of the users' 200 x 200 x 121 grid: where it ran, or that it did not."""
    import torch

    if not measured:
        return ("GPU (200 x 200 x 121): unmeasured here; on a GPU: python benchmarks/quality.py --only main_200 "
                "--out benchmarks/results/quality_200.md")
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "the CPU, no GPU"
    return f"200 x 200 x 121 (configs/synthetic_uav_200.py): measured above, on {device}."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(CONFIGS), default=None)
    parser.add_argument("--checkpoint-main", type=Path, default=None)
    parser.add_argument("--checkpoint-refinement", type=Path, default=None)
    parser.add_argument("--checkpoint-main-200", type=Path, default=None)
    parser.add_argument("--runs-root", type=Path, default=Path("runs/bench_quality"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/quality.md"))
    args = parser.parse_args()
    names = [args.only] if args.only else ["main", "refinement"]
    parts = []
    for name in names:
        ckpt = getattr(args, f"checkpoint_{name}")
        report, seconds, where = run_one(name, ckpt, args.runs_root)
        offset = height_offset_ceiling(where) if name == "refinement" else None
        parts.append(section(name, report, seconds, where, ckpt is None, target_ceiling(name, args.runs_root),
                             offset, dem_ground_ceiling(where)))
    parts.append(gpu_line("main_200" in names))
    command = "python benchmarks/quality.py" + (f" --only {args.only}" if args.only else "") + "".join(
        f" --checkpoint-{name.replace('_', '-')} {getattr(args, f'checkpoint_{name}')}" for name in names
        if getattr(args, f"checkpoint_{name}") is not None)
    command += "".join(f" --{flag.replace('_', '-')} {getattr(args, flag)}" for flag in ("runs_root", "out")
                       if getattr(args, flag) != parser.get_default(flag))
    publish(args.out, "Prediction quality beside the trivial baselines", command, "\n\n".join(parts))


if __name__ == "__main__":
    main()
