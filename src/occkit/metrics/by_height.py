"""The model beside its baselines by the sensor's height over the ground.

From a drone, how far the sensor is from what it sees decides how good its points are: monocular depth's error
grows with range (about 0.6 m at 50 m, 2 m at 130 m for the synthetic camera), so one table over all frames hides
that a model works at 60 m and predicts nothing above the ground at 120 m. ``HeightBinnedQuality`` keeps one
``QualityMetrics`` per band of ``bin_m`` metres of sensor height over the frame's ground (the median of the ground
filter's level, ``occkit.metrics.regions``, so terrain under the grid is not counted as height), fed frame by frame.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from occkit.metrics.quality import QualityMetrics
from occkit.metrics.regions import ground_levels


def sensor_height_over_ground(sensor_z: float, target: torch.Tensor, z_min: float, dz: float, window: int) -> float:
    """Metres from the frame's median ground level (``target`` (Z, Y, X), levels from ``z_min`` in steps of
    ``dz``) up to the sensor at grid-frame height ``sensor_z``."""
    level = float(ground_levels(target[None].bool(), window)[0].median())
    return float(sensor_z) - (z_min + (level + 0.5) * dz)


class HeightBinnedQuality:
    """One ``QualityMetrics`` (from ``make``) per ``bin_m`` band of sensor height over the ground."""

    def __init__(self, make: Callable[[], QualityMetrics], bin_m: float, z_min: float, dz: float,
                 window: int) -> None:
        if not bin_m > 0:
            raise ValueError(f"bin_m must be > 0 metres, got {bin_m}")
        self.make, self.bin_m, self.z_min, self.dz, self.window = make, float(bin_m), z_min, dz, int(window)
        self.bins: dict[int, QualityMetrics] = {}
        self.frames: dict[int, int] = {}

    def update(self, sensor_z: float, logits: torch.Tensor, target: torch.Tensor, input_occ: torch.Tensor,
               mask: torch.Tensor | None = None, dem_ground: torch.Tensor | None = None,
               surface: torch.Tensor | None = None) -> None:
        """One frame, (1, Z, Y, X) tensors as ``QualityMetrics.update`` takes them."""
        height = sensor_height_over_ground(sensor_z, target[0] >= 0.5, self.z_min, self.dz, self.window)
        key = math.floor(height / self.bin_m)
        if key not in self.bins:
            self.bins[key], self.frames[key] = self.make(), 0
        self.bins[key].update(logits, target, input_occ, mask, dem_ground, surface)
        self.frames[key] += 1

    def compute(self) -> list[dict[str, Any]]:
        """Per band, lowest first: ``height_m`` [from, to), ``frames`` and the ``QualityMetrics`` result."""
        return [{"height_m": [k * self.bin_m, (k + 1) * self.bin_m], "frames": self.frames[k],
                 **self.bins[k].compute()} for k in sorted(self.bins)]
