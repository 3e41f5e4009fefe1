"""What one training step of the main job's network costs per memory layout, precision and window size.

The network, grid, features and batch are the main job's (configs/synthetic_uav.py: 96 x 96 x 121, two features,
batch 4), and so is the data: its first training frames (a step's cost depends on how many levels hold hits, which
the shared filter's band follows). One step = forward + BCE + backward + AdamW. The reference, measured in the same
run, is the same network with its convolution weights in the plain NCHW layout, fp32, its shared filter on every
level: what occkit ran before it stored them channels-last. The other rows are what a config chooses:
``trainer.precision="bf16-mixed"``, ``data.augment.crop`` and ``model.skip_shared_band``.

    python benchmarks/step_speed.py [--steps 5] [--config configs/synthetic_uav.py]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from _results import publish

from occkit.config import load_config
from occkit.data.dataset import OccupancyDataset
from occkit.models import build_model

ROOT = Path(__file__).resolve().parents[1]


def step_ms(net: torch.nn.Module, x: torch.Tensor, target: torch.Tensor, bf16: bool, steps: int) -> float:
    """Median milliseconds of ``steps`` training steps after one warm-up step."""
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4)
    times = []
    for i in range(steps + 1):
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = net(x)
        loss = F.binary_cross_entropy_with_logits(logits.float(), target)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if i:
            times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(ROOT / "configs" / "synthetic_uav.py"))
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--crop", type=int, nargs=2, default=[48, 48], metavar=("X", "Y"))
    args = ap.parse_args()
    cfg = load_config(args.config)
    nx, ny, nz = cfg.data.grid.shape
    channels = len(cfg.data.input.features) * nz
    batch = cfg.data.batch_size
    band = cfg.model.skip_shared_band
    frames = OccupancyDataset(cfg.data.model_copy(update={"cache_dir": None}), "train", augment=False)
    samples = [frames[i] for i in range(batch)]
    inputs = torch.stack([torch.as_tensor(s["input"]) for s in samples])
    targets = torch.stack([torch.as_tensor(s["target"]) for s in samples]).float()

    def sample(h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The frames' central h x w window."""
        y0, x0 = (ny - h) // 2, (nx - w) // 2
        return (inputs[..., y0:y0 + h, x0:x0 + w].contiguous(), targets[..., y0:y0 + h, x0:x0 + w].contiguous())

    crop = f"{args.crop[0]} x {args.crop[1]} crop"
    cases = [("NCHW fp32, whole grid (reference)", False, False, (ny, nx), None),
             ("channels-last fp32, whole grid", True, False, (ny, nx), None),
             ("channels-last bf16-mixed, whole grid", True, True, (ny, nx), None),
             (f"channels-last bf16-mixed, {crop}", True, True, (args.crop[1], args.crop[0]), None)]
    if band is not None:
        cases += [(f"channels-last bf16-mixed, whole grid, shared filter band {band}", True, True, (ny, nx), band),
                  (f"channels-last bf16-mixed, {crop}, shared filter band {band}", True, True,
                   (args.crop[1], args.crop[0]), band)]
    lines = [f"torch {torch.__version__}, {torch.get_num_threads()} threads; {Path(args.config).name}: grid "
             f"{nx} x {ny} x {nz}, {channels} input channels, batch {batch}, model {cfg.model.unet_channels}; "
             f"median of {args.steps} steps after one warm-up; the first {batch} training frames", "",
             "| step | ms/step | speed vs reference | voxels/s vs reference |", "|---|---|---|---|"]
    ref_ms = ref_rate = None
    for label, channels_last, bf16, (h, w), case_band in cases:
        torch.manual_seed(0)
        net = build_model(cfg.model.model_copy(update={"skip_shared_band": case_band}), channels, nz)
        if not channels_last:  # the reference: every convolution weight back in the plain NCHW layout
            net = net.to(memory_format=torch.contiguous_format)
        x, target = sample(h, w)
        ms = step_ms(net, x, target, bf16, args.steps)
        rate = batch * h * w * nz / ms
        ref_ms, ref_rate = ref_ms or ms, ref_rate or rate
        lines.append(f"| {label} | {ms:.0f} | {ref_ms / ms:.2f}x | {rate / ref_rate:.2f}x |")
    lines += ["", "speed = steps per second; voxels/s counts the voxels a step trains on (a crop trains on fewer). "
              "Every row but the band rows runs the shared filter on all levels."]
    publish(ROOT / "benchmarks" / "results" / "step_speed.md",
            "step_speed: one training step of the main job's network by layout, precision and window",
            f"python benchmarks/step_speed.py --steps {args.steps}", "\n".join(lines))


if __name__ == "__main__":
    main()
