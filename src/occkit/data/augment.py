"""Grid augmentation: flips and 90-degree turns in the x-y plane, applied to input, target and mask TOGETHER.

The arrays are in model layout (..., Y, X), so every op acts on the last two axes and leaves height
channels alone (height features are invariant under these ops). The plan offsets inside a voxel
(``offset_x``, ``offset_y``) are a vector in the plane: they are flipped and turned with the grid. A turn
is offered only on square grids (same cell count and voxel size in x and y); otherwise it would change the
grid's shape or geometry.

Seeding: one ``AugmentDraw`` per sample comes from ``numpy.random.default_rng(seed_sequence)``; the dataset
builds the seed sequence from ``(seed, epoch, index)`` so that a run is reproducible regardless of the
number of loader workers (see ``occkit.data.dataset.SeededSampler``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from occkit.data.config import AugmentConfig
from occkit.geometry.grid import GridSpec

GRID_KEYS = ("input", "target", "mask")


@dataclass(frozen=True)
class AugmentDraw:
    """What happens to one sample: flips first, then ``k`` quarter turns counter-clockwise seen from above."""

    flip_x: bool = False
    flip_y: bool = False
    k: int = 0

    @property
    def is_identity(self) -> bool:
        return not (self.flip_x or self.flip_y or self.k % 4)


def can_rotate(spec: GridSpec) -> bool:
    """A quarter turn keeps the grid only when x and y have the same cell count and voxel size."""
    x, y, _ = spec.shape
    return x == y and abs(spec.voxel_size[0] - spec.voxel_size[1]) < 1e-9


def draw(rng: np.random.Generator, cfg: AugmentConfig, spec: GridSpec) -> AugmentDraw:
    """Draw one sample's augmentation (each flip with p = 0.5, turns uniform in 0..3)."""
    flips = rng.random(2) < 0.5 if cfg.flip else np.zeros(2, bool)
    k = int(rng.integers(4)) if cfg.rotate90 and can_rotate(spec) else 0
    return AugmentDraw(bool(flips[0]), bool(flips[1]), k)


def apply_grid(array: Any, d: AugmentDraw) -> Any:
    """Apply ``d`` to one (..., Y, X) numpy array (returns a contiguous copy when anything changes)."""
    if d.is_identity:
        return array
    out = array
    if d.flip_x:
        out = out[..., ::-1]
    if d.flip_y:
        out = out[..., ::-1, :]
    if d.k % 4:
        # axes (X, Y): a counter-clockwise turn seen from +z maps (x, y) -> (-y, x)
        out = np.rot90(out, d.k, axes=(out.ndim - 1, out.ndim - 2))
    return np.ascontiguousarray(out)


def crop_window(rng: np.random.Generator, crop: tuple[int, int], spec: GridSpec) -> tuple[slice, slice]:
    """A random (y, x) window of ``crop = (x cells, y cells)`` inside the grid, uniform over its positions."""
    nx, ny, _ = spec.shape
    cx, cy = min(crop[0], nx), min(crop[1], ny)
    x0, y0 = int(rng.integers(nx - cx + 1)), int(rng.integers(ny - cy + 1))
    return slice(y0, y0 + cy), slice(x0, x0 + cx)


def source_window(d: AugmentDraw, window: tuple[slice, slice], spec: GridSpec) -> tuple[slice, slice]:
    """The (y, x) window of the un-augmented grid that ``apply_grid(d)`` moves onto ``window``.

    Cropping there first and augmenting the crop gives the same arrays as augmenting the whole grid and cropping
    it: flips and quarter turns move a rectangle onto a rectangle, in the same order. A quarter-grid window moves a
    quarter of the data. Derived from ``apply_grid`` itself, so the two cannot disagree about the axes."""
    nx, ny, _ = spec.shape
    moved = apply_grid(np.arange(ny * nx).reshape(ny, nx), d)[window]
    ys, xs = np.divmod(moved, nx)
    return slice(int(ys.min()), int(ys.max()) + 1), slice(int(xs.min()), int(xs.max()) + 1)


def crop_sample(sample: dict[str, Any], window: tuple[slice, slice]) -> dict[str, Any]:
    """Cut input, target and mask to the same (y, x) window; other keys pass through (an augmented sample's
    sensor origins are dropped by the dataset anyway)."""
    out = dict(sample)
    for key in GRID_KEYS:
        if key in out and out[key] is not None:
            out[key] = np.ascontiguousarray(out[key][..., window[0], window[1]])
    return out


def turn_offsets(array: np.ndarray, features: Sequence[str], d: AugmentDraw) -> None:
    """In place: flip and turn the in-voxel plan offsets of an already moved (F * Z, Y, X) input the way ``d``
    moved the voxels: a flip in x negates offset_x, a counter-clockwise quarter turn maps (ox, oy) to (-oy, ox)."""
    if "offset_x" not in features or d.is_identity:
        return
    ix, iy = features.index("offset_x"), features.index("offset_y")
    levels = array.reshape(len(features), -1, *array.shape[1:])
    ox, oy = levels[ix].copy(), levels[iy].copy()
    if d.flip_x:
        ox = -ox
    if d.flip_y:
        oy = -oy
    for _ in range(d.k % 4):
        ox, oy = -oy, ox
    levels[ix], levels[iy] = ox, oy


def apply_sample(sample: dict[str, Any], d: AugmentDraw, features: Sequence[str] = ()) -> dict[str, Any]:
    """Apply the same draw to input, target and mask of a sample dict; other keys pass through. ``features``: the
    input's feature names (data.input.features), so that the plan offsets among them turn with the grid."""
    out = dict(sample)
    for key in GRID_KEYS:
        if key in out and out[key] is not None:
            out[key] = apply_grid(out[key], d)
    if out.get("input") is not None:  # a copy whenever d moves anything (apply_grid)
        turn_offsets(out["input"], features, d)
    out["augment"] = d
    return out
