"""Where rays start: one origin for a whole cloud, or one per point (pseudo-LiDAR merged from several views)."""

from __future__ import annotations

import numpy as np


def ray_origins(origin: np.ndarray | None, n: int, what: str = "origin") -> np.ndarray:
    """``origin`` as a float64 (1, 3) row (one origin, or None = the frame's own 0) or (n, 3) (one per point);
    ValueError naming ``what`` for any other shape."""
    o = np.zeros((1, 3)) if origin is None else np.asarray(origin, dtype=np.float64).reshape(-1, 3)
    if len(o) not in (1, n):
        raise ValueError(f"{what} must be (3,) or one (3,) row per point ({n}), got {len(o)} rows")
    return o
