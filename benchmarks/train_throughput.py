"""Training-step throughput and peak memory of the BEV height U-Net on the 200x200x121 grid.

One step = forward + OccupancyLoss + backward + AdamW step. Each case runs in its own subprocess so the
CPU peak RSS (``ru_maxrss``) belongs to that case alone. The reference, measured in the same run, is a
plain stack of 3x3 Conv2d+ReLU layers at full resolution with the same forward FLOPs (counted with
``torch.utils.flop_counter``), trained with plain BCE: the ratio says how much the U-Net's structure
(norms, skips, pooling, resampling, the loss) costs over raw convolution.
On CUDA it also runs batch 3 under bf16 autocast and searches the largest batch that fits.

    python benchmarks/train_throughput.py                # all cases
    python benchmarks/train_throughput.py --steps 3 --grid 96 96 32   # quicker
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from occkit.losses import LossConfig, OccupancyLoss
from occkit.models import ModelConfig, build_model
from occkit.train.config import OptimConfig
from occkit.train.optim import build_optimizer

FEATURES = 2  # input features per height level (e.g. soft occupancy + count), folded into channels


class PlainConvStack(torch.nn.Module):
    """Reference: ``depth`` 3x3 conv+ReLU at full resolution, width ``width``, 1x1 head."""

    def __init__(self, in_ch: int, out_ch: int, width: int, depth: int) -> None:
        super().__init__()
        layers: list[torch.nn.Module] = [torch.nn.Conv2d(in_ch, width, 3, padding=1), torch.nn.ReLU()]
        for _ in range(depth - 1):
            layers += [torch.nn.Conv2d(width, width, 3, padding=1), torch.nn.ReLU()]
        layers.append(torch.nn.Conv2d(width, out_ch, 1))
        self.net = torch.nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def forward_flops(model: torch.nn.Module, x: torch.Tensor) -> int:
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model(x)
    return int(fc.get_total_flops())


def make_model(case: dict, z: int) -> torch.nn.Module:
    if case["kind"] == "unet":
        return build_model(ModelConfig(unet_channels=case["channels"], residual=True), FEATURES * z, z)
    return PlainConvStack(FEATURES * z, z, case["width"], case["depth"])


def run_case(case: dict) -> dict:
    """Time ``steps`` training steps after ``warmup`` steps; returns timings and peak memory."""
    torch.manual_seed(0)
    dev = torch.device(case["device"])
    if dev.type == "cuda" and case.get("mem_fraction"):  # emulate a smaller card (e.g. 40 GB on an H200)
        torch.cuda.set_per_process_memory_fraction(float(case["mem_fraction"]))
    x_, y_, z = case["grid"]
    batch = case["batch"]
    model = make_model(case, z).to(dev)
    fmt_ = torch.channels_last if case.get("channels_last") else torch.contiguous_format
    model = model.to(memory_format=fmt_)
    loss_fn = OccupancyLoss(LossConfig() if case["kind"] == "unet" else LossConfig(kind="bce", mean_weight=0))
    opt = build_optimizer(model, OptimConfig())
    inp = torch.rand(batch, FEATURES * z, y_, x_, device=dev).to(memory_format=fmt_)
    tgt = (torch.rand(batch, z, y_, x_, device=dev) < 0.0083).float()
    autocast = torch.autocast(dev.type, dtype=torch.bfloat16, enabled=case["bf16"])
    flops = forward_flops(model, inp[:1]) * batch
    net = torch.compile(model) if case.get("compile") else model

    def step() -> None:
        with autocast:
            logits = net(inp)
        out = loss_fn(logits, tgt)
        opt.zero_grad(set_to_none=True)
        out.total.backward()
        opt.step()

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize()

    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    for _ in range(case["warmup"]):
        step()
    sync()
    t0 = time.perf_counter()
    for _ in range(case["steps"]):
        step()
    sync()
    dt = (time.perf_counter() - t0) / case["steps"]
    peak = (torch.cuda.max_memory_allocated() if dev.type == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)  # ru_maxrss is KiB on Linux
    params = sum(p.numel() for p in model.parameters())
    return {"sec_per_step": dt, "steps_per_s": 1 / dt, "peak_bytes": peak, "fwd_gflop": flops / 1e9,
            "train_tflops": 3 * flops / dt / 1e12, "params": params}


def in_subprocess(case: dict) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--case", json.dumps(case)], capture_output=True, text=True)
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"
        return {"error": tail}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def matched_reference(base: dict, target_gflop: float, width: int = 64) -> dict:
    """Plain conv stack with (about) the forward FLOPs of the U-Net."""
    x_, y_, z = base["grid"]
    probe = PlainConvStack(FEATURES * z, z, width, 1)
    first = forward_flops(probe, torch.zeros(1, FEATURES * z, y_, x_)) / 1e9
    per_layer = 2 * width * width * 9 * x_ * y_ / 1e9
    depth = max(1, round(1 + (target_gflop - first) / per_layer))
    return {**base, "kind": "plain", "width": width, "depth": depth}


def loss_cost(grid: list[int], device: str, reps: int = 5) -> None:
    """Forward+backward of the default OccupancyLoss (fused, compiled on grids this size) and of the same loss
    through autograd over its composed terms, against torch's plain BCE on one full grid (the reference)."""
    x_, y_, z = grid
    logits = torch.randn(1, z, y_, x_, device=device, requires_grad=True)
    tgt = (torch.rand(1, z, y_, x_, device=device) < 0.0083).float()
    fused, composed = OccupancyLoss(), OccupancyLoss(LossConfig(fused=False))
    cases = {"reference F.binary_cross_entropy_with_logits": lambda: torch.nn.functional.
             binary_cross_entropy_with_logits(logits, tgt),
             "default OccupancyLoss (focal + dice + mean, fused)": lambda: fused(logits, tgt).total,
             "the same loss, autograd through the composed terms": lambda: composed(logits, tgt).total}
    times = {}
    for name, fn in cases.items():
        t_first = time.perf_counter()
        fn().backward()  # the fused loss compiles its kernels here, once per process
        first = time.perf_counter() - t_first
        if device == "cuda":
            torch.cuda.synchronize()
        runs = []
        for _ in range(reps):
            t0 = time.perf_counter()
            fn().backward()
            if device == "cuda":
                torch.cuda.synchronize()
            runs.append(time.perf_counter() - t0)
        times[name] = sorted(runs)[reps // 2]
        print(f"loss fwd+bwd, {name}: {times[name] * 1e3:.1f} ms (median of {reps}; first call {first:.1f} s)")
    ref, default, composed_t = times.values()
    print(f"  ratio default/BCE: {default / ref:.2f} (target <= 2), composed/BCE: {composed_t / ref:.2f}", flush=True)


def fmt(r: dict) -> str:
    if "error" in r:
        return f"FAILED: {r['error']}"
    return (f"{r['steps_per_s']:7.3f} steps/s  {r['sec_per_step'] * 1e3:8.1f} ms/step  "
            f"peak {r['peak_bytes'] / 2**30:6.2f} GiB  fwd {r['fwd_gflop']:7.1f} GFLOP  "
            f"{r['train_tflops']:6.3f} TFLOP/s  {r['params'] / 1e6:6.2f} M params")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--case", help=argparse.SUPPRESS)
    ap.add_argument("--grid", nargs=3, type=int, default=[200, 200, 121], metavar=("X", "Y", "Z"))
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--loss-only", action="store_true", help="only the loss cost against plain BCE")
    args = ap.parse_args()
    if args.case:
        print(json.dumps(run_case(json.loads(args.case))))
        return
    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    name = torch.cuda.get_device_name() if cuda else f"CPU, {torch.get_num_threads()} threads"
    print(f"torch {torch.__version__}, device {name}, grid {args.grid} (X Y Z), "
          f"input channels {FEATURES}*Z, default OccupancyLoss, AdamW")
    loss_cost(args.grid, device)
    if args.loss_only:
        return
    base = {"device": device, "grid": args.grid, "batch": 1, "bf16": False, "steps": args.steps,
            "warmup": args.warmup}
    for channels in ([32, 64, 128, 256], [64, 128, 256, 512]):
        unet = in_subprocess({**base, "kind": "unet", "channels": channels})
        print(f"U-Net {channels} fp32 batch 1 : {fmt(unet)}", flush=True)
        if "error" in unet:
            continue
        ref_case = matched_reference(base, unet["fwd_gflop"])
        ref = in_subprocess(ref_case)
        print(f"  reference plain {ref_case['depth']}x conv3x3 w{ref_case['width']} fp32 : {fmt(ref)}", flush=True)
        if "error" not in ref:
            print(f"  ratio U-Net/reference: steps/s {unet['steps_per_s'] / ref['steps_per_s']:.2f}, "
                  f"achieved FLOP/s {unet['train_tflops'] / ref['train_tflops']:.2f}, "
                  f"peak memory {unet['peak_bytes'] / ref['peak_bytes']:.2f}")
        if cuda:
            big = {**base, "kind": "unet", "channels": channels, "batch": 3, "bf16": True}
            r16 = in_subprocess(big)
            r32 = in_subprocess({**big, "bf16": False})
            print(f"  batch 3 bf16 autocast : {fmt(r16)}")
            print(f"  batch 3 fp32          : {fmt(r32)}")
            if "error" not in r16 and "error" not in r32:
                print(f"  ratio bf16/fp32 steps/s {r16['steps_per_s'] / r32['steps_per_s']:.2f}")
            lo, b = 0, 4
            while b <= 512:  # double until it fails, then bisect
                r = in_subprocess({**big, "batch": b, "steps": 1, "warmup": 1})
                if "error" in r:
                    break
                lo, b = b, b * 2
            hi = b
            while hi - lo > 1:
                mid = (lo + hi) // 2
                ok = "error" not in in_subprocess({**big, "batch": mid, "steps": 1, "warmup": 1})
                lo, hi = (mid, hi) if ok else (lo, mid)
            print(f"  largest bf16 batch that fits: {lo}")


if __name__ == "__main__":
    main()
