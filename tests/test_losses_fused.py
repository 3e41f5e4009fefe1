"""The fused loss equals the composed reference in value and gradient, on random grids with masks and weights."""

from __future__ import annotations

import pytest
import torch

from occkit.losses import OccupancyLoss
from occkit.losses.config import LossConfig

CASES = [
    {"kind": "focal_dice"},  # the default: focal (alpha 0.99, gamma 2) + dice + mean
    {"kind": "focal_dice", "focal_gamma": 1.5, "dice_weight": 0.5, "mean_weight": 0.0},
    {"kind": "focal", "mean_weight": 3.0},
    {"kind": "bce", "mean_weight": 0.0},
    {"kind": "weighted_bce", "pos_weight": 7.0},
    {"kind": "bce_dice", "dice_weight": 2.0},
    {"kind": "dice", "mean_weight": 0.0},
]


def _grads(cfg: LossConfig, logits: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None):
    x = logits.clone().requires_grad_(True)
    out = OccupancyLoss(cfg)(x, target, mask)
    (2.5 * out.total).backward()  # a non-unit upstream gradient
    return out, x.grad


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
def test_fused_matches_the_reference(case: dict, masked: bool, weighted: bool) -> None:
    g = torch.Generator().manual_seed(0)
    shape = (2, 6, 9, 11)
    logits = 4 * torch.randn(shape, generator=g) - 3
    target = (torch.rand(shape, generator=g) < 0.05).float()
    target[0, 2] = torch.rand(shape[2:], generator=g)  # a soft level too
    mask = (torch.rand(shape, generator=g) < 0.7) if masked else None
    hw = [0.5, 1.0, 2.0, 1.0, 0.0, 3.0] if weighted else None
    ref, g_ref = _grads(LossConfig(**case, height_weights=hw, fused=False), logits, target, mask)
    out, g_out = _grads(LossConfig(**case, height_weights=hw), logits, target, mask)
    assert out.total.item() == pytest.approx(ref.total.item(), rel=1e-5, abs=1e-7)
    assert set(out.terms) == set(ref.terms)
    for name in ref.terms:
        assert out.terms[name].item() == pytest.approx(ref.terms[name].item(), rel=1e-5, abs=1e-7), name
    torch.testing.assert_close(out.per_height, ref.per_height, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(g_out, g_ref, rtol=1e-4, atol=1e-8)


def test_fused_handles_an_empty_target_and_extreme_logits() -> None:
    logits = torch.tensor([[[[-200.0, 0.0, 60.0, -1e4]]]]).repeat(1, 3, 1, 1)
    target = torch.zeros_like(logits)
    for fused in (True, False):
        x = logits.clone().requires_grad_(True)
        out = OccupancyLoss(LossConfig(fused=fused))(x, target)
        out.total.backward()
        assert torch.isfinite(out.total) and torch.isfinite(x.grad).all()
    ref, g_ref = _grads(LossConfig(fused=False), logits, target, None)
    out, g_out = _grads(LossConfig(), logits, target, None)
    assert out.total.item() == pytest.approx(ref.total.item(), rel=1e-5)
    torch.testing.assert_close(g_out, g_ref, rtol=1e-4, atol=1e-8)


@pytest.mark.slow
def test_the_compiled_kernels_on_a_large_grid_match_the_reference() -> None:
    """Grids of COMPILE_MIN_VOXELS and more run torch.compile'd kernels (or fall back to eager with a warning)."""
    from occkit.losses.fused import COMPILE_MIN_VOXELS

    g = torch.Generator().manual_seed(3)
    shape = (1, 20, 230, 230)
    assert torch.Size(shape).numel() >= COMPILE_MIN_VOXELS
    logits = 4 * torch.randn(shape, generator=g) - 3
    target = (torch.rand(shape, generator=g) < 0.01).float()
    mask = torch.rand(shape, generator=g) < 0.8
    ref, g_ref = _grads(LossConfig(fused=False), logits, target, mask)
    out, g_out = _grads(LossConfig(), logits, target, mask)
    assert out.total.item() == pytest.approx(ref.total.item(), rel=1e-5)
    torch.testing.assert_close(g_out, g_ref, rtol=1e-4, atol=1e-12)
