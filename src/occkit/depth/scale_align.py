"""Metric scale of pseudo-LiDAR from a known ground height: rescale the points along their camera rays so that
their dominant ground lands at the height the grid frame puts the ground at.

Monocular depth (Depth Anything 3 included) carries a per-image scale error of a few per cent. From a drone at
50-130 m that moves the whole cloud several metres up or down, more than ten 0.5 m levels, and no voxel
network can undo a shift that changes from frame to frame. A camera whose height above the ground is known
(GNSS / barometric altitude over a ground datum, or a vehicle's mounting height) fixes that scale: the classic
camera-height prior of monocular odometry. The ground is taken as the mode of the points' heights (from above
most pixels see ground); scale = (ground_z - camera_z) / (mode - camera_z), applied along each ray.
"""

from __future__ import annotations

import numpy as np

from occkit.geometry.transforms import apply_transform


def ground_mode(z: np.ndarray, bin_m: float = 0.25, smooth_bins: int = 4) -> float | None:
    """The most common height (m) of the points, from a histogram with ``bin_m`` bins, lightly smoothed."""
    z = np.asarray(z, dtype=np.float64)
    z = z[np.isfinite(z)]
    if len(z) < 10:
        return None
    lo, hi = np.percentile(z, [0.5, 99.5])
    if hi - lo < bin_m:
        return float(np.median(z))
    counts, edges = np.histogram(z, bins=max(1, int(np.ceil((hi - lo) / bin_m))), range=(lo, hi))
    if smooth_bins > 1:
        counts = np.convolve(counts, np.ones(smooth_bins) / smooth_bins, mode="same")
    k = int(np.argmax(counts))
    return float(0.5 * (edges[k] + edges[k + 1]))


def align_to_ground(points: np.ndarray, camera: np.ndarray, T_grid_points: np.ndarray, ground_z: float = 0.0,
                    max_scale_change: float = 0.3) -> tuple[np.ndarray, float]:
    """Points (their own frame) rescaled along rays from ``camera`` (same frame) so that their height mode in the
    grid frame is ``ground_z``; returns (points, scale). The scale is left at 1 when the camera is not above the
    ground mode or the correction would exceed ``max_scale_change`` (then the assumption does not hold)."""
    pts = np.asarray(points, dtype=np.float64)[:, :3]
    cam = np.asarray(camera, dtype=np.float64).reshape(3)
    z = apply_transform(T_grid_points, pts)[:, 2]
    cam_z = float(apply_transform(T_grid_points, cam[None])[0, 2])
    mode = ground_mode(z)
    if mode is None or cam_z - mode <= 1.0 or cam_z - ground_z <= 1.0:
        return pts, 1.0
    scale = (cam_z - ground_z) / (cam_z - mode)
    if abs(scale - 1.0) > max_scale_change:
        return pts, 1.0
    return cam + scale * (pts - cam), float(scale)
