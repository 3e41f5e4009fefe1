"""The input/target offset estimate on crafted grids, and the misalignment detector it feeds."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from occkit.health.alignment import estimate_offset, input_target_overlap
from occkit.health.config import HealthConfig
from occkit.health.detectors import DetectorSuite, HealthCheck


def scene(seed: int = 0, shape=(16, 64, 64)) -> torch.Tensor:
    """(1, Z, Y, X) occupancy: a ground at level 2 everywhere plus a dozen blocks of random size and height."""
    rng = np.random.default_rng(seed)
    z, y, x = shape
    occ = np.zeros(shape, bool)
    occ[2] = True
    for _ in range(12):
        y0, x0 = rng.integers(4, y - 12), rng.integers(4, x - 12)
        h, w, d = rng.integers(2, 10), rng.integers(2, 8), rng.integers(2, 8)
        occ[3:3 + h, y0:y0 + w, x0:x0 + d] = True
    return torch.from_numpy(occ)[None].float()


def shifted(target: torch.Tensor, dx: int = 0, dy: int = 0, dz: int = 0) -> torch.Tensor:
    """The target moved by (dx, dy, dz) voxels without wrapping, as a (1, 2*Z, Y, X) two-feature input."""
    out = torch.zeros_like(target)
    _, z, y, x = target.shape
    src = target[:, max(0, -dz):z - max(0, dz), max(0, -dy):y - max(0, dy), max(0, -dx):x - max(0, dx)]
    out[:, max(0, dz):z - max(0, -dz), max(0, dy):y - max(0, -dy), max(0, dx):x - max(0, -dx)] = src
    return torch.cat([out, 0.5 * out], dim=1)  # features stacked feature-major, both positive on hits


@pytest.mark.parametrize("dx, dy, dz", [(0, 0, 0), (2, 0, 0), (6, 0, 0), (12, 0, 0), (-5, 7, 0), (0, 0, 2)])
def test_offset_estimate_recovers_the_shift(dx: int, dy: int, dz: int) -> None:
    target = scene()
    est = estimate_offset(shifted(target, dx, dy, dz), target)
    assert (est.dx, est.dy, est.dz) == (dx, dy, dz)
    if (dx, dy, dz) != (0, 0, 0):
        assert est.gain > 1.15
    assert est.metres((0.4, 0.4, 0.5)) == pytest.approx((0.4 * dx, 0.4 * dy, 0.5 * dz))


def test_a_12_voxel_shift_leaves_a_high_overlap_but_is_named_in_metres() -> None:
    """The seed user's case: 4.8 m in x at 0.4 m voxels; the overlap alone stays above the 0.5 alarm."""
    target = scene(3)
    inputs = shifted(target, dx=12)
    overlap = input_target_overlap(inputs, target)
    assert overlap > 0.5
    est = estimate_offset(inputs, target)
    base = dict(loss=0.5, target_rate=float(target.mean()), pred_mean=0.05, pred_min=0.0, pred_max=0.9,
                pred_occupied_frac=0.05, grad_norm=1.0, clip_fraction=0.0, clip_fraction_total=0.0, max_norm=10.0,
                lr=1e-3, input_target_overlap=overlap, input_offset_voxels=[est.dx, est.dy, est.dz],
                input_offset_m=list(est.metres((0.4, 0.4, 0.5))), input_offset_gain=est.gain)
    events = DetectorSuite(HealthConfig()).replay([HealthCheck(step=s, **base) for s in (100, 200)])
    (event,) = [e for e in events if e.kind == "misaligned_target"]
    assert "the input is offset by (+4.8 m, +0.0 m, +0.0 m) from the target" in event.message


def test_aligned_noisy_input_raises_no_alarm() -> None:
    rng = np.random.default_rng(5)
    target = scene(7)
    noisy = target.clone()
    noisy[torch.from_numpy(rng.random(noisy.shape) < 0.3)] = 0.0  # a sparse single sweep of the same scene
    est = estimate_offset(torch.cat([noisy, noisy], 1), target)
    assert (est.dx, est.dy) == (0, 0)
    assert math.isfinite(est.gain)
