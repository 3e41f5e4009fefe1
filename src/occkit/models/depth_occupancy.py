"""One graph from images to occupancy: a depth network, the differentiable splat, the BEV height U-Net.

    images -> depth (any torch module: DA3 through ``occkit.depth.da3_network.DA3DepthModule``, or occkit's
              ``occkit.models.depth_cnn.DepthCNN``; optionally relative to the ground plane, ``plane_prior_z``)
           -> unprojected pseudo points (``occkit.depth.soft_splat.unproject_depth_torch``; optionally rescaled to
              the known ground height, ``ground_z``)
           -> soft-occupancy grid (``splat_soft_occupancy``, trilinear: gradients reach the depth)
           -> BEV height U-Net -> logits (B, Z, Y, X)

The two networks are the attributes ``depth`` and ``refinement``, so their parameter names start with
``depth.`` and ``refinement.``: ``optim.custom_keys={"refinement": {"lr_mult": 10}}`` gives the occupancy
network ten times the depth network's learning rate (the users' mmdet ``paramwise_cfg``), and a checkpoint's
state dict holds both. ``freeze_depth=True`` freezes the depth network; a list of name prefixes freezes part
of it (e.g. its encoder). ``build_depth_occupancy`` builds it from ``model.depth``; ``forward_batch`` reads a
dataset batch (``image``, ``K``, ``T_grid_cam``), which is how ``OccupancyModule`` trains and evaluates it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from occkit.depth.soft_splat import splat_soft_occupancy, unproject_depth_torch
from occkit.errors import ConfigError
from occkit.geometry.grid import GridSpec
from occkit.geometry.layout import grid_to_channels

if TYPE_CHECKING:
    from occkit.data.config import DataConfig
    from occkit.models.config import DepthNetConfig, ModelConfig


class DepthOccupancyModel(nn.Module):
    """See the module docstring. ``forward(images, K, T_grid_cam)``: images (B, 3, H, W), K (B, 3, 3) at the
    depth map's resolution, T_grid_cam (B, 4, 4) camera -> grid frame; returns logits (B, Z, Y, X)."""

    def __init__(self, depth: nn.Module, refinement: nn.Module, spec: GridSpec, *, splat: str = "trilinear",
                 lam: float = 0.3, gamma: float = 5.0, freeze_depth: bool | Sequence[str] = False,
                 ground_z: float | None = None, max_depth: float | None = None,
                 plane_prior_z: float | None = None, occupancy_grad: bool = True) -> None:
        super().__init__()
        self.depth = depth
        self.refinement = refinement
        self.spec = spec
        self.splat, self.lam, self.gamma = splat, lam, gamma
        self.ground_z, self.max_depth = ground_z, max_depth
        self.plane_prior_z = plane_prior_z  # model.depth.prior = "ground_plane": depth = plane depth x output
        self.occupancy_grad = occupancy_grad  # False: the splat reads the depth without its gradient
        if freeze_depth is True:
            for p in self.depth.parameters():
                p.requires_grad_(False)
        elif freeze_depth:
            prefixes = tuple(freeze_depth)
            hits = [p for name, p in self.depth.named_parameters() if name.startswith(prefixes)]
            if not hits:
                first = next((n for n, _ in self.depth.named_parameters()), "?")
                raise ConfigError(f"model.depth.freeze: {list(prefixes)} match no depth-network parameter "
                                  f"(names look like {first!r})")
            for p in hits:
                p.requires_grad_(False)
        self.depth_frozen = not any(p.requires_grad for p in self.depth.parameters())
        # what the last occupancy_input call splatted: the depth (ground scale applied, with its graph for a depth
        # loss) and each sample's grid-frame points (detached, for refining the cloud)
        self.last_depth_graph: torch.Tensor | None = None
        self.last_points: list[torch.Tensor] = []
        # set by the training loop for model.depth.frozen_steps: no gradient reaches the depth network meanwhile
        self.hold_depth = False

    def train(self, mode: bool = True) -> DepthOccupancyModel:
        """A frozen depth network stays in eval mode (its normalisation and dropout as at inference)."""
        super().train(mode)
        if self.depth_frozen:
            self.depth.eval()
        return self

    def depth_maps(self, images: torch.Tensor, K: torch.Tensor | None = None,
                   T_grid_cam: torch.Tensor | None = None) -> torch.Tensor:
        """(B, H, W) depth in metres from the depth network (a (B, 1, H, W) output is squeezed). Images may be
        uint8 (as samples carry them) or float in [0, 1]; depth networks get float in [0, 1]. With the plane
        prior the network's output multiplies the ground plane's depth, which needs ``K`` and ``T_grid_cam``."""
        x = images.float() / 255.0 if images.dtype == torch.uint8 else images
        with torch.set_grad_enabled(torch.is_grad_enabled() and not (self.depth_frozen or self.hold_depth)):
            d = self.depth(x)
        d = d[:, 0] if d.ndim == 4 else d
        if self.plane_prior_z is None:
            return d
        if K is None or T_grid_cam is None:
            raise ValueError("depth_maps: the ground-plane prior needs K and T_grid_cam")
        from occkit.depth.plane_prior import ground_plane_depth

        plane = ground_plane_depth(K, T_grid_cam, d.shape[-2], d.shape[-1], self.plane_prior_z,
                                   self.max_depth or 400.0)
        return d * plane.to(d.dtype)

    @property
    def last_depth(self) -> torch.Tensor | None:
        """The depth the last grid was made from, without its graph (the depth-error figures)."""
        return None if self.last_depth_graph is None else self.last_depth_graph.detach()

    def _aligned_points(self, depth: torch.Tensor, K: torch.Tensor,
                        T_grid_cam: torch.Tensor) -> tuple[torch.Tensor, float]:
        """One (H, W) depth map -> ((N, 3) grid-frame points, scale), ground-aligned when ``ground_z`` is set:
        scaled along the camera rays so that their dominant ground lands at ``ground_z``
        (``occkit.depth.scale_align``). The scale is computed without gradient (a mode is not differentiable)
        and applied as a constant, so the gradient still reaches every depth value."""
        valid = depth < self.max_depth if self.max_depth is not None else None
        pts = unproject_depth_torch(depth, K, T_grid_cam, valid=valid)
        if self.ground_z is None or len(pts) == 0:
            return pts, 1.0
        from occkit.depth.scale_align import align_to_ground

        cam = T_grid_cam[:3, 3].to(pts.dtype)
        _, scale = align_to_ground(pts.detach().double().cpu().numpy(), cam.detach().double().cpu().numpy(),
                                   np.eye(4), self.ground_z, max_scale_change=np.inf)
        return cam + float(scale) * (pts - cam), float(scale)

    def occupancy_input(self, depth: torch.Tensor, K: torch.Tensor, T_grid_cam: torch.Tensor) -> torch.Tensor:
        """(B, H, W) depth -> (B, Z, Y, X) soft-occupancy input of the BEV network (one feature: soft)."""
        grids, scales, points = [], [], []
        splat_depth = depth if self.occupancy_grad else depth.detach()
        for b in range(depth.shape[0]):
            pts, scale = self._aligned_points(splat_depth[b], K[b], T_grid_cam[b])
            soft, _ = splat_soft_occupancy(pts, self.spec, mode=self.splat, lam=self.lam, gamma=self.gamma)
            grids.append(grid_to_channels(soft))
            scales.append(scale)
            points.append(pts.detach())
        self.last_depth_graph = depth * torch.tensor(scales, dtype=depth.dtype, device=depth.device).view(-1, 1, 1)
        self.last_points = points
        return torch.stack(grids).to(depth.dtype)

    def forward_batch(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """A dataset batch (``image``, ``K``, ``T_grid_cam``) -> (logits, the soft-occupancy input it read)."""
        missing = [k for k in ("image", "K", "T_grid_cam") if k not in batch]
        if missing:
            raise ConfigError(f"model.depth reads camera images, but the batch has no {missing} "
                              "(set data.input.camera)")
        K, T = batch["K"], batch["T_grid_cam"]
        grid = self.occupancy_input(self.depth_maps(batch["image"], K, T), K, T)
        return self.refinement(grid), grid

    def forward(self, images: torch.Tensor, K: torch.Tensor, T_grid_cam: torch.Tensor) -> torch.Tensor:
        return self.forward_batch({"image": images, "K": K, "T_grid_cam": T_grid_cam})[0]


def build_depth_network(cfg: DepthNetConfig) -> nn.Module:
    """The depth network ``model.depth`` names, with its weights when given."""
    if cfg.kind == "cnn":
        from occkit.models.depth_cnn import DepthCNN, load_depth_weights

        net = DepthCNN(cfg.channels, init_depth=1.0 if cfg.prior == "ground_plane" else 100.0)
        if cfg.weights:
            load_depth_weights(net, cfg.weights)
        return net
    from occkit.depth.da3_network import DA3DepthModule, build_da3_network

    return DA3DepthModule(build_da3_network(cfg.da3_config, cfg.weights), takes_unit_images=True)


def build_depth_occupancy(model_cfg: ModelConfig, data_cfg: DataConfig) -> DepthOccupancyModel:
    """``model.depth`` + the BEV height U-Net of ``model`` reading one soft-occupancy feature per level."""
    from occkit.models.unet import BEVHeightOccupancy

    dcfg = model_cfg.depth
    if dcfg is None:
        raise ConfigError("build_depth_occupancy: model.depth is not set")
    z = data_cfg.grid.shape[2]
    icfg = data_cfg.input
    if icfg.pseudo_ground_z == "dem" and (dcfg.ground_align or dcfg.prior == "ground_plane"):
        raise ConfigError("data.input.pseudo_ground_z='dem' is not supported with model.depth (its ground_align "
                          "and ground_plane prior take one height for every frame): set a number")
    return DepthOccupancyModel(
        build_depth_network(dcfg), BEVHeightOccupancy(model_cfg, z, z), data_cfg.grid, splat=dcfg.splat,
        lam=icfg.soft_lambda, gamma=icfg.soft_gamma, freeze_depth=dcfg.freeze,
        ground_z=icfg.pseudo_ground_z if dcfg.ground_align else None, max_depth=dcfg.max_depth,
        plane_prior_z=icfg.pseudo_ground_z if dcfg.prior == "ground_plane" else None,
        occupancy_grad=dcfg.occupancy_grad)
