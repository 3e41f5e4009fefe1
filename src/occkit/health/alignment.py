"""How well the input lines up with the target in a batch: overlap, and the offset that would line them up.

The overlap alone misses moderate shifts (a 12-voxel shift of a LiDAR input still leaves 0.6-0.8 of the target
next to some input voxel, because large surfaces overlap themselves), so the offset is estimated directly: a
bird's-eye cross-correlation of the occupied voxels per column, mean removed (FFT, zero-padded so nothing wraps,
normalised by the overlapping area), then a height correlation at that plan offset. A clear peak away from zero
is a misalignment, reported in metres.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class OffsetEstimate:
    """The shift (voxels, x y z) that moves the target onto the input, and how much it beats no shift."""

    dx: int
    dy: int
    dz: int
    gain: float  # correlation at the peak / correlation at zero shift (inf when zero shift overlaps nothing)

    def metres(self, voxel_size: tuple[float, float, float]) -> tuple[float, float, float]:
        return (self.dx * voxel_size[0], self.dy * voxel_size[1], self.dz * voxel_size[2])


def occupied_input(inputs: torch.Tensor, z: int) -> torch.Tensor | None:
    """(B, F*Z, Y, X) feature-major inputs -> bool (B, Z, Y, X): any feature positive."""
    if inputs.ndim != 4 or inputs.shape[1] % z:
        return None
    b = inputs.shape[0]
    return (inputs.detach().float().reshape(b, -1, z, *inputs.shape[2:]) > 0).any(dim=1)


def _occupied_for(inputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor | None:
    return occupied_input(inputs, target.shape[1]) if target.ndim == 4 else None


def measure_alignment(inputs: torch.Tensor, target: torch.Tensor) -> tuple[float | None, OffsetEstimate | None]:
    """(:func:`input_target_overlap`, :func:`estimate_offset`) of one batch, the input occupancy built once."""
    occ_in = _occupied_for(inputs, target)
    return (None, None) if occ_in is None else (_overlap(occ_in, target), _offset(occ_in, target))


def input_target_overlap(inputs: torch.Tensor, target: torch.Tensor) -> float | None:
    """Fraction of occupied target voxels within one voxel of an occupied input voxel."""
    occ_in = _occupied_for(inputs, target)
    return None if occ_in is None else _overlap(occ_in, target)


def _overlap(occ_in: torch.Tensor, target: torch.Tensor) -> float | None:
    near_in = F.max_pool3d(occ_in.float().unsqueeze(1), kernel_size=3, stride=1, padding=1).squeeze(1) > 0
    occupied_t = target.detach() > 0.5
    n = int(occupied_t.sum())
    return float((occupied_t & near_in).sum()) / n if n else None


def estimate_offset(inputs: torch.Tensor, target: torch.Tensor) -> OffsetEstimate | None:
    """The input's offset from the target (see the module docstring); None when either is empty."""
    occ_in = _occupied_for(inputs, target)
    return None if occ_in is None else _offset(occ_in, target)


def _offset(occ_in: torch.Tensor, target: torch.Tensor, max_fraction: float = 0.3) -> OffsetEstimate | None:
    occ_t = target.detach() > 0.5
    if not bool(occ_in.any()) or not bool(occ_t.any()):
        return None
    b, z, y, x = occ_t.shape
    # occupied voxels per column, mean removed: a ground that covers every column adds a constant and drops
    # out, so the peak comes from what stands on it (buildings, trees, vehicles)
    a = occ_in.float().sum(dim=1)
    t = occ_t.float().sum(dim=1)
    a = a - a.mean(dim=(1, 2), keepdim=True)
    t = t - t.mean(dim=(1, 2), keepdim=True)
    size = (2 * y, 2 * x)
    corr = torch.fft.irfft2(torch.fft.rfft2(a, s=size) * torch.fft.rfft2(t, s=size).conj(), s=size).sum(0)
    ry, rx = max(1, int(max_fraction * y)), max(1, int(max_fraction * x))
    dys = torch.arange(-ry, ry + 1)
    dxs = torch.arange(-rx, rx + 1)
    # per overlapping cell: a larger shift overlaps less of the grid, which must not count against it
    area = ((y - dys.abs()).float()[:, None] * (x - dxs.abs()).float()[None, :])
    window = corr[dys % size[0]][:, dxs % size[1]] / area  # window[i, j] ~ mean_p a(p + (dy_i, dx_j)) t(p)
    peak = int(window.argmax())
    dy, dx = int(dys[peak // len(dxs)]), int(dxs[peak % len(dxs)])
    zero = float(window[ry, rx])
    best = float(window.max())
    dz, z_gain = _height_offset(occ_in, occ_t, dy, dx, max(1, int(max_fraction * z)))
    plan_gain = best / zero if zero > 0 else float("inf")
    gain = plan_gain if (dx, dy) != (0, 0) else z_gain
    return OffsetEstimate(dx, dy, dz, gain)


def _height_offset(occ_in: torch.Tensor, occ_t: torch.Tensor, dy: int, dx: int, rz: int) -> tuple[int, float]:
    """The level shift that best matches input and target once the plan offset is applied, and its gain over
    no level shift."""
    shifted = torch.roll(occ_in, shifts=(-dy, -dx), dims=(2, 3)).float()
    t = occ_t.float()
    scores = {dz: float((torch.roll(shifted, shifts=-dz, dims=1) * t).sum()) for dz in range(-rz, rz + 1)}
    best = max(scores, key=lambda d: (scores[d], -abs(d)))
    return best, (scores[best] / scores[0] if scores[0] > 0 else float("inf"))
