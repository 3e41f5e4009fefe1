"""The camera-height prior as a depth map: where each pixel's ray meets the ground plane.

A camera whose pose in the grid frame is known (a drone's altitude over the ego frame's datum, a vehicle's
mounting height) knows the depth of the ground in every pixel before it looks at the image. A depth network that
predicts depth *relative to that plane* (``model.depth.prior = "ground_plane"``: depth = plane depth x the
network's positive output, which starts at 1) gets the metric scale from geometry and only has to learn what
stands on the ground: no per-image scale to guess, no ground mode to estimate.
"""

from __future__ import annotations

import torch


def ground_plane_depth(K: torch.Tensor, T_grid_cam: torch.Tensor, height: int, width: int, ground_z: float = 0.0,
                       max_depth: float = 400.0) -> torch.Tensor:
    """(B, H, W) z-depth at which each pixel's ray meets the plane z = ``ground_z`` of the grid frame; rays that
    do not reach it (at or above the horizon, or a camera under the plane) get ``max_depth``."""
    K, T = K.double(), T_grid_cam.double()
    v, u = torch.meshgrid(torch.arange(height, dtype=K.dtype, device=K.device),
                          torch.arange(width, dtype=K.dtype, device=K.device), indexing="ij")
    pix = torch.stack([u, v, torch.ones_like(u)], dim=-1).reshape(1, -1, 3)  # (1, HW, 3)
    rays = pix @ torch.linalg.inv(K).transpose(1, 2)  # camera frame, z = 1: the distance along z is the depth
    down = (rays @ T[:, :3, :3].transpose(1, 2))[..., 2]  # grid-frame height change per metre of depth
    depth = (ground_z - T[:, 2, 3]).unsqueeze(1) / down
    depth = torch.where((down < 0) & (depth > 0), depth, torch.full_like(depth, max_depth)).clamp(max=max_depth)
    return depth.reshape(-1, height, width).float()
