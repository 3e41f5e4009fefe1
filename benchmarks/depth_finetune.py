"""Frozen vs fine-tuned depth in the joint graph (configs/synthetic_depth_finetune.py), at equal steps.

The users train monocular depth and the occupancy network together. Whether that beats a frozen depth network
(the depth cache) is the question here, on held-out scenes of the synthetic world:

1. pre-train occkit's small depth CNN on the train split's rendered depth (scale-invariant log loss): DA3's
   weights cannot be downloaded here, so the depth network that "already predicts depth" is made first;
2. train the occupancy network on that depth **frozen**, and the same graph with the depth network
   **fine-tuned** (the refinement network at 10x the depth's learning rate), same steps, same seed;
3. evaluate both on the validation scenes (threshold chosen on the test split for each): IoU beside the trivial
   baselines computed from each model's own input, the depth error of the depth the grid was made from, and
   the refined cloud's F-score against the LiDAR (mode complete, raw pseudo-points beside it).

    python benchmarks/depth_finetune.py [--pretrain-steps 800] [--epochs 12]
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import torch
from _results import markdown_table, publish

from occkit.config import ExperimentConfig, apply_overrides, load_config, resolve_cache_dir

ROOT = Path(__file__).resolve().parents[1]
CONFIG = "synthetic_depth_finetune"


def _images_and_depth(cfg: ExperimentConfig, split: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The split's images, true depths and what the network's output multiplies (the ground plane's depth with
    ``model.depth.prior="ground_plane"``, else 1)."""
    from occkit.data.dataset import OccupancyDataset
    from occkit.depth.plane_prior import ground_plane_depth

    ds = OccupancyDataset(cfg.data, split, seed=cfg.seed, augment=False)
    samples = [ds[i] for i in range(len(ds))]
    images, depth = torch.stack([s["image"] for s in samples]), torch.stack([s["depth_gt"] for s in samples])
    if cfg.model.depth.prior != "ground_plane":
        return images, depth, torch.ones_like(depth)
    K, T = torch.stack([s["K"] for s in samples]), torch.stack([s["T_grid_cam"] for s in samples])
    plane = ground_plane_depth(K, T, depth.shape[-2], depth.shape[-1], cfg.data.input.pseudo_ground_z,
                               cfg.model.depth.max_depth)
    return images, depth, plane


def pretrain_depth(cfg: ExperimentConfig, steps: int, out: Path, batch: int = 8, seed: int = 0) -> dict[str, float]:
    """Train the depth CNN on the train split's true depth; save its state dict to ``out``; val figures."""
    from occkit.metrics.depth import depth_errors
    from occkit.models.depth_cnn import DepthCNN, silog_loss

    torch.manual_seed(seed)
    images, depth, base = _images_and_depth(cfg, "train")
    target = torch.where(depth > 0, depth / base, torch.zeros_like(depth))  # what the network itself must output
    plane_prior = cfg.model.depth.prior == "ground_plane"
    net = DepthCNN(cfg.model.depth.channels, init_depth=1.0 if plane_prior else 100.0)
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps, pct_start=0.1)
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    for step in range(steps):
        idx = torch.from_numpy(rng.choice(len(images), size=min(batch, len(images)), replace=False))
        x, d = images[idx].float() / 255.0, target[idx]
        if rng.random() < 0.5:  # flips keep a nadir image a valid image of the same kind of town
            x, d = x.flip(-1), d.flip(-1)
        if rng.random() < 0.5:
            x, d = x.flip(-2), d.flip(-2)
        # with the plane prior the scale is given: penalise it too (lam 0.5); without, only the shape counts
        loss = silog_loss(net(x), d, lam=0.5 if plane_prior else 0.85)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 100 == 0 or step == steps - 1:
            print(f"  depth pre-training step {step:4d}: silog {float(loss.detach()):.4f}", flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), out)
    vi, vd, vbase = _images_and_depth(cfg, "val")
    with torch.no_grad():
        pred = torch.cat([net(vi[i:i + 8].float() / 255.0) for i in range(0, len(vi), 8)]) * vbase
        plane = depth_errors(vbase, vd) if plane_prior else None
    if not plane_prior:  # per-image median scaling: the scale the graph's ground alignment fixes anyway
        scale = torch.stack([(vd[i][vd[i] > 0].median() / pred[i][vd[i] > 0].median()) for i in range(len(vd))])
        pred = pred * scale.view(-1, 1, 1)
    return {"seconds": time.perf_counter() - t0, "plane": plane, **depth_errors(pred, vd)}


def refined_fscores(checkpoint: Path, cfg: ExperimentConfig) -> dict[str, float]:
    """Mean F@1vox / F@2vox and Chamfer over the validation frames: the model's own pseudo-points (raw) and
    the cloud refined with its prediction (mode complete), against the LiDAR inside the grid."""
    from occkit.data.grids import FrameToGrids
    from occkit.evaluation.frame_refine import refine_frame
    from occkit.evaluation.refine import chamfer_distance, fscore
    from occkit.train.checkpoint import load_module

    module = load_module(checkpoint, cfg).eval()
    source, to_grids = cfg.data.source.build("val"), FrameToGrids(cfg.data)
    voxel = float(min(cfg.data.grid.size[:2]))
    sums: dict[str, list[float]] = {}
    for i in range(len(source)):
        fc = refine_frame(module, source[i], to_grids, float(cfg.eval.threshold), mode="complete")
        for name, cloud in (("raw", fc.raw), ("refined", fc.refined.xyz)):
            sums.setdefault(f"{name}_f1", []).append(fscore(cloud, fc.lidar, voxel).fscore)
            sums.setdefault(f"{name}_f2", []).append(fscore(cloud, fc.lidar, 2 * voxel).fscore)
            sums.setdefault(f"{name}_chamfer", []).append(chamfer_distance(cloud, fc.lidar).chamfer)
    return {k: float(np.mean(v)) for k, v in sums.items()}


# name -> overrides of the config: frozen depth (the depth cache), depth fine-tuned by the occupancy loss and its
# depth loss together (the config), and the ablation where only the depth loss reaches the depth network
VARIANTS = {"frozen": ["model.depth.freeze=true"],
            "finetuned": ["model.depth.freeze=false"],
            "depth_loss_only": ["model.depth.freeze=false", "model.depth.occupancy_grad=false"]}
LABELS = {"frozen": "frozen", "finetuned": "fine-tuned", "depth_loss_only": "depth loss only"}


def train_variant(cfg: ExperimentConfig, name: str, weights: Path, root: Path) -> dict[str, object]:
    from occkit.train.runner import fit

    vcfg = apply_overrides(cfg, [f'name="{CONFIG}_{name}"', f'model.depth.weights="{weights}"', *VARIANTS[name]])
    t0 = time.perf_counter()
    result = fit(vcfg, run_dir=root / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}", wandb=False, verbose=False)
    return evaluate_variant(vcfg, result.run_dir, time.perf_counter() - t0)


def evaluate_variant(vcfg: ExperimentConfig, run_dir: Path, seconds: float) -> dict[str, object]:
    """The figures of one trained variant: its last checkpoint on the validation scenes, its logged columns."""
    from occkit.evaluation.model_choice import select_threshold
    from occkit.evaluation.split_eval import evaluate

    ckpt = Path(run_dir) / "checkpoints" / "last.ckpt"
    vcfg = select_threshold(ckpt, vcfg, "test")
    report = evaluate(str(ckpt), vcfg, "val", progress=False).report
    from occkit.health.rundir import read_run

    record = read_run(run_dir)
    depth_norms = record.series("health/grad_norm/net.depth")[1]

    def last(key: str) -> float:
        values = record.series(key)[1]
        return values[-1] if values else math.nan

    return {"report": report, "seconds": seconds, "steps": record.last_step(),
            "threshold": float(vcfg.eval.threshold), "clouds": refined_fscores(ckpt, vcfg),
            "depth_abs_rel": last("val/depth_abs_rel"), "depth_rmse": last("val/depth_rmse"),
            "depth_grad_norm": (float(np.mean(depth_norms)), len(depth_norms)) if depth_norms else None,
            "run_dir": str(run_dir)}


def _f(v: object, digits: int = 4) -> str:
    return "n/a" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{float(v):.{digits}f}"


def iou_rows(name: str, report: dict) -> list[list[str]]:
    b = report["baselines"]
    rows = []
    for key, row in b["predictors"].items():
        label = f"**{name}: model**" if key == "model" else f"{name}: {b['labels'].get(key, key)}"
        rows.append([label, _f(row.get("iou")), _f(row.get("iou_ground")), _f(row.get("iou_above")),
                     _f(row.get("recall_unseen")), _f(row.get("precision_added"))])
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pretrain-steps", type=int, default=800)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--runs-root", type=Path, default=ROOT / "runs" / "bench_depth")
    ap.add_argument("--reuse", action="store_true", help="reuse the pre-training and the variants a previous run "
                    "with the same --runs-root recorded (<runs-root>/<variant>.json); train only what is missing")
    args = ap.parse_args()
    from occkit.data.preprocessing import preprocess

    cfg = load_config(CONFIG, [f'trainer.runs_root="{args.runs_root}"', f"trainer.max_epochs={args.epochs}"])
    cfg = resolve_cache_dir(cfg, always=True)
    preprocess(cfg.data, ["train", "val", "test"], workers=2, progress=False)
    weights = args.runs_root / "depth_cnn_pretrained.pt"
    pre = _cached(args.runs_root / "pretrain.json", args.reuse and weights.is_file(),
                  lambda: pretrain_depth(cfg, args.pretrain_steps, weights), "pre-training the depth CNN")
    runs = {name: _cached(args.runs_root / f"{name}.json", args.reuse,
                          lambda n=name: train_variant(cfg, n, weights, args.runs_root), f"training: {name}")
            for name in VARIANTS}

    header = ["predictor", "IoU all", "IoU ground", "IoU above ground", "unseen recall", "added-voxel precision"]
    rows = [row for name in VARIANTS for row in iou_rows(LABELS[name], runs[name]["report"])]
    fr, ft, do = runs["frozen"], runs["finetuned"], runs["depth_loss_only"]
    summ = {k: r["report"]["baselines"]["summary"]["iou"] for k, r in runs.items()}
    cl = {k: r["clouds"] for k, r in runs.items()}
    cloud_rows = [[f"{LABELS[key]}: {kind}", _f(cl[key][f"{kind}_f1"], 3), _f(cl[key][f"{kind}_f2"], 3),
                   _f(cl[key][f"{kind}_chamfer"], 3)] for key in VARIANTS for kind in ("raw", "refined")]
    gn = ft["depth_grad_norm"]
    lines = [
        f"Grid {cfg.data.grid.describe()}; camera {cfg.data.source.camera.width} x {cfg.data.source.camera.height}; "
        f"{cfg.data.source.train_frames} training frames, {cfg.data.source.val_frames} validation frames of held-out "
        f"scenes; {fr['steps']} optimizer steps for every variant (same seed and batches). Frozen = the "
        "pre-trained depth held still (what the depth cache gives); fine-tuned = the config: the occupancy loss "
        f"and a depth loss on the true depth (weight {cfg.model.depth.depth_loss_weight}) both train the depth "
        f"network after its first {cfg.model.depth.frozen_steps} steps, at 1/10 of the refinement network's lr; "
        "depth loss only = the same, with the occupancy loss's gradient kept out of the depth network.",
        "",
        f"Depth CNN pre-trained for {args.pretrain_steps} steps on the train split's rendered depth "
        f"({pre['seconds']:.0f} s): validation abs-rel {pre['abs_rel']:.4f}, RMSE {pre['rmse']:.3f} m"
        + (f"; the ground plane alone (the prior it starts from): abs-rel {pre['plane']['abs_rel']:.4f}, RMSE "
           f"{pre['plane']['rmse']:.3f} m." if pre["plane"] else " (per-image median scale)."),
        "",
        markdown_table(header, rows),
        "",
        "IoU at the thresholds chosen on the test split: "
        + "; ".join(f"{LABELS[k]} {_f(r['report']['overall']['iou'])} (threshold {r['threshold']:.2f}, gap closed "
                    f"over its best baseline {100 * _nan(summ[k].get('gap_closed')):.1f} %)" for k, r in runs.items())
        + ".",
        "",
        "The depth the grid was made from (with the plane prior or ground alignment the config asks for), "
        "validation: " + "; ".join(f"{LABELS[k]} abs-rel {_f(r['depth_abs_rel'])}, RMSE {_f(r['depth_rmse'], 3)} m"
                                   for k, r in runs.items()) + ".",
        "",
        "Refined cloud vs LiDAR (mean over the validation frames; raw = the model's own pseudo-points in the grid):",
        "",
        markdown_table(["cloud", "F@1vox", "F@2vox", "Chamfer (m)"], cloud_rows),
        "",
        ("depth group gradient norm (health/grad_norm/net.depth, fine-tuned run): "
         f"mean {gn[0]:.3g} over {gn[1]} logged steps" if gn else "depth group gradient norm: not logged"),
        "wall time: " + ", ".join(f"{LABELS[k]} {r['seconds']:.0f} s" for k, r in runs.items()) + " (2-core CPU)",
        "",
        "targets: depth group grad norms non-zero and logged; fine-tuned beats frozen at equal steps on IoU and on "
        "the refined cloud's F-score",
        f"measured (fine-tuned vs frozen): IoU {_f(ft['report']['overall']['iou'])} vs "
        f"{_f(fr['report']['overall']['iou'])}, refined F@1vox {_f(cl['finetuned']['refined_f1'], 3)} vs "
        f"{_f(cl['frozen']['refined_f1'], 3)}; depth loss only: IoU {_f(do['report']['overall']['iou'])}, refined "
        f"F@1vox {_f(cl['depth_loss_only']['refined_f1'], 3)}",
        "",
        "What this shows: on the synthetic world, with a small depth CNN pre-trained on that world's depth, "
        "training it on in the graph against frozen depth at equal steps, and (the third variant) how much of the "
        "difference the occupancy loss's gradient makes beyond the depth loss. What it does not show: anything "
        "about DA3's weights (not available here), real images, or GPU-scale images and steps; and every IoU here "
        "is low, because a 160 x 128 monocular depth from 50-130 m up is metres off (RMSE above).",
    ]
    text = "\n".join(line for line in lines if line is not None)
    publish(ROOT / "benchmarks" / "results" / "depth_finetune.md", "Depth in the graph: frozen vs fine-tuned depth",
            "python benchmarks/depth_finetune.py" + (" --reuse" if args.reuse else "")
            + (f" --pretrain-steps {args.pretrain_steps}"
                                                    if args.pretrain_steps != 800 else "")
            + (f" --epochs {args.epochs}" if args.epochs != 12 else ""), text)


def _cached(path: Path, reuse: bool, compute: object, what: str) -> dict:
    """``compute()``'s result, recorded in ``path``; with ``reuse`` an earlier record is read instead."""
    import json

    if reuse and path.is_file():
        print(f"{what}: reusing {path}", flush=True)
        return json.loads(path.read_text())
    print(what, flush=True)
    result = compute()  # type: ignore[operator]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, default=float))
    return result


def _nan(v: object) -> float:
    return float(v) if v is not None else math.nan


if __name__ == "__main__":
    main()
