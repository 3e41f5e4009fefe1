"""One graph from images to occupancy: a depth network, the differentiable splat, the BEV height U-Net.

    images -> depth (any torch module: DA3 through ``occkit.depth.da3_network.DA3DepthModule``, or a CNN)
           -> unprojected pseudo points (``occkit.depth.soft_splat.unproject_depth_torch``)
           -> soft-occupancy grid (``splat_soft_occupancy``, trilinear: gradients reach the depth)
           -> BEV height U-Net -> logits (B, Z, Y, X)

The two networks are the attributes ``depth`` and ``refinement``, so their parameter names start with
``depth.`` and ``refinement.``: ``optim.custom_keys={"refinement": {"lr_mult": 10}}`` gives the occupancy
network ten times the depth network's learning rate (the users' mmdet ``paramwise_cfg``), and a checkpoint's
state dict holds both. ``freeze_depth=True`` freezes the depth network; a list of name prefixes freezes part
of it (e.g. its encoder).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from occkit.depth.soft_splat import splat_soft_occupancy, unproject_depth_torch
from occkit.geometry.grid import GridSpec
from occkit.geometry.layout import grid_to_channels


class DepthOccupancyModel(nn.Module):
    """See the module docstring. ``forward(images, K, T_grid_cam)``: images (B, 3, H, W), K (B, 3, 3) at the
    depth map's resolution, T_grid_cam (B, 4, 4) camera -> grid frame; returns logits (B, Z, Y, X)."""

    def __init__(self, depth: nn.Module, refinement: nn.Module, spec: GridSpec, *, splat: str = "trilinear",
                 lam: float = 0.3, gamma: float = 5.0, freeze_depth: bool | Sequence[str] = False) -> None:
        super().__init__()
        self.depth = depth
        self.refinement = refinement
        self.spec = spec
        self.splat, self.lam, self.gamma = splat, lam, gamma
        if freeze_depth is True:
            for p in self.depth.parameters():
                p.requires_grad_(False)
        elif freeze_depth:
            prefixes = tuple(freeze_depth)
            for name, p in self.depth.named_parameters():
                if name.startswith(prefixes):
                    p.requires_grad_(False)

    def depth_maps(self, images: torch.Tensor) -> torch.Tensor:
        """(B, H, W) depth in metres from the depth network (a (B, 1, H, W) output is squeezed)."""
        d = self.depth(images)
        return d[:, 0] if d.ndim == 4 else d

    def occupancy_input(self, depth: torch.Tensor, K: torch.Tensor, T_grid_cam: torch.Tensor) -> torch.Tensor:
        """(B, H, W) depth -> (B, Z, Y, X) soft-occupancy input of the BEV network (one feature: soft)."""
        grids = []
        for b in range(depth.shape[0]):
            pts = unproject_depth_torch(depth[b], K[b], T_grid_cam[b])
            soft, _ = splat_soft_occupancy(pts, self.spec, mode=self.splat, lam=self.lam, gamma=self.gamma)
            grids.append(grid_to_channels(soft))
        return torch.stack(grids).to(depth.dtype)

    def forward(self, images: torch.Tensor, K: torch.Tensor, T_grid_cam: torch.Tensor) -> torch.Tensor:
        return self.refinement(self.occupancy_input(self.depth_maps(images), K, T_grid_cam))
