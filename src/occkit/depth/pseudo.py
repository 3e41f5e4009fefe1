"""A frame's cameras -> pseudo-LiDAR in the frame's sensor frame (``Frame.pseudo_points``).

Pseudo points live in the same frame as ``Frame.points`` (the LiDAR/sensor frame), so the grid transform a
source ships (``meta["T_grid_sensor"]``) or the one ``occkit.data`` chooses applies to both unchanged:
``p_sensor = T_world_sensor^-1 @ T_world_cam @ p_cam``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from occkit.depth.unproject import DEFAULT_CONF_PERCENTILE, unproject_depth
from occkit.frame import CameraView, Frame
from occkit.geometry.transforms import check_rigid, invert_transform


def _T_sensor_cam(frame: Frame, view: CameraView) -> np.ndarray:
    T_world_sensor = check_rigid(frame.T_world_sensor, f"frame {frame.frame_id}: T_world_sensor")
    T_world_cam = check_rigid(view.T_world_cam, f"frame {frame.frame_id}: camera {view.name}: T_world_cam")
    return invert_transform(T_world_sensor) @ T_world_cam


def views_to_sensor_points(frame: Frame, *, conf_threshold: float | None = None,
                           max_range: float | None = None) -> np.ndarray:
    """Unproject every camera of ``frame`` that has a depth map; (N, 3) float32 in the sensor frame."""
    clouds = []
    for view in frame.cameras:
        if view.depth is None:
            continue
        thr = conf_threshold if view.depth_conf is not None else None
        clouds.append(unproject_depth(view.depth, view.K, _T_sensor_cam(frame, view), conf=view.depth_conf,
                                      conf_threshold=thr, max_range=max_range))
    return np.concatenate(clouds) if clouds else np.zeros((0, 3), np.float32)


def estimate_pseudo_points(frame: Frame, predictor: Any, *, cache: Any = None,
                           conf_percentile: float | None = DEFAULT_CONF_PERCENTILE,
                           max_range: float | None = None) -> np.ndarray:
    """Run a depth model (``DA3Depth``, optionally through a ``DepthCache``) on the frame's camera images.

    Each camera needs ``image_path`` and, for metric scale and placement, its own K (original image size) and
    ``T_world_cam``; the model's own pose estimate is not used, because it lives in the model's arbitrary frame.
    Returns (N, 3) float32 in the sensor frame; set it as ``frame.pseudo_points``.
    """
    views = [v for v in frame.cameras if v.image_path is not None]
    if not views:
        raise ValueError(f"frame {frame.frame_id}: no camera with an image_path to estimate depth from")
    paths = [v.image_path for v in views]
    Ks = [v.K for v in views]
    poses = [v.T_world_cam for v in views]
    if cache is not None:
        preds = cache.get_or_compute(paths, predictor, K=Ks, T_world_cam=poses, progress=False)
    else:
        preds = predictor.predict(paths, K=Ks, T_world_cam=poses)
    clouds = [p.pseudo_points(conf_percentile=conf_percentile if p.conf is not None else None, max_range=max_range,
                              T_world_cam=_T_sensor_cam(frame, v))
              for p, v in zip(preds, views, strict=True)]
    return np.concatenate(clouds) if clouds else np.zeros((0, 3), np.float32)
