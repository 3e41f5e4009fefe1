"""A differentiable path from depth to the occupancy input: unprojection and a soft voxel splat, in torch.

For training a depth network together with the occupancy network, the pseudo points must stay a function of
the predicted depth. ``unproject_depth_torch`` lifts a depth map with the same arithmetic as the numpy
``occkit.depth.unproject.unproject_depth``. ``splat_soft_occupancy`` turns points into the soft-occupancy
feature ``1 - exp(-lam * n - gamma * var)`` (``n`` points per voxel, ``var`` their in-voxel variance, the
numpy voxelizer's definition):

- ``mode="hard"``: each point counts once in the voxel it falls in. This *is* the numpy feature (tested to
  float64 precision); gradients reach the points through the variance term only.
- ``mode="trilinear"``: each point spreads weight over the 8 voxels around it, by its distance to their centres,
  so the count itself is a smooth function of the point: moving a point moves occupancy between voxels, and the
  gradient reaches the depth through both terms. The weights of a point sum to 1 (mass is conserved).
"""

from __future__ import annotations

import torch

from occkit.geometry.grid import GridSpec


def unproject_depth_torch(depth: torch.Tensor, K: torch.Tensor, T_world_cam: torch.Tensor | None = None,
                          valid: torch.Tensor | None = None) -> torch.Tensor:
    """(H, W) z-depth -> (N, 3) points of the valid pixels (depth > 0 and finite, and ``valid``), row-major, in
    the camera frame (OpenCV axes) or the world frame with ``T_world_cam``; differentiable in ``depth``."""
    if depth.ndim != 2:
        raise ValueError(f"depth must be an (H, W) map, got shape {tuple(depth.shape)}")
    keep = torch.isfinite(depth) & (depth > 0)
    if valid is not None:
        keep &= valid.bool()
    v, u = torch.nonzero(keep, as_tuple=True)
    z = depth[v, u]
    K = K.to(z.dtype)
    vf, uf = v.to(z.dtype), u.to(z.dtype)
    y = (vf - K[1, 2]) * (z / K[1, 1])
    x = (uf - K[0, 2] - K[0, 1] * (vf - K[1, 2]) / K[1, 1]) * (z / K[0, 0])
    pts = torch.stack([x, y, z], dim=1)
    if T_world_cam is None:
        return pts
    T = T_world_cam.to(z.dtype)
    return pts @ T[:3, :3].T + T[:3, 3]


def splat_soft_occupancy(points: torch.Tensor, spec: GridSpec, *, mode: str = "trilinear", lam: float = 0.3,
                         gamma: float = 5.0) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, 3) grid-frame points -> (soft occupancy, count), both [x, y, z] tensors on the points' device."""
    if points.ndim != 2 or points.shape[1] < 3:
        raise ValueError(f"points must be an (N, >=3) tensor, got {tuple(points.shape)}")
    if mode not in ("hard", "trilinear"):
        raise ValueError(f"mode must be 'hard' or 'trilinear', got {mode!r}")
    xyz = points[:, :3]
    lower = torch.as_tensor(spec.lower, dtype=xyz.dtype, device=xyz.device)
    size = torch.as_tensor(spec.size, dtype=xyz.dtype, device=xyz.device)
    dims = torch.as_tensor(spec.shape, device=xyz.device)
    r = (xyz - lower) / size
    if mode == "hard":
        cells = torch.floor(r).detach().long()[None]  # (1, N, 3): the voxel each point falls in
        weights = torch.ones((1, len(xyz)), dtype=xyz.dtype, device=xyz.device)
    else:
        base = torch.floor(r - 0.5).detach().long()  # the lower of the two voxel centres around r on each axis
        frac = r - 0.5 - base.to(xyz.dtype)  # in [0, 1): distance to that centre, in voxels
        corners = torch.tensor([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)], device=xyz.device)
        cells = base[None] + corners[:, None]  # (8, N, 3)
        w_axis = torch.where(corners[:, None].bool(), frac[None], 1.0 - frac[None])  # (8, N, 3)
        weights = w_axis.prod(dim=2)  # (8, N), each column sums to 1
    local = (xyz[None] - lower - cells.to(xyz.dtype) * size)  # offset from each voxel's lower corner (m)
    inside = ((cells >= 0) & (cells < dims)).all(dim=2)
    flat = (cells[..., 0] * dims[1] + cells[..., 1]) * dims[2] + cells[..., 2]
    flat, w, local = flat[inside], weights[inside], local[inside]
    n_vox = spec.num_voxels
    count = torch.zeros(n_vox, dtype=xyz.dtype, device=xyz.device).index_add(0, flat, w)
    s1 = torch.zeros((n_vox, 3), dtype=xyz.dtype, device=xyz.device).index_add(0, flat, w[:, None] * local)
    s2 = torch.zeros(n_vox, dtype=xyz.dtype, device=xyz.device).index_add(0, flat, w * (local * local).sum(1))
    occupied = count > 0
    safe = torch.where(occupied, count, torch.ones_like(count))
    var = (s2 / safe - (s1 / safe[:, None]).pow(2).sum(1)).clamp_min(0.0)
    soft = torch.where(occupied, 1.0 - torch.exp(-lam * count - gamma * var / 3.0), torch.zeros_like(count))
    return soft.view(*spec.shape), count.view(*spec.shape)
