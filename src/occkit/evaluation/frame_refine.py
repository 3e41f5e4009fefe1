"""Refine one source frame's pseudo-LiDAR with a trained model: the raw cloud, the refined one and the LiDAR.

Shared by the refinement benchmark and the main job's report, so both measure exactly the same clouds: the
pseudo points inside the grid, the refined cloud (``occkit.evaluation.refine_modes``, rays from the frame's
first camera, or from each point's own where the frame merges views), and the frame's LiDAR (accumulated sweeps
when it has them) inside the grid, all in the sensor frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from occkit.data.grids import camera_in_sensor
from occkit.evaluation.refine import in_grid_mask
from occkit.evaluation.refine_modes import RefinedCloud, RefineMode, refine_cloud


@dataclass
class FrameClouds:
    raw: np.ndarray  # pseudo points inside the grid (sensor frame), as the depth gave them
    refined: RefinedCloud  # refined in the mode refine_frame was asked for
    lidar: np.ndarray  # LiDAR inside the grid (sensor frame)
    prob: np.ndarray  # [x, y, z] probabilities on the config's grid
    target: np.ndarray  # [x, y, z] bool target on the same grid
    T_grid_sensor: np.ndarray
    spec: Any
    pseudo: np.ndarray  # every point the model saw (sensor frame; scale-aligned when the config asks)
    ray_origin: np.ndarray
    threshold: float

    def refine(self, mode: RefineMode) -> RefinedCloud:
        """The same prediction refined in another mode (no second forward pass)."""
        return refine_cloud(self.pseudo, self.prob, self.spec, self.threshold, mode=mode,
                            T_grid_points=self.T_grid_sensor, origin=self.ray_origin)


def refine_frame(module: Any, frame: Any, to_grids: Any, threshold: float,
                 mode: RefineMode = "default") -> FrameClouds:
    """Predict ``frame`` with ``module`` through ``to_grids`` (a FrameToGrids) and refine its pseudo points."""
    import torch

    from occkit.geometry.layout import channels_to_grid

    spec = to_grids.spec
    points = to_grids.input_points(frame)
    T = to_grids.align(frame, points).T_grid_sensor
    if getattr(module, "reads_images", False):  # a depth model: its own depth is the pseudo-LiDAR it refines
        model_points, logits = _own_depth_points(module, frame, to_grids, T)
        pseudo = model_points
    else:
        # what the model saw: with data.input.pseudo_ground_align the points rescaled to the known ground height
        model_points = np.asarray(to_grids.model_points(frame, T, points), np.float64)
        inputs = to_grids.input_grid(model_points, T, to_grids.ray_origin(frame), frame)
        with torch.no_grad():
            logits = module(torch.from_numpy(np.ascontiguousarray(inputs, np.float32))[None])
        pseudo = np.asarray(frame.pseudo_points if frame.pseudo_points is not None else frame.points, np.float64)
    prob = channels_to_grid(torch.sigmoid(logits[0].float()).numpy())
    pseudo = pseudo[np.all(np.isfinite(pseudo[:, :3]), axis=1)]
    lidar = np.asarray(frame.target_points if frame.target_points is not None else frame.points, np.float64)
    own_views = frame.pseudo_origins is not None and not getattr(module, "reads_images", False)
    camera = to_grids.ray_origin(frame) if own_views else camera_in_sensor(frame)  # per point when views merge
    ray_origin = np.zeros(3) if camera is None else camera
    refined = refine_cloud(model_points, prob, spec, threshold, mode=mode, T_grid_points=T, origin=ray_origin)
    return FrameClouds(raw=pseudo[in_grid_mask(pseudo, spec, T)], refined=refined,
                       lidar=lidar[in_grid_mask(lidar, spec, T)], prob=prob,
                       target=to_grids.target_grid(frame, T) > 0.5, T_grid_sensor=T, spec=spec,
                       pseudo=model_points, ray_origin=ray_origin, threshold=float(threshold))


def _own_depth_points(module: Any, frame: Any, to_grids: Any, T_grid_sensor: np.ndarray) -> tuple[np.ndarray, Any]:
    """(the depth model's own ground-aligned points in the sensor frame, its logits) for one frame."""
    import torch

    from occkit.data.camera_inputs import camera_arrays
    from occkit.geometry.transforms import apply_transform, invert_transform

    cam = to_grids.cfg.input.camera
    arrays = camera_arrays(frame, T_grid_sensor, cam.scale, cam.name)
    batch = {k: torch.from_numpy(np.ascontiguousarray(arrays[k]))[None] for k in ("image", "K", "T_grid_cam")}
    with torch.no_grad():
        logits, _ = module.forward_batch(batch)
    pts_grid = module.net.last_points[0].double().cpu().numpy()  # the points that forward pass splatted
    return apply_transform(invert_transform(T_grid_sensor), pts_grid), logits
