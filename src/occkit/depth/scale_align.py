"""Metric scale of pseudo-LiDAR from a known ground height: rescale the points along their camera rays so that
their dominant ground lands at the height the grid frame puts the ground at.

Monocular depth (Depth Anything 3 included) carries a per-image scale error of a few per cent. From a drone at
50-130 m that moves the whole cloud several metres up or down, more than ten 0.5 m levels, and no voxel
network can undo a shift that changes from frame to frame. A camera whose height above the ground is known
(GNSS / barometric altitude over a ground datum, or a vehicle's mounting height) fixes that scale: the classic
camera-height prior of monocular odometry. Every point votes for the scale that would put it on the ground
under it, (camera_z - ground) / (camera_z - z), applied along its ray, and the most common vote wins: from above
most pixels see ground, and ground pixels agree while roofs and trees scatter. The ground is one known height
(flat ground at the datum) or, for hills and a valley floor a metre above the datum, an elevation model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from occkit.errors import ConfigError
from occkit.geometry.transforms import apply_transform


def ground_mode(z: np.ndarray, bin_m: float = 0.25, smooth_bins: int = 5, refine_steps: int = 8) -> float | None:
    """The most common height (m) of the points: the peak of a histogram with ``bin_m`` bins smoothed over
    ``smooth_bins`` (odd, centred), refined to the median of the values within ``smooth_bins / 2`` bins of it until
    it settles (a mean shift with a median).

    The refinement matters: a histogram's peak is good to a bin, and an even smoothing window or a one-sided tail
    (roofs and crowns all vote on one side of the ground) drags it further. With 0.2 % scale bins the plain peak
    sat 0.45 % off on exact depth, 0.6 m at 130 m: every roof a level low."""
    z = np.asarray(z, dtype=np.float64)
    z = z[np.isfinite(z)]
    if len(z) < 10:
        return None
    lo, hi = np.percentile(z, [0.5, 99.5])
    if hi - lo < bin_m:
        return float(np.median(z))
    counts, edges = np.histogram(z, bins=max(1, int(np.ceil((hi - lo) / bin_m))), range=(lo, hi))
    half = max(0, smooth_bins // 2)
    if half:
        counts = np.convolve(counts, np.ones(2 * half + 1), mode="same")  # odd and centred: no shift
    k = int(np.argmax(counts))
    peak = float(0.5 * (edges[k] + edges[k + 1]))
    window = (half + 0.5) * bin_m
    for _ in range(refine_steps):
        near = z[np.abs(z - peak) <= window]
        if len(near) == 0:
            break
        moved = float(np.median(near))
        settled = abs(moved - peak) < 0.01 * bin_m
        peak = moved
        if settled:
            break
    return peak


SCALE_BIN = 0.002  # votes are binned in log scale: 0.2 %, a fifth of a 0.5 m level at 50 m


@dataclass(frozen=True)
class GroundRaster:
    """Bare-ground heights on a regular x/y grid (a DEM tile) in one frame: ``heights[i, j]`` is the ground at
    ``origin + (i, j) * cell``."""

    origin: tuple[float, float]
    cell: float
    heights: np.ndarray  # (nx, ny) float

    @classmethod
    def from_meta(cls, value: Any, where: str, if_missing: str = "give the ground as a height instead"
                  ) -> GroundRaster:
        """From a frame's ``meta["ground_dem"]``: {"origin": (x, y), "cell": m, "heights": (nx, ny) array};
        ``if_missing``: what the user can do when the frame has none."""
        if value is None:
            raise ConfigError(f"{where}: the frame has none (its source ships no elevation model); {if_missing}")
        if not isinstance(value, dict) or not {"origin", "cell", "heights"} <= set(value):
            raise ConfigError(f"{where}: expected a DEM tile {{'origin': (x, y), 'cell': metres, 'heights': (nx, ny) "
                              "array}, world frame")
        heights = np.asarray(value["heights"], dtype=np.float64)
        origin = np.asarray(value["origin"], dtype=np.float64).reshape(-1)
        cell = float(value["cell"])
        if heights.ndim != 2 or min(heights.shape) < 2 or origin.shape != (2,) or not cell > 0:
            raise ConfigError(f"{where}: expected heights of shape (nx >= 2, ny >= 2), origin (x, y) and cell > 0; "
                              f"got heights {heights.shape}, origin {origin.shape}, cell {cell}")
        return cls((float(origin[0]), float(origin[1])), cell, heights)

    def at(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Bilinear ground height at (x, y); NaN outside the tile."""
        from scipy.interpolate import RegularGridInterpolator

        nx, ny = self.heights.shape
        axes = (self.origin[0] + self.cell * np.arange(nx), self.origin[1] + self.cell * np.arange(ny))
        lookup = RegularGridInterpolator(axes, self.heights, method="linear", bounds_error=False, fill_value=np.nan)
        return lookup(np.column_stack([np.ravel(x), np.ravel(y)])).reshape(np.shape(x))


def align_to_ground(points: np.ndarray, camera: np.ndarray, T_frame_points: np.ndarray,
                    ground: float | GroundRaster = 0.0,
                    max_scale_change: float = 0.3) -> tuple[np.ndarray, float]:
    """Points (their own frame) rescaled along rays from ``camera`` (same frame; (3,), or one row per point for
    views merged with one scale, as multi-view depth gives them) so that their ground lands on
    ``ground``: a height in the frame ``T_frame_points`` maps to, or a DEM tile in that frame. Returns (points,
    scale).

    Each point votes for the scale that puts it on the ground under it, ``(cam_z - ground) / (cam_z - z)``; votes
    beyond ``max_scale_change`` are dropped (a large flat roof close under the camera collects more pixels than
    the ground, and its votes lie far off), and the most common of the rest is the scale. The scale is left at 1
    when the camera is not above the ground or no ground is found (then the assumption does not hold)."""
    from occkit.geometry.rays import ray_origins

    pts = np.asarray(points, dtype=np.float64)[:, :3]
    cam = ray_origins(camera, len(pts), "camera")
    xyz = apply_transform(T_frame_points, pts)
    cam_z = apply_transform(T_frame_points, cam)[:, 2]
    if isinstance(ground, GroundRaster):
        g = ground.at(xyz[:, 0], xyz[:, 1])
    else:
        g = np.full(len(xyz), float(ground))
    above, below = cam_z - g, cam_z - xyz[:, 2]
    ok = np.isfinite(g) & (above > 1.0) & (below > 1.0)
    votes = np.log(above[ok] / below[ok])
    c = max_scale_change
    lowest = np.log(1.0 - c) if c < 1 else -np.inf
    votes = votes[(votes >= lowest) & (votes <= np.log1p(c))]
    log_scale = ground_mode(votes, bin_m=SCALE_BIN)
    if log_scale is None:
        return pts, 1.0
    scale = float(np.exp(log_scale))
    return cam + scale * (pts - cam), scale
