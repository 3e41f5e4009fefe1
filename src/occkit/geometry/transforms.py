"""Rigid 4x4 transforms named T_<to>_<from>, so that p_to = T_to_from @ p_from."""

from __future__ import annotations

import numpy as np

from occkit.errors import PoseError


def make_transform(rotation: np.ndarray | None = None, translation: np.ndarray | None = None) -> np.ndarray:
    """Build a 4x4 float64 transform from a 3x3 rotation and a 3-vector translation."""
    T = np.eye(4)
    if rotation is not None:
        T[:3, :3] = np.asarray(rotation, dtype=np.float64).reshape(3, 3)
    if translation is not None:
        T[:3, 3] = np.asarray(translation, dtype=np.float64).reshape(3)
    return T


def yaw_transform(yaw: float, translation: np.ndarray | None = None) -> np.ndarray:
    """Rotation about +z by yaw (radians), then translation."""
    c, s = np.cos(yaw), np.sin(yaw)
    return make_transform(np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]), translation)


def check_rigid(T: np.ndarray, name: str = "transform", tol: float = 1e-3) -> np.ndarray:
    """Return T as float64 (4, 4) or raise PoseError saying how it fails to be rigid."""
    T = np.asarray(T, dtype=np.float64)
    if T.shape != (4, 4):
        raise PoseError(f"{name}: expected a 4x4 matrix, got shape {T.shape}")
    if not np.all(np.isfinite(T)):
        raise PoseError(f"{name}: contains NaN or inf")
    if not np.allclose(T[3], [0.0, 0.0, 0.0, 1.0], atol=tol):
        raise PoseError(f"{name}: last row must be [0, 0, 0, 1], got {T[3].tolist()}")
    R = T[:3, :3]
    err = np.abs(R @ R.T - np.eye(3)).max()
    if err > tol:
        raise PoseError(f"{name}: rotation part is not orthonormal (max |R R^T - I| = {err:.3g})")
    det = np.linalg.det(R)
    if det < 0:
        raise PoseError(f"{name}: rotation has determinant {det:.3f}; expected +1 (right-handed)")
    return T


def invert_transform(T: np.ndarray) -> np.ndarray:
    """Inverse of a rigid transform (T_from_to from T_to_from), exact for rigid matrices."""
    T = np.asarray(T, dtype=np.float64)
    R, t = T[:3, :3], T[:3, 3]
    out = np.eye(4)
    out[:3, :3] = R.T
    out[:3, 3] = -R.T @ t
    return out


def apply_transform(T: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 4x4 transform to (N, >=3) points; extra columns pass through unchanged."""
    pts = np.asarray(points)
    T = np.asarray(T, dtype=np.float64)
    out = pts.copy() if pts.dtype.kind == "f" else pts.astype(np.float64)
    xyz = pts[:, :3].astype(np.float64) @ T[:3, :3].T + T[:3, 3]
    out[:, :3] = xyz.astype(out.dtype)
    return out
