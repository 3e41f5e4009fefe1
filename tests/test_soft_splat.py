"""The differentiable depth -> occupancy path: torch unprojection equals the numpy one, the hard splat equals the
numpy soft-occupancy feature, and the trilinear splat conserves mass and passes gradients back to the depth."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from occkit.depth.soft_splat import splat_soft_occupancy, unproject_depth_torch
from occkit.depth.unproject import unproject_depth
from occkit.geometry.grid import GridSpec
from occkit.geometry.voxelize import voxelize

SPEC = GridSpec(pc_range=(-8.0, -8.0, -2.0, 8.0, 8.0, 6.0), voxel_size=(0.5, 0.5, 0.5))
K = np.array([[60.0, 0.0, 31.5], [0.0, 60.0, 23.5], [0.0, 0.0, 1.0]])
T_WORLD_CAM = np.array([[0.0, 0.0, 1.0, 0.0], [-1.0, 0.0, 0.0, 0.0], [0.0, -1.0, 0.0, 1.5], [0, 0, 0, 1.0]])


def depth_map(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    d = rng.uniform(2.0, 7.5, (48, 64))
    d[rng.random(d.shape) < 0.1] = 0.0  # invalid pixels
    return d


def test_torch_unprojection_equals_numpy() -> None:
    d = depth_map()
    ref = unproject_depth(d, K, T_WORLD_CAM)
    got = unproject_depth_torch(torch.from_numpy(d), torch.from_numpy(K), torch.from_numpy(T_WORLD_CAM))
    np.testing.assert_allclose(got.numpy(), ref, atol=1e-5)


def test_hard_splat_is_the_numpy_soft_feature() -> None:
    rng = np.random.default_rng(1)
    pts = np.concatenate([rng.uniform(-9, 9, (4000, 3)), rng.normal([1, 1, 1], 0.1, (500, 3))])  # some out of range
    ref = voxelize(pts, SPEC, features=("soft", "count"))
    soft, count = splat_soft_occupancy(torch.from_numpy(pts), SPEC, mode="hard")
    np.testing.assert_array_equal(count.numpy(), ref.count)
    np.testing.assert_allclose(soft.numpy(), ref.soft, rtol=0, atol=1e-6)


def test_trilinear_splat_conserves_mass_and_reaches_the_depth() -> None:
    d = torch.from_numpy(depth_map(2)).requires_grad_(True)
    pts = unproject_depth_torch(d, torch.from_numpy(K), torch.from_numpy(T_WORLD_CAM))
    inner = ((pts > torch.tensor(SPEC.lower) + 0.5) & (pts < torch.tensor(SPEC.upper) - 0.5)).all(1)
    soft, count = splat_soft_occupancy(pts[inner], SPEC, mode="trilinear")
    assert float(count.sum()) == pytest.approx(int(inner.sum()), rel=1e-9)  # every point's weights sum to 1
    assert 0 <= float(soft.min()) and float(soft.max()) < 1
    target = torch.zeros_like(soft)
    target[:, :, 4] = 1.0  # pull occupancy towards one level: the depth must move
    loss = ((soft - target) ** 2).mean()
    loss.backward()
    assert torch.isfinite(d.grad).all() and float(d.grad.abs().sum()) > 0
    assert float(d.grad[d.detach() == 0].abs().sum()) == 0.0  # invalid pixels get no gradient
