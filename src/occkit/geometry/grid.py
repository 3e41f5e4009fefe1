"""GridSpec: the one owner of every coordinate <-> voxel-index conversion.

A grid covers ``pc_range = (x_min, y_min, z_min, x_max, y_max, z_max)`` in metres with voxels of
``voxel_size = (dx, dy, dz)``. Arrays on disk and in numpy are indexed ``[x, y, z]``.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from occkit.errors import GridMismatchError

_DIVISIBILITY_TOL = 1e-4  # fraction of a voxel


def layout_hint(shape: tuple[int, ...], expected: tuple[int, ...]) -> str:
    """A clause for a shape that is the expected [x, y, z] one in the model's (Z, Y, X) order: the classic slip
    when a network's output is saved as it comes out."""
    if len(shape) == 3 and tuple(shape) != tuple(expected) and tuple(shape[::-1]) == tuple(expected):
        return ("; it looks like (Z, Y, X), the model's layout: occkit grids on disk are [x, y, z] "
                "(occkit.geometry.layout.channels_to_grid turns one into the other)")
    return ""


class GridSpec(BaseModel):
    """Point-cloud range + voxel size -> grid shape, with validated geometry."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    pc_range: tuple[float, float, float, float, float, float]
    voxel_size: tuple[float, float, float]

    PRESETS: ClassVar[dict[str, dict]] = {
        # Occ3D-nuScenes: 200 x 200 x 16 at 0.4 m, ego frame.
        "occ3d_nuscenes": {"pc_range": (-40.0, -40.0, -1.0, 40.0, 40.0, 5.4), "voxel_size": (0.4, 0.4, 0.4)},
        # Occ3D-Waymo at full resolution: 1600 x 1600 x 64 at 0.1 m x 0.1 m x 0.2 m (its 0.4 m "_04" files are
        # 200 x 200 x 16 on Occ3D-nuScenes' grid).
        "occ3d_waymo": {"pc_range": (-80.0, -80.0, -5.0, 80.0, 80.0, 7.8), "voxel_size": (0.1, 0.1, 0.2)},
        # SemanticKITTI semantic scene completion: 256 x 256 x 32 at 0.2 m, in front of the car.
        "semantickitti": {"pc_range": (0.0, -25.6, -2.0, 51.2, 25.6, 4.4), "voxel_size": (0.2, 0.2, 0.2)},
        # BEV-height grid (pseudo-LiDAR refinement): 180 x 180 x 32.
        "bev_height": {"pc_range": (-54.0, -54.0, -5.0, 54.0, 54.0, 3.0), "voxel_size": (0.6, 0.6, 0.25)},
        # UAV grid: 200 x 200 x 121, 0.4 m in plan, 0.5 m in height; gravity-aligned ego frame
        # centred under the drone, z measured from the map datum (ground is near z = 0).
        "uav": {"pc_range": (-40.0, -40.0, -10.0, 40.0, 40.0, 50.5), "voxel_size": (0.4, 0.4, 0.5)},
    }

    @field_validator("voxel_size")
    @classmethod
    def _positive_voxels(cls, v: tuple[float, float, float]) -> tuple[float, float, float]:
        if any(not np.isfinite(s) or s <= 0 for s in v):
            raise ValueError(f"voxel_size must be three positive finite numbers in metres, got {v}")
        return v

    @model_validator(mode="after")
    def _range_divides(self) -> GridSpec:
        lo, hi = np.array(self.pc_range[:3]), np.array(self.pc_range[3:])
        if not np.all(np.isfinite(lo)) or not np.all(np.isfinite(hi)) or np.any(hi <= lo):
            raise ValueError(f"pc_range must be (x_min, y_min, z_min, x_max, y_max, z_max) with max > min, "
                             f"got {self.pc_range}")
        n = (hi - lo) / np.array(self.voxel_size)
        if np.any(np.abs(n - np.round(n)) > _DIVISIBILITY_TOL):
            extent = ", ".join(f"{v:g}" for v in (hi - lo).round(6))
            ratio = ", ".join(f"{v:g}" for v in n.round(4))
            raise ValueError(f"pc_range extent ({extent}) m is not a whole number of voxels of size "
                             f"{tuple(self.voxel_size)} ({ratio} voxels)")
        return self

    # ---- construction -------------------------------------------------------------------------
    @classmethod
    def preset(cls, name: str) -> GridSpec:
        """One of the grids users run: occ3d_nuscenes, semantickitti, bev_height, uav."""
        if name not in cls.PRESETS:
            raise KeyError(f"unknown grid preset {name!r}; known: {sorted(cls.PRESETS)}")
        return cls(**cls.PRESETS[name])

    @classmethod
    def from_shape(cls, pc_range: tuple[float, ...], shape: tuple[int, int, int]) -> GridSpec:
        """Build from a range and a voxel count per axis instead of a voxel size."""
        lo, hi = np.array(pc_range[:3], float), np.array(pc_range[3:], float)
        if len(shape) != 3 or any(int(s) <= 0 for s in shape):
            raise ValueError(f"shape must be three positive integers, got {shape}")
        size = (hi - lo) / np.array(shape, float)
        return cls(pc_range=tuple(float(x) for x in pc_range), voxel_size=tuple(float(s) for s in size))

    # ---- derived geometry ---------------------------------------------------------------------
    @property
    def lower(self) -> np.ndarray:
        return np.array(self.pc_range[:3], dtype=np.float64)

    @property
    def upper(self) -> np.ndarray:
        return np.array(self.pc_range[3:], dtype=np.float64)

    @property
    def size(self) -> np.ndarray:
        return np.array(self.voxel_size, dtype=np.float64)

    @property
    def shape(self) -> tuple[int, int, int]:
        n = np.round((self.upper - self.lower) / self.size).astype(int)
        return int(n[0]), int(n[1]), int(n[2])

    @property
    def num_voxels(self) -> int:
        x, y, z = self.shape
        return x * y * z

    def z_centers(self) -> np.ndarray:
        """Height (m) of the centre of each z level."""
        return self.lower[2] + (np.arange(self.shape[2]) + 0.5) * self.size[2]

    # ---- conversions --------------------------------------------------------------------------
    def points_to_indices(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, >=3) points -> (int64 (N, 3) indices, bool (N,) in-range mask).

        A point exactly on a lower face belongs to that voxel; the upper face of the range is
        outside (half-open intervals), so every in-range point maps to exactly one voxel.
        """
        xyz = np.asarray(points, dtype=np.float64)[:, :3]
        idx = np.floor((xyz - self.lower) / self.size).astype(np.int64)
        inside = np.all((idx >= 0) & (idx < np.array(self.shape)), axis=1)
        return idx, inside

    def indices_to_centers(self, indices: np.ndarray) -> np.ndarray:
        """(N, 3) integer indices -> (N, 3) float64 voxel centres in metres."""
        return self.lower + (np.asarray(indices, dtype=np.float64) + 0.5) * self.size

    def flat_index(self, indices: np.ndarray) -> np.ndarray:
        """(N, 3) [x, y, z] indices -> flat indices into a C-ordered [x, y, z] array."""
        _, ny, nz = self.shape
        i = np.asarray(indices, dtype=np.int64)
        return (i[:, 0] * ny + i[:, 1]) * nz + i[:, 2]

    # ---- compatibility ------------------------------------------------------------------------
    def is_close(self, other: GridSpec, tol: float = 1e-6) -> bool:
        return bool(np.allclose(self.pc_range, other.pc_range, atol=tol)
                    and np.allclose(self.voxel_size, other.voxel_size, atol=tol))

    def check_same(self, other: GridSpec, what: str = "grids") -> None:
        """Raise GridMismatchError naming both specs unless the grids are the same."""
        if not isinstance(other, GridSpec):
            raise TypeError(f"{what}: expected a GridSpec, got {type(other).__name__}")
        if not self.is_close(other):
            raise GridMismatchError(
                f"{what} do not share a grid: {self.describe()} vs {other.describe()} "
                "(occkit never resamples silently; voxelize both with the same GridSpec)"
            )

    def check_array(self, array: np.ndarray, what: str = "grid", leading: int = 0) -> None:
        """Raise GridMismatchError unless array's trailing three dims are this grid's [x, y, z] shape."""
        shape = tuple(np.shape(array))[leading:leading + 3]
        if shape != self.shape:
            raise GridMismatchError(f"{what} has shape {shape} but {self.describe()} has shape {self.shape}"
                                    f"{layout_hint(shape, self.shape)}")

    def check_fits_memory(self, values_per_voxel: float, what: str, bytes_per_value: int = 4) -> None:
        """Raise ConfigError before allocating ``values_per_voxel`` dense values per voxel when that exceeds
        the memory this machine has: a too-fine voxel_size must be one line, not an out-of-memory kill."""
        from occkit.errors import ConfigError
        from occkit.utils.memory import available_memory_bytes

        need = float(self.num_voxels) * values_per_voxel * bytes_per_value
        have = available_memory_bytes()
        if have is not None and need > have:
            raise ConfigError(f"data.grid {self.describe()}: {what} would need {need / 2**30:,.1f} GiB, more than the "
                              f"{have / 2**30:,.1f} GiB of memory available; use a larger voxel_size or a smaller "
                              "pc_range")

    def describe(self) -> str:
        x, y, z = self.shape
        return f"GridSpec({x}x{y}x{z}, range={tuple(self.pc_range)}, voxel={tuple(self.voxel_size)})"

    def __str__(self) -> str:
        return self.describe()
