"""Depth map -> pseudo-LiDAR points, and the inverse projection.

Pixel convention (OpenCV): pixel ``(u, v)`` (column, row) has its centre at integer coordinates, so the
top-left pixel's centre is ``(0, 0)`` and ``K = [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]`` maps a camera
point ``(x, y, z)`` (x right, y down, z forward) to ``u = fx * x / z + cx``, ``v = fy * y / z + cy``.
Depth is *z-depth* (distance along the optical axis, metres), not the length of the ray.
"""

from __future__ import annotations

import numpy as np

from occkit.geometry.transforms import check_rigid


def _check_K(K: np.ndarray) -> np.ndarray:
    K = np.asarray(K, dtype=np.float64)
    if K.shape != (3, 3):
        raise ValueError(f"K must be a 3x3 intrinsic matrix, got shape {K.shape}")
    if not np.all(np.isfinite(K)) or K[0, 0] <= 0 or K[1, 1] <= 0:
        raise ValueError(f"K must be finite with positive focal lengths fx, fy; got {K.tolist()}")
    return K


# the share (%) of a depth prediction's least confident pixels dropped by default: DA3's own default for point exports
DEFAULT_CONF_PERCENTILE = 40.0


def confidence_floor(depth: np.ndarray, conf: np.ndarray, percentile: float | None,
                     threshold: float | None = None) -> float | None:
    """The confidence below which pixels are dropped: the ``percentile`` of the valid pixels' confidence (40 keeps
    the top 60 %, DA3's own default for point exports), or the absolute ``threshold`` if higher. Low confidence
    marks the flying pixels at depth edges, which land between a roof and the ground."""
    if percentile is None:
        return threshold
    valid = np.asarray(conf)[np.isfinite(depth) & (np.asarray(depth) > 0)]
    floor = float(np.percentile(valid, percentile)) if valid.size else np.inf
    return floor if threshold is None else max(threshold, floor)


def unproject_depth(
    depth: np.ndarray,
    K: np.ndarray,
    T_world_cam: np.ndarray | None = None,
    *,
    conf: np.ndarray | None = None,
    conf_threshold: float | None = None,
    max_range: float | None = None,
) -> np.ndarray:
    """Lift every valid pixel of a z-depth map to a 3D point; returns float32 (N, 3).

    Invalid pixels (depth 0, negative, NaN or inf) are dropped, so are pixels whose ``conf`` is below
    ``conf_threshold`` and pixels farther than ``max_range`` metres (Euclidean distance from the camera).
    Points are in the camera frame (OpenCV axes), or in the world frame when ``T_world_cam`` is given.
    Output order is row-major over the kept pixels.
    """
    depth = np.asarray(depth)
    if depth.ndim != 2:
        raise ValueError(f"depth must be an (H, W) map, got shape {depth.shape}")
    K = _check_K(K)
    with np.errstate(invalid="ignore"):
        keep = np.isfinite(depth) & (depth > 0)
    if conf_threshold is not None:
        if conf is None:
            raise ValueError("conf_threshold was given but conf is None; pass the confidence map")
        conf = np.asarray(conf)
        if conf.shape != depth.shape:
            raise ValueError(f"conf has shape {conf.shape} but depth has shape {depth.shape}")
        with np.errstate(invalid="ignore"):
            keep &= conf >= conf_threshold  # NaN confidence compares False: dropped
    v, u = np.nonzero(keep)
    z = depth[v, u].astype(np.float64)
    # Column-wise arithmetic, not an (N, 3) @ (3, 3) matmul: several times faster for millions of pixels.
    y = (v - K[1, 2]) * (z / K[1, 1])
    x = (u - K[0, 2] - K[0, 1] * (v - K[1, 2]) / K[1, 1]) * (z / K[0, 0])
    if max_range is not None:
        near = x * x + y * y + z * z <= float(max_range) ** 2
        x, y, z = x[near], y[near], z[near]
    out = np.empty((len(z), 3), dtype=np.float32)
    if T_world_cam is None:
        out[:, 0], out[:, 1], out[:, 2] = x, y, z
        return out
    T = check_rigid(T_world_cam, "T_world_cam")
    for i in range(3):
        out[:, i] = T[i, 0] * x + T[i, 1] * y + T[i, 2] * z + T[i, 3]
    return out


def project_points(
    points_cam: np.ndarray, K: np.ndarray, width: int, height: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Project camera-frame points to pixels: returns (uv float64 (N, 2), depth (N,), in-image bool (N,)).

    A point is in the image when it is in front of the camera (z > 0) and its pixel centre lies within
    ``[-0.5, width - 0.5) x [-0.5, height - 0.5)`` (the OpenCV pixel footprint), so
    ``np.round(uv).astype(int)`` of an in-image point is a valid (u, v) index.
    """
    K = _check_K(K)
    p = np.asarray(points_cam, dtype=np.float64)[:, :3]
    z = p[:, 2]
    front = z > 0
    safe_z = np.where(front, z, 1.0)
    uv = np.empty((len(p), 2))
    uv[:, 0] = (K[0, 0] * p[:, 0] + K[0, 1] * p[:, 1]) / safe_z + K[0, 2]
    uv[:, 1] = K[1, 1] * p[:, 1] / safe_z + K[1, 2]
    inside = (front & (uv[:, 0] >= -0.5) & (uv[:, 0] < width - 0.5)
              & (uv[:, 1] >= -0.5) & (uv[:, 1] < height - 0.5))
    return uv, z, inside


def scale_intrinsics(K: np.ndarray, from_size: tuple[int, int], to_size: tuple[int, int]) -> np.ndarray:
    """Rescale K for an image resized from ``(width, height)`` to ``(width, height)``.

    With pixel centres at integer coordinates a resize by factor s maps u to ``(u + 0.5) * s - 0.5``,
    so ``cx' = (cx + 0.5) * sx - 0.5`` (same for cy) and ``fx' = fx * sx``.
    """
    K = _check_K(K).copy()
    sx, sy = to_size[0] / from_size[0], to_size[1] / from_size[1]
    K[0, 0] *= sx
    K[0, 1] *= sx
    K[1, 1] *= sy
    K[0, 2] = (K[0, 2] + 0.5) * sx - 0.5
    K[1, 2] = (K[1, 2] + 0.5) * sy - 0.5
    return K
