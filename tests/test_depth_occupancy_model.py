"""DepthOccupancyModel: images -> depth -> soft splat -> BEV U-Net in one graph, with named parameter groups."""

from __future__ import annotations

import math

import torch
from torch import nn

from occkit.geometry.grid import GridSpec
from occkit.models.config import ModelConfig
from occkit.models.depth_occupancy import DepthOccupancyModel
from occkit.models.unet import build_model
from occkit.train.config import OptimConfig
from occkit.train.optim import build_param_groups

SPEC = GridSpec(pc_range=(0.0, -4.0, -1.0, 8.0, 4.0, 3.0), voxel_size=(0.5, 0.5, 0.5))  # 16 x 16 x 8


class TinyDepth(nn.Module):
    """A small CNN from RGB to positive depth (softplus + 2 m), the stand-in for a pre-trained depth network."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())
        self.head = nn.Conv2d(8, 1, 3, padding=1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return 2.0 + nn.functional.softplus(self.head(self.encoder(images)))[:, 0]


def make(freeze=False) -> DepthOccupancyModel:
    z = SPEC.shape[2]
    bev = build_model(ModelConfig(unet_channels=[8, 16], input_skip=False), in_channels=z, out_levels=z)
    return DepthOccupancyModel(TinyDepth(), bev, SPEC, freeze_depth=freeze)


def inputs(b: int = 2):
    g = torch.Generator().manual_seed(0)
    images = torch.rand(b, 3, 24, 32, generator=g)
    K = torch.tensor([[20.0, 0, 15.5], [0, 20.0, 11.5], [0, 0, 1]]).expand(b, 3, 3)
    # camera at the grid's x = 0 looking along +x (OpenCV z -> grid x, x -> -y, y -> -z), 1 m up
    T = torch.tensor([[0.0, 0, 1, 0], [-1, 0, 0, 0], [0, -1, 0, 1.0], [0, 0, 0, 1]]).expand(b, 4, 4)
    return images, K, T


def test_gradients_reach_the_depth_network_through_the_splat() -> None:
    model = make()
    logits = model(*inputs())
    assert logits.shape == (2, 8, 16, 16)
    target = torch.zeros_like(logits)
    target[:, 2] = 1.0
    nn.functional.binary_cross_entropy_with_logits(logits, target).backward()
    depth_grads = [p.grad for n, p in model.named_parameters() if n.startswith("depth.")]
    assert depth_grads and all(g is not None for g in depth_grads)
    assert math.isfinite(float(sum(g.abs().sum() for g in depth_grads))) and sum(g.abs().sum() for g in depth_grads) > 0


def test_parameter_groups_give_the_refinement_ten_times_the_lr() -> None:
    cfg = OptimConfig(lr=1e-4, custom_keys={"^depth\\.": {"lr_mult": 1.0}, "^refinement\\.": {"lr_mult": 10.0}})
    groups = {g["name"]: g for g in build_param_groups(make(), cfg)}
    assert {"^depth\\./decay", "^refinement\\./decay"} <= set(groups)
    assert groups["^refinement\\./decay"]["lr"] == 10 * groups["^depth\\./decay"]["lr"] == 1e-3
    assert all(n.startswith("depth.") for n in groups["^depth\\./decay"]["param_names"])


def test_frozen_and_partly_frozen_depth() -> None:
    frozen = make(freeze=True)
    names = [n for g in build_param_groups(frozen, OptimConfig()) for n in g["param_names"]]
    assert names and not any(n.startswith("depth.") for n in names)
    partly = make(freeze=["encoder."])
    names = [n for g in build_param_groups(partly, OptimConfig()) for n in g["param_names"]]
    assert "depth.head.weight" in names and not any(n.startswith("depth.encoder.") for n in names)
    state = partly.state_dict()  # a checkpoint holds both networks, frozen parts included
    assert any(k.startswith("depth.encoder.") for k in state) and any(k.startswith("refinement.") for k in state)
