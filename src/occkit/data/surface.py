"""The raised surface under the pseudo points, smoothed over many columns, as an input feature.

From a drone 100-130 m up a monocular depth map's error is about 2 m, four height levels, so one column's points
put a roof anywhere in a smear that deep, and the network, which reads a few columns at a time, predicts almost
nothing above the ground there. The error is smooth over only a few pixels (a pixel covers about 0.6 m at that
height), so a roof of 10 x 10 m holds dozens of independent errors: pooled over a window of columns, the points'
median height puts the roof back within about a level. This is the digital-surface-model step of airborne
photogrammetry (a robust height per raster cell, then a median over its neighbours), done on the voxel grid:

1. per column the ground height: the frame's elevation model where it has one, else the input's own lowest
   level opened over ``GROUND_WINDOW_M`` (the morphological ground filter of ``occkit.metrics.regions``);
2. the points more than ``margin`` metres above it are *raised*; a column takes part when most of the points in
   its 3 x 3 neighbourhood are raised (an edge-preserving choice: a roof's edge stays where its points end);
3. its surface height is the median height of the raised points in the ``window`` x ``window`` columns around
   it, interpolated inside the median's level (the median of grouped data), so that it moves smoothly with the
   points rather than by whole levels;
4. the feature is a tent over the two levels around that height, as ``dem_ground`` (``occkit.data.elevation``).

Columns with no raised surface are 0. The same channel gives a classical reference, the smoothed surface on the
elevation model's ground (``occkit.metrics.baselines``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage

from occkit.geometry.grid import GridSpec
from occkit.geometry.layout import channels_to_grid, feature_levels, grid_to_channels

FEATURE = "surface"
GROUND_WINDOW_M = 30.0  # wider than the widest roof the ground filter of the input removes
_SUPPORT_WINDOW = 3  # columns around a column whose points decide whether it is raised
_MIN_SUPPORT = 0.5  # share of those points that must be raised


def input_ground_heights(count: np.ndarray, spec: GridSpec, window_m: float = GROUND_WINDOW_M) -> np.ndarray:
    """(X, Y) float64: the ground height (grid frame, m) under each column from the input alone: the metrics' own
    ground filter (``occkit.metrics.regions.ground_levels``, an opening of the lowest occupied level) run on the
    input's occupancy, the frame's median level where no column in reach has a point."""
    import torch

    from occkit.metrics.regions import ground_filter_voxels, ground_levels

    window, _ = ground_filter_voxels(window_m, 0.0, spec.size)
    hit = torch.from_numpy(grid_to_channels(np.asarray(count) > 0))[None]  # (1, Z, Y, X)
    levels = channels_to_grid(ground_levels(hit, window).numpy())[..., 0]  # (1, Y, X) as one level -> (X, Y)
    return spec.pc_range[2] + (levels.astype(np.float64) + 0.5) * float(spec.size[2])


def raised_surface_heights(count: np.ndarray, ground: np.ndarray, spec: GridSpec, *, margin_m: float,
                           window_m: float) -> np.ndarray:
    """(X, Y) float64: the smoothed surface height (grid frame, m) of each column's raised points (see the
    module docstring); NaN where the column has no raised surface. ``count``: points per voxel [x, y, z];
    ``ground``: (X, Y) ground height (m), NaN where unknown (no point there counts as raised)."""
    z = spec.z_centers().astype(np.float64)
    count = np.asarray(count, np.float64)
    ground = np.asarray(ground, np.float64)
    raised = count * (z[None, None, :] > np.nan_to_num(ground, nan=np.inf)[..., None] + margin_m)
    s = _SUPPORT_WINDOW
    share = ndimage.uniform_filter(raised.sum(-1), s, mode="constant") / np.maximum(
        ndimage.uniform_filter(count.sum(-1), s, mode="constant"), 1e-12)
    k = max(1, round(window_m / float(min(spec.size[0], spec.size[1])))) | 1
    pooled = ndimage.uniform_filter(raised, size=(k, k, 1), mode="constant") * (k * k)  # points in the window
    total = pooled.sum(-1)
    height = spec.pc_range[2] + float(spec.size[2]) * interpolated_median_level(pooled)
    return np.where((share > _MIN_SUPPORT) & (total >= 2.0), height, np.nan)


def surface_levels(inputs: Any, features: list[str], num_levels: int) -> Any | None:
    """The smoothed surface as a predictor, (..., Z, Y, X) bool: the two levels around its height (the tent above
    0) in model-layout inputs (..., F*Z, Y, X); None without the feature."""
    if FEATURE not in features:
        return None
    return feature_levels(inputs, features.index(FEATURE), num_levels) > 0


def interpolated_median_level(weights: np.ndarray) -> np.ndarray:
    """(...,) float: the median of per-level weights (..., Z) in level units from the grid's floor (level k spans
    [k, k + 1)), interpolated linearly inside the level where the cumulative weight passes half; 0 where empty."""
    cum = np.cumsum(weights, -1)
    half = 0.5 * cum[..., -1:]
    level = np.argmax(cum >= half, axis=-1)[..., None]
    below = np.where(level > 0, np.take_along_axis(cum, np.maximum(level - 1, 0), -1), 0.0)
    inside = np.take_along_axis(weights, level, -1)
    frac = np.clip((half - below) / np.maximum(inside, 1e-12), 0.0, 1.0)
    return (level + frac)[..., 0]
