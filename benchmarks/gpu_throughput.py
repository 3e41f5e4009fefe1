"""The GPU figures in one prepared run: the default model on the users' 200 x 200 x 121 grid, on one CUDA device.

* steps/s and peak memory at the users' batch 3, bf16 autocast and fp32;
* achieved TFLOP/s (3 x forward FLOPs per step) against the chip's dense bf16 peak;
* torch.compile on / off and channels_last on / off (bf16, batch 3);
* the largest bf16 batch that fits in 40 GB (``torch.cuda.set_per_process_memory_fraction``, an A100-40GB);
* voxelizing 1 M points on the GPU with torch (scatter into the grid) against occkit's numpy path, same run.

Every case runs in its own subprocess (benchmarks/train_throughput.py's ``run_case``), so one out-of-memory case
does not end the run. On a machine without CUDA it says so and measures nothing.

    python benchmarks/gpu_throughput.py [--steps 5] [--budget-gb 40]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from train_throughput import fmt, in_subprocess

from occkit.geometry.grid import GridSpec
from occkit.geometry.voxelize import voxelize
from occkit.geometry.voxelize_torch import voxelize_occupancy_torch

# dense bf16 tensor-core peaks (TFLOP/s) of the chips users train on
BF16_PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "A10": 125.0, "V100": 125.0}
DEFAULT_CHANNELS = [64, 128, 256, 512]  # occkit.models.ModelConfig's default


def chip_peak(name: str) -> float | None:
    return next((v for k, v in BF16_PEAK_TFLOPS.items() if k in name), None)


def voxelize_figures(spec: GridSpec, n: int = 1_000_000) -> str:
    rng = np.random.default_rng(0)
    pts = np.column_stack([rng.uniform(-40, 40, (n, 2)), rng.uniform(-10, 50, n)]).astype(np.float32)
    t0 = time.perf_counter()
    ref = voxelize(pts, spec, features=("occupancy",)).occupancy
    cpu_s = time.perf_counter() - t0
    dev_pts = torch.from_numpy(pts).cuda()
    voxelize_occupancy_torch(dev_pts, spec)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(10):
        grid = voxelize_occupancy_torch(dev_pts, spec)
    torch.cuda.synchronize()
    gpu_s = (time.perf_counter() - t0) / 10
    a, b = grid.cpu().numpy(), np.asarray(ref, bool)
    jaccard = (a & b).sum() / max((a | b).sum(), 1)
    return (f"voxelize {n:,} points: numpy {cpu_s * 1e3:.1f} ms, torch on the GPU {gpu_s * 1e3:.2f} ms "
            f"({cpu_s / gpu_s:.0f}x), Jaccard of the occupied sets {jaccard:.6f} (float32 on the GPU)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid", nargs=3, type=int, default=[200, 200, 121], metavar=("X", "Y", "Z"))
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--budget-gb", type=float, default=40.0)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device here: the GPU figures are unmeasured (run this script on a machine with a GPU)")
        return
    name = torch.cuda.get_device_name()
    total_gb = torch.cuda.get_device_properties(0).total_memory / 2**30
    peak = chip_peak(name)
    print(f"device {name} ({total_gb:.0f} GiB), torch {torch.__version__}, grid {args.grid}, "
          f"default model channels {DEFAULT_CHANNELS}, bf16 peak {peak or 'unknown'} TFLOP/s")
    base = {"device": "cuda", "grid": args.grid, "kind": "unet", "channels": DEFAULT_CHANNELS, "batch": 3,
            "bf16": True, "steps": args.steps, "warmup": 2}
    for label, case in (("batch 3 bf16", base), ("batch 3 fp32", {**base, "bf16": False}),
                        ("batch 3 bf16 + torch.compile", {**base, "compile": True}),
                        ("batch 3 bf16 + channels_last", {**base, "channels_last": True})):
        r = in_subprocess(case)
        share = f"  = {r['train_tflops'] / peak:.1%} of the bf16 peak" if peak and "error" not in r else ""
        print(f"{label:32s}: {fmt(r)}{share}", flush=True)
    fraction = min(1.0, args.budget_gb / total_gb)
    lo, b = 0, 4
    while b <= 256:  # double until a batch fails, then bisect
        if "error" in in_subprocess({**base, "batch": b, "steps": 1, "warmup": 1, "mem_fraction": fraction}):
            break
        lo, b = b, b * 2
    hi = b
    while hi - lo > 1:
        mid = (lo + hi) // 2
        ok = "error" not in in_subprocess({**base, "batch": mid, "steps": 1, "warmup": 1, "mem_fraction": fraction})
        lo, hi = (mid, hi) if ok else (lo, mid)
    print(f"largest bf16 batch in {args.budget_gb:g} GB: {lo} ({lo / 3:.1f}x the users' batch 3; target >= 8)")
    x, y, z = args.grid
    print(voxelize_figures(GridSpec(pc_range=(-40.0, -40.0, -10.0, 40.0, 40.0, 50.5), voxel_size=(80 / x, 80 / y,
                                    60.5 / z))))


if __name__ == "__main__":
    main()
