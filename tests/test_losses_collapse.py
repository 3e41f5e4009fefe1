"""Does the loss keep a tiny U-Net from collapsing to "all empty" at ~0.8% occupancy?

Task (learnable, realistic): targets are sparse boxes standing on the ground (~0.8% of voxels); the input
is a degraded copy (40% of occupied voxels dropped, 0.2% random clutter), so the net must denoise and
complete from neighbours. Run ``python tests/test_losses_collapse.py [DROP CLUTTER [NAMES]]`` for the
comparison table (tiny U-Net [16, 32], Z=8, 48x48, batch 4, 200 AdamW steps, lr 3e-3, held-out IoU at p>0.5).

Finding (2026-11-23, CPU): no loss fully collapsed in 200 steps, but on the hard task (drop 0.8, clutter 1%)
plain bce under-predicts (pred rate 0.0047 vs target 0.0089, IoU 0.40), weighted_bce (pw 10) and focal alone
(alpha 0.99) over-predict (mean prob 4-5x the target rate, IoU 0.39 / 0.47 on the easy task), while every
dice combination, including the default focal_dice + mean term, lands on the target rate (IoU 0.46-0.47 hard,
0.85 easy).
"""

from __future__ import annotations

import math
import time

import torch

from occkit.losses import LossConfig, OccupancyLoss
from occkit.models import ModelConfig, build_model
from occkit.train.config import OptimConfig
from occkit.train.optim import build_optimizer, build_scheduler

Z, Y, X = 8, 48, 48


def make_batch(gen: torch.Generator, batch: int, drop: float = 0.4, clutter_rate: float = 0.002
               ) -> tuple[torch.Tensor, torch.Tensor]:
    target = torch.zeros(batch, Z, Y, X)
    for b in range(batch):
        for _ in range(8):
            sy, sx = (int(v) for v in torch.randint(1, 4, (2,), generator=gen))
            y0 = int(torch.randint(0, Y - sy, (1,), generator=gen))
            x0 = int(torch.randint(0, X - sx, (1,), generator=gen))
            h = int(torch.randint(2, Z + 1, (1,), generator=gen))
            target[b, :h, y0:y0 + sy, x0:x0 + sx] = 1.0
    keep = (torch.rand(target.shape, generator=gen) > drop).float()
    clutter = (torch.rand(target.shape, generator=gen) < clutter_rate).float()
    inp = torch.clamp(target * keep + clutter, 0, 1)
    return inp, target


def _run(loss_cfg: LossConfig, steps: int = 200, seed: int = 0, drop: float = 0.4, clutter_rate: float = 0.002
        ) -> dict[str, float]:
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = build_model(ModelConfig(unet_channels=[16, 32], prior_occupancy=0.0083), Z, Z)
    optim_cfg = OptimConfig(lr=3e-3, warmup_steps=20)
    opt = build_optimizer(model, optim_cfg)
    sched = build_scheduler(opt, optim_cfg, steps)
    loss_fn = OccupancyLoss(loss_cfg)
    for _ in range(steps):
        inp, tgt = make_batch(gen, 4, drop, clutter_rate)
        out = loss_fn(model(inp), tgt)
        opt.zero_grad(set_to_none=True)
        out.total.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        opt.step()
        sched.step()
    model.eval()
    inp, tgt = make_batch(torch.Generator().manual_seed(seed + 1000), 8, drop, clutter_rate)
    with torch.no_grad():
        prob = torch.sigmoid(model(inp))
    pred = prob > 0.5
    t = tgt > 0.5
    inter, union = (pred & t).sum().item(), (pred | t).sum().item()
    return {"iou": inter / max(union, 1), "pred_rate": pred.float().mean().item(),
            "target_rate": t.float().mean().item(), "mean_prob": prob.mean().item(),
            "input_iou": ((inp > 0.5) & t).sum().item() / max(((inp > 0.5) | t).sum().item(), 1)}


def run(loss_cfg: LossConfig, steps: int = 200, seed: int = 0, drop: float = 0.4, clutter_rate: float = 0.002
        ) -> dict[str, float]:
    """One intra-op thread: tiny tensors, and no oversubscription stalls on shared runners."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _run(loss_cfg, steps, seed, drop, clutter_rate)
    finally:
        torch.set_num_threads(n)


def test_default_loss_does_not_collapse() -> None:
    r = run(LossConfig(), steps=150)
    assert r["pred_rate"] > 0.25 * r["target_rate"], r  # not "all empty"
    assert r["pred_rate"] < 4 * r["target_rate"], r  # not "all occupied"
    assert r["iou"] > 0.3, r
    assert math.isfinite(r["mean_prob"])


if __name__ == "__main__":
    import sys

    drop, clutter_rate = (float(v) for v in sys.argv[1:3]) if len(sys.argv) > 2 else (0.4, 0.002)
    print(f"task: drop={drop} clutter={clutter_rate}")
    variants = {
        "default (focal_dice, mean 10)": LossConfig(),
        "bce": LossConfig(kind="bce", mean_weight=0),
        "weighted_bce pw=10": LossConfig(kind="weighted_bce", mean_weight=0),
        "dice alone": LossConfig(kind="dice", mean_weight=0),
        "focal alone (a=.99)": LossConfig(kind="focal", mean_weight=0),
        "focal_dice, no mean": LossConfig(mean_weight=0),
        "bce_dice": LossConfig(kind="bce_dice", mean_weight=0),
        "focal a=.75 + dice + mean": LossConfig(focal_alpha=0.75),
    }
    print(f"{'loss':32s} {'IoU':>6s} {'pred_rate':>9s} {'tgt_rate':>8s} {'mean_p':>7s} {'in_IoU':>6s} {'s':>5s}")
    only = sys.argv[3].split(",") if len(sys.argv) > 3 else None  # e.g. "bce,dice alone"
    for name, cfg in variants.items():
        if only and not any(name.startswith(o) for o in only):
            continue
        t0 = time.perf_counter()
        r = run(cfg, drop=drop, clutter_rate=clutter_rate)
        print(f"{name:32s} {r['iou']:6.3f} {r['pred_rate']:9.4f} {r['target_rate']:8.4f} {r['mean_prob']:7.4f} "
              f"{r['input_iou']:6.3f} {time.perf_counter() - t0:5.1f}", flush=True)
