"""Choose the grid frame for one frame: where the GridSpec's box sits relative to the sensor.

Three ways, tried in order (the path taken is recorded with every sample):

- ``"ego"`` (``ego_frame=True``): gravity-aligned frame built from the pose ``T_world_sensor``: only the
  sensor's yaw is kept, the origin is under the sensor at world z = 0. The "uav" preset measures z from
  the map datum (ground near 0); driving datasets whose frames are already ego-centred get the same
  frame with identity poses.
- ``"sensor"`` (``ego_frame=False``): the sensor frame itself.
- ``"lidar_center"`` (fallback): when the chosen frame leaves fewer than ``min_in_range_ratio`` of the
  points inside the grid (a wrong datum, a bad pose), keep gravity alignment but centre x/y on the
  median of the points and put their 2nd-percentile height at z = 0 when the grid holds it and the points'
  robust span fits above (as the ego path would), else as high as fits, but at least 2 voxels above the
  grid's floor (``floor_height``).
- ``"empty"``: nothing usable (no points, or the fallback failed / is off). The transform of the first
  choice is kept so the caller can still voxelize (what little lands in range is kept); the path says why.
- ``"dataset"``: not chosen here. A source whose frames ship a target grid in their own frame puts
  ``frame.meta["T_grid_sensor"]`` and the data pipeline uses it as is (see ``FrameToGrids``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from occkit.frame import Frame
from occkit.geometry.grid import GridSpec
from occkit.geometry.transforms import apply_transform, check_rigid, invert_transform, yaw_transform

AlignmentPath = Literal["ego", "lidar_center", "sensor", "empty", "dataset"]
ALIGNMENT_PATHS: tuple[str, ...] = ("ego", "lidar_center", "sensor", "empty", "dataset")

_LOW_PERCENTILE = 2.0  # robust floor of the cloud for the lidar_center fallback
_FLOOR_MARGIN_VOXELS = 2.0  # voxels left below that floor


@dataclass(frozen=True)
class GridAlignment:
    """How a frame's sensor points map into the grid: ``p_grid = T_grid_sensor @ p_sensor``."""

    T_grid_sensor: np.ndarray
    path: AlignmentPath
    in_range_ratio: float
    message: str


def sensor_yaw(T_world_sensor: np.ndarray) -> float:
    """Heading (rad) of the sensor about world z: the direction of its x axis in the ground plane.

    A sensor whose x axis points straight up or down (a nadir camera rig) uses its y axis instead.
    """
    R = np.asarray(T_world_sensor, dtype=np.float64)[:3, :3]
    x_axis = R[:, 0]
    if np.hypot(x_axis[0], x_axis[1]) > 1e-6:
        return float(np.arctan2(x_axis[1], x_axis[0]))
    y_axis = R[:, 1]
    return float(np.arctan2(y_axis[1], y_axis[0]) - np.pi / 2)


def ego_transform(T_world_sensor: np.ndarray) -> np.ndarray:
    """T_grid_sensor for the gravity-aligned ego frame (yaw only, origin at sensor x, y and world z = 0)."""
    T = np.asarray(T_world_sensor, dtype=np.float64)
    T_world_ego = yaw_transform(sensor_yaw(T), np.array([T[0, 3], T[1, 3], 0.0]))
    return invert_transform(T_world_ego) @ T


def in_range_ratio(points_sensor: np.ndarray, T_grid_sensor: np.ndarray, spec: GridSpec) -> float:
    """Fraction of points that land inside ``spec`` after moving them into the grid frame."""
    if len(points_sensor) == 0:
        return 0.0
    _, inside = spec.points_to_indices(apply_transform(T_grid_sensor, points_sensor[:, :3]))
    return float(inside.mean())


def floor_height(spec: GridSpec, span: float) -> float:
    """Grid-frame height for the points' robust floor in the lidar_center fallback.

    z = 0 when the grid holds it (the datum convention of the ego path, so the ground lands on the same
    levels either way), lowered when the points' robust height span would not fit below the ceiling, and
    never below the grid floor plus a margin of two voxels.
    """
    margin = _FLOOR_MARGIN_VOXELS * spec.size[2]
    lo, hi = spec.lower[2] + margin, spec.upper[2] - margin
    preferred = 0.0 if spec.lower[2] < 0.0 < spec.upper[2] else lo
    return float(max(lo, min(preferred, hi - span)))


def lidar_center_transform(points_sensor: np.ndarray, T_world_sensor: np.ndarray, spec: GridSpec) -> np.ndarray:
    """T_grid_sensor that centres the grid on the points (gravity-aligned, robust floor near the grid floor)."""
    T = np.asarray(T_world_sensor, dtype=np.float64)
    yaw = sensor_yaw(T)
    T_heading_sensor = invert_transform(yaw_transform(yaw)) @ T  # gravity-aligned, origin at world origin
    pts = apply_transform(T_heading_sensor, points_sensor[:, :3])
    mx, my = np.median(pts[:, 0]), np.median(pts[:, 1])
    low, high = np.percentile(pts[:, 2], [_LOW_PERCENTILE, 100.0 - _LOW_PERCENTILE])
    grid_xy_center = 0.5 * (spec.lower[:2] + spec.upper[:2])
    z_shift = low - floor_height(spec, high - low)
    T_grid_heading = np.eye(4)
    T_grid_heading[:3, 3] = [grid_xy_center[0] - mx, grid_xy_center[1] - my, -z_shift]
    return T_grid_heading @ T_heading_sensor


def choose_grid_frame(
    frame: Frame,
    spec: GridSpec,
    *,
    ego_frame: bool = True,
    fallback_to_lidar_center: bool = True,
    min_in_range_ratio: float = 0.01,
) -> GridAlignment:
    """Pick the grid frame for ``frame`` (see the module docstring for the order and the rules)."""
    T_world_sensor = check_rigid(frame.T_world_sensor, f"frame {frame.frame_id}: T_world_sensor")
    pts = np.asarray(frame.points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] < 3:
        raise ValueError(f"frame {frame.frame_id}: points must be an (N, >=3) array, got shape {pts.shape}")
    pts = pts[np.all(np.isfinite(pts[:, :3]), axis=1), :3]

    first: AlignmentPath = "ego" if ego_frame else "sensor"
    T_first = ego_transform(T_world_sensor) if ego_frame else np.eye(4)
    if len(pts) == 0:
        return GridAlignment(T_first, "empty", 0.0, f"frame {frame.frame_id}: no finite points")
    ratio = in_range_ratio(pts, T_first, spec)
    if ratio >= min_in_range_ratio and ratio > 0:
        return GridAlignment(T_first, first, ratio, f"{first} frame: {ratio:.1%} of {len(pts)} points in range")

    why = (f"{first} frame put {ratio:.2%} of {len(pts)} points in {spec.describe()} "
           f"(< min_in_range_ratio {min_in_range_ratio:g})")
    if not fallback_to_lidar_center:
        return GridAlignment(T_first, "empty", ratio, f"{why}; fallback_to_lidar_center is off: no usable grid frame")
    T_center = lidar_center_transform(pts, T_world_sensor, spec)
    ratio_c = in_range_ratio(pts, T_center, spec)
    if ratio_c >= min_in_range_ratio and ratio_c > 0:
        return GridAlignment(T_center, "lidar_center", ratio_c,
                             f"{why}; centred the grid on the LiDAR points instead ({ratio_c:.1%} in range)")
    return GridAlignment(T_first, "empty", ratio,
                         f"{why}; centring on the LiDAR points also failed ({ratio_c:.2%} in range): "
                         "no usable grid frame")
