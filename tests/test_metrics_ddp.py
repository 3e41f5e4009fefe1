"""Real two-process DDP sync (gloo, CPU): each rank sees half the data, compute() equals one process on all."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from occkit.geometry import GridSpec
from occkit.metrics import OccupancyMetrics, RayIoU, SemanticMIoU

SPEC = GridSpec(pc_range=(0.0, -4.0, -1.0, 8.0, 4.0, 1.0), voxel_size=(0.5, 0.5, 0.5))  # 16 x 16 x 4


def data() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(4, 4, 16, 16, generator=g) - 1.5
    target = (torch.rand(4, 4, 16, 16, generator=g) < 0.15).float()
    pred_lab = torch.randint(0, 18, (4, 4, 16, 16), generator=g)
    gt_lab = torch.randint(0, 18, (4, 4, 16, 16), generator=g)
    return logits, target, pred_lab, gt_lab


def metrics() -> list:
    return [OccupancyMetrics(), SemanticMIoU(), RayIoU(SPEC, origins=[(1.0, 0.0, 0.1)], num_azimuth=24)]


def run_metrics(metric_list: list, lo: int, hi: int) -> list[dict[str, torch.Tensor]]:
    logits, target, pred_lab, gt_lab = data()
    occ, sem, ray = metric_list
    occ.update(logits[lo:hi], target[lo:hi])
    sem.update(pred_lab[lo:hi], gt_lab[lo:hi])
    ray.update(logits[lo:hi], target[lo:hi])
    return [m.compute() for m in metric_list]


def worker(rank: int, init_file: str, out_dir: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        results = run_metrics(metrics(), 2 * rank, 2 * rank + 2)
        torch.save(results, os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_two_rank_sync_equals_single_process(tmp_path: Path) -> None:
    mp.spawn(worker, args=(str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    single = run_metrics(metrics(), 0, 4)
    for rank in (0, 1):
        synced = torch.load(tmp_path / f"rank{rank}.pt")
        for got, want in zip(synced, single, strict=True):
            for key in want:
                assert torch.allclose(got[key], want[key], equal_nan=True), (rank, key)
