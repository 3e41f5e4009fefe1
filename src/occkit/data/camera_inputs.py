"""Camera arrays of a sample, for a model that predicts depth itself (``data.input.camera``, ``model.depth``).

A model with its own depth network (``occkit.models.depth_occupancy``) reads the image, not the voxel grid:
each sample then also carries

- ``image``: (3, H, W) uint8 RGB, resized by ``data.input.camera.scale``;
- ``K``: (3, 3) float32 intrinsics at that size (``occkit.depth.unproject.scale_intrinsics``);
- ``T_grid_cam``: (4, 4) float32 camera -> grid frame, through the same ``T_grid_sensor`` the grids were made
  with, so unprojected depth lands where the target is;
- ``depth_gt``: (H, W) float32 true z-depth (0 = none) when the source renders it: what depth pre-training and
  the depth-error figures read.

Augmentation flips and turns the grids; ``grid_motion`` is the same move as a grid-frame transform, so
``T_grid_cam`` is moved with them and the image's points still land on the flipped target.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from occkit.errors import ConfigError
from occkit.frame import CameraView, Frame
from occkit.geometry.grid import GridSpec
from occkit.geometry.transforms import invert_transform

CAMERA_KEYS = ("image", "K", "T_grid_cam", "depth_gt")


def pick_camera(frame: Frame, name: str | None) -> CameraView:
    """The frame's camera called ``name`` (its first when None); ConfigError when it has none with an image."""
    views = [v for v in frame.cameras if name is None or v.name == name]
    if not views or views[0].image is None:
        have = [v.name for v in frame.cameras if v.image is not None] or "none"
        raise ConfigError(f"frame {frame.frame_id}: data.input.camera needs a camera image"
                          f"{f' from camera {name!r}' if name else ''}; the frame has cameras with images: {have}")
    return views[0]


def resized_size(width: int, height: int, scale: float) -> tuple[int, int]:
    return max(8, int(round(width * scale))), max(8, int(round(height * scale)))


def camera_arrays(frame: Frame, T_grid_sensor: np.ndarray, scale: float, name: str | None = None) -> dict[str, Any]:
    """The camera keys of one sample (module docstring)."""
    from PIL import Image

    from occkit.depth.unproject import scale_intrinsics

    view = pick_camera(frame, name)
    image = np.asarray(view.image)
    if image.ndim != 3 or image.shape[2] < 3:
        raise ConfigError(f"frame {frame.frame_id}: camera {view.name!r} image must be (H, W, 3), got {image.shape}")
    h, w = image.shape[:2]
    size = resized_size(w, h, scale)
    rgb = np.asarray(Image.fromarray(np.ascontiguousarray(image[..., :3], np.uint8)).resize(size, Image.BILINEAR))
    out: dict[str, Any] = {
        "image": np.ascontiguousarray(rgb.transpose(2, 0, 1)),
        "K": scale_intrinsics(view.K, (w, h), size).astype(np.float32),
        "T_grid_cam": (np.asarray(T_grid_sensor, np.float64) @ invert_transform(frame.T_world_sensor)
                       @ np.asarray(view.T_world_cam, np.float64)).astype(np.float32),
    }
    if view.depth is not None:
        out["depth_gt"] = nearest_resize(np.asarray(view.depth, np.float32), size)
    return out


def nearest_resize(depth: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H, W) -> (size[1], size[0]) by the source pixel under each output pixel's centre (depth never blends
    across an edge, which would invent points between a roof and the street)."""
    h, w = depth.shape
    u = np.clip(np.round((np.arange(size[0]) + 0.5) * w / size[0] - 0.5).astype(int), 0, w - 1)
    v = np.clip(np.round((np.arange(size[1]) + 0.5) * h / size[1] - 0.5).astype(int), 0, h - 1)
    return np.ascontiguousarray(depth[v[:, None], u[None, :]])


def grid_motion(draw: Any, spec: GridSpec) -> np.ndarray:
    """4x4 grid-frame transform that moves a point the way ``occkit.data.augment.apply_grid(draw)`` moves its
    voxel: a point voxelized after it lands in the voxel the augmented grid has. Derived from ``apply_grid``
    itself, so the two cannot disagree about the axis conventions."""
    from occkit.data.augment import apply_grid

    nx, ny, _ = spec.shape
    yy, xx = np.mgrid[0:ny, 0:nx]
    old_x, old_y = apply_grid(xx, draw), apply_grid(yy, draw)  # at each new (y, x): the old voxel's indices
    c = np.array([old_x[0, 0], old_y[0, 0]], np.float64)
    M = np.stack([np.array([old_x[0, 1], old_y[0, 1]]) - c, np.array([old_x[1, 0], old_y[1, 0]]) - c], axis=1)
    Minv = np.linalg.inv(M)  # new index = Minv @ (old index - c)
    lo, size = np.asarray(spec.lower[:2], np.float64), np.asarray(spec.size[:2], np.float64)

    def move(p: np.ndarray) -> np.ndarray:
        return lo + size * (Minv @ ((p - lo) / size - 0.5 - c) + 0.5)

    origin = move(np.zeros(2))
    T = np.eye(4)
    T[:2, 0] = move(np.array([1.0, 0.0])) - origin
    T[:2, 1] = move(np.array([0.0, 1.0])) - origin
    T[:2, 3] = origin
    return T


def augment_camera(sample: dict[str, Any], draw: Any, spec: GridSpec) -> dict[str, Any]:
    """Move ``T_grid_cam`` with the grids (the image itself is unchanged: the camera moved, not the picture)."""
    if "T_grid_cam" not in sample or draw.is_identity:
        return sample
    out = dict(sample)
    out["T_grid_cam"] = (grid_motion(draw, spec) @ np.asarray(sample["T_grid_cam"], np.float64)).astype(np.float32)
    return out
