"""Where rays cross an axis-aligned box: the slab test shared by ray casting (visibility) and RayIoU."""

from __future__ import annotations

import numpy as np


def box_interval(start: np.ndarray, direction: np.ndarray, lower: np.ndarray, upper: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Ray parameters ``(t_in, t_out)`` (each (R,)) between which ``start + t * direction`` lies in the half-open
    box ``[lower, upper)``; ``t_in >= t_out`` means the ray never enters it. Not clipped to any range of t.

    A ray parallel to a slab is inside it for every t when it starts in it, and never otherwise (both bounds at
    +inf, so its entry never comes)."""
    start, direction = np.asarray(start, dtype=np.float64), np.asarray(direction, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = (lower - start) / direction
        t2 = (upper - start) / direction
    parallel = direction == 0
    inside = (start >= lower) & (start < upper)
    t1 = np.where(parallel, np.where(inside, -np.inf, np.inf), t1)
    t2 = np.where(parallel, np.inf, t2)
    return np.minimum(t1, t2).max(axis=1), np.maximum(t1, t2).min(axis=1)
