"""Frame: what every source yields. Sources read files; they never voxelize."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from occkit.geometry.grid import GridSpec


@dataclass
class CameraView:
    """One camera of a frame. K is 3x3 at the resolution of ``image``/``depth``."""

    name: str
    K: np.ndarray
    T_world_cam: np.ndarray
    width: int
    height: int
    image: np.ndarray | None = None  # (H, W, 3) uint8 RGB
    depth: np.ndarray | None = None  # (H, W) float32 metres along the optical axis, 0 = invalid
    depth_conf: np.ndarray | None = None  # (H, W) float32, larger = more confident
    semantics: np.ndarray | None = None  # (H, W) uint8 class ids
    image_path: str | None = None
    distortion: np.ndarray | None = None


@dataclass
class OccupancyTarget:
    """A ground-truth grid shipped by a dataset (e.g. Occ3D labels.npz), indexed [x, y, z]."""

    spec: GridSpec
    semantics: np.ndarray  # uint8 class ids; ``free_label`` marks empty voxels
    free_label: int = 17
    mask_lidar: np.ndarray | None = None  # bool, voxels observed by LiDAR
    mask_camera: np.ndarray | None = None  # bool, voxels visible in the cameras

    @property
    def occupancy(self) -> np.ndarray:
        return self.semantics != self.free_label


@dataclass
class Frame:
    """One sample in its sensor frame, with its pose and whatever else the dataset ships.

    ``points`` are (N, 3) float32 in the LiDAR/sensor frame; ``T_world_sensor`` maps them to the
    world. ``target_points`` (sensor frame) are the points the target grid is built from when the
    dataset ships no grid (e.g. LiDAR accumulated over several poses).
    """

    frame_id: str
    points: np.ndarray
    T_world_sensor: np.ndarray
    point_fields: dict[str, np.ndarray] = field(default_factory=dict)
    point_labels: np.ndarray | None = None
    cameras: list[CameraView] = field(default_factory=list)
    pseudo_points: np.ndarray | None = None
    # (N, 3) sensor-frame position of the camera each pseudo point was seen from, when they merge several views
    # (None = all from the first camera): the free-space rays and the scale alignment start there
    pseudo_origins: np.ndarray | None = None
    target_points: np.ndarray | None = None
    target: OccupancyTarget | None = None
    meta: dict[str, Any] = field(default_factory=dict)
