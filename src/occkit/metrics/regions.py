"""Where the errors are: ground vs above ground, and seen vs unseen voxels.

**Ground** is a height band over the per-column ground level. The ground level is estimated from the target
the way airborne-LiDAR ground filters do it (a morphological opening of the lowest-return surface, Zhang et al.
2003): take the lowest occupied target level per column, erode it with a ``window`` x ``window`` minimum
filter and dilate it back. Anything narrower than the window (a roof, a tree crown, a car) is removed, the
terrain's relief stays. Columns with no target voxel within the window take the median ground level of the
frame. A voxel is ground when its level is at most ``band`` levels above that ground.

**Seen** voxels hold input points, **unseen** ones do not: recall on unseen target voxels is completion,
precision on predicted voxels without input is how trustworthy the voxels a model adds are.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from occkit.metrics.baselines import lowest_level


def ground_filter_voxels(window_m: float, band_m: float, voxel_size) -> tuple[int, int]:
    """The ground filter's opening window and band in voxels, from metres and the grid's (x, y, z) voxel size."""
    window = max(1, round(window_m / float(min(voxel_size[0], voxel_size[1]))))
    return window, round(band_m / float(voxel_size[2]))


def ground_levels(target_occ: torch.Tensor, window: int) -> torch.Tensor:
    """(B, Y, X) float: the estimated ground level per column (see the module docstring)."""
    b, z = target_occ.shape[:2]
    low = lowest_level(target_occ.bool()).float()  # Z where empty
    big = float(z)
    k = max(1, int(window) | 1)  # odd
    pad = k // 2
    eroded = -F.max_pool2d(-low.unsqueeze(1), k, stride=1, padding=pad).squeeze(1)  # min filter, empties = Z
    eroded = torch.where(eroded >= big, torch.full_like(eroded, -1.0), eroded)  # no ground seen in the window
    opened = F.max_pool2d(eroded.unsqueeze(1), k, stride=1, padding=pad).squeeze(1)
    out = opened.clone()
    for i in range(b):
        valid = opened[i] >= 0
        fill = opened[i][valid].median() if bool(valid.any()) else torch.tensor(0.0, device=out.device)
        out[i] = torch.where(valid, opened[i], fill)
    return out


def ground_region(target_occ: torch.Tensor, window: int, band: int) -> torch.Tensor:
    """(B, Z, Y, X) bool: voxels at most ``band`` levels above the column's ground level (or below it)."""
    z = target_occ.shape[1]
    g = ground_levels(target_occ, window)
    levels = torch.arange(z, device=target_occ.device, dtype=g.dtype).view(1, z, 1, 1)
    return levels <= g.unsqueeze(1) + band
