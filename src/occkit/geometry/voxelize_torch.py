"""Occupancy voxelization in torch: a scatter into the grid, on whatever device the points live on.

The numpy voxelizer (``occkit.geometry.voxelize``) serves the data pipeline; this one is for points that are
already on a GPU (a depth network's output, a GPU data path). Same half-open voxel rule as
``GridSpec.points_to_indices``; float64 points give exactly the numpy result, float32 ones may differ for points
within float32 rounding of a voxel face.
"""

from __future__ import annotations

import torch

from occkit.geometry.grid import GridSpec


def voxelize_occupancy_torch(points: torch.Tensor, spec: GridSpec) -> torch.Tensor:
    """(N, >=3) points in the grid frame -> bool [x, y, z] occupancy on ``points``' device."""
    if points.ndim != 2 or points.shape[1] < 3:
        raise ValueError(f"voxelize_occupancy_torch: points must be an (N, >=3) tensor, got {tuple(points.shape)}")
    xyz = points[:, :3]
    lower = torch.as_tensor(spec.lower, dtype=xyz.dtype, device=xyz.device)
    size = torch.as_tensor(spec.size, dtype=xyz.dtype, device=xyz.device)
    shape = torch.as_tensor(spec.shape, device=xyz.device)
    idx = torch.floor((xyz - lower) / size).long()
    idx = idx[((idx >= 0) & (idx < shape)).all(dim=1)]
    flat = (idx[:, 0] * shape[1] + idx[:, 1]) * shape[2] + idx[:, 2]
    grid = torch.zeros(spec.num_voxels, dtype=torch.bool, device=xyz.device)
    grid[flat] = True
    return grid.view(*spec.shape)
