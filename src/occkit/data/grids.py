"""FrameToGrids: one Frame -> aligned (input, target, mask) arrays on the config's GridSpec.

Input and target are voxelized with the SAME ``T_grid_sensor`` (``occkit.data.alignment``), so a point
lands in the same voxel in both. Axes go from grid order [x, y, z] to model order (Z, Y, X) only through
``occkit.geometry.layout.grid_to_channels``.

Feature scaling (so every input channel is O(1)):
- ``occupancy``, ``soft``: already in [0, 1].
- ``count``: ``log1p(count)`` (a voxel with 1 point -> 0.69, 100 points -> 4.6).
- ``mean_height``, ``max_height``: height inside the voxel as a fraction of its height (0 = floor,
  1 = ceiling); empty voxels are 0. The channel already says which level the voxel is.
- ``offset_x``, ``offset_y``: the points' mean offset from the voxel centre in plan, as a fraction of the
  voxel size (-0.5 .. 0.5), 0 in empty voxels; turned with the grid by the augmentation.
- ``free``: 1 where a ray from the sensor to an input point crossed the voxel and did not end in it, else 0.
- ``dem_ground``: the frame's elevation model as a tent over the two levels around the ground, in [0, 1]
  (``occkit.data.elevation``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from occkit.data.alignment import GridAlignment, choose_grid_frame, in_range_ratio
from occkit.data.config import DataConfig
from occkit.data.elevation import FEATURE as DEM_FEATURE
from occkit.data.elevation import column_ground_heights, ground_tent
from occkit.data.surface import FEATURE as SURFACE_FEATURE
from occkit.errors import ConfigError, GridMismatchError
from occkit.frame import Frame
from occkit.geometry.grid import GridSpec
from occkit.geometry.layout import feature_levels, grid_to_channels
from occkit.geometry.transforms import check_rigid
from occkit.geometry.voxelize import voxelize

_HEIGHT_FEATURES = ("mean_height", "max_height")
# bump when FrameToGrids' output changes for the same inputs, so preprocessing caches are invalidated
# 6: the scale votes' peak refined to their median (it sat 0.45 % high, a level at 130 m); 5: pseudo ground alignment
# by per-point scale votes; 4: pseudo_ground_align; 3: samples carry sensor_origins;
# 2: lidar_center at the datum
PIPELINE_VERSION = 6


def _points(array: np.ndarray | None, what: str, frame_id: str) -> np.ndarray:
    pts = np.asarray(array)
    if pts.ndim != 2 or pts.shape[1] < 3:
        raise ValueError(f"frame {frame_id}: {what} must be an (N, >=3) array, got shape {pts.shape}")
    return pts[np.all(np.isfinite(pts[:, :3]), axis=1), :3]


def scale_feature(name: str, grid: np.ndarray, spec: GridSpec, occupied: np.ndarray) -> np.ndarray:
    """Bring one [x, y, z] feature grid to O(1) values (see the module docstring); ``occupied`` marks hit voxels."""
    grid = grid.astype(np.float32, copy=False)
    if name == "count":
        return np.log1p(grid)
    if name in _HEIGHT_FEATURES:
        floor = (spec.z_centers() - 0.5 * spec.size[2]).astype(np.float32)  # (Z,)
        frac = np.clip((grid - floor) / np.float32(spec.size[2]), 0.0, 1.0)
        return np.where(occupied, frac, np.float32(0.0)).astype(np.float32)
    return grid


class FrameToGrids:
    """Turn a Frame into the model's arrays: ``input`` (F*Z, Y, X), ``target`` (Z, Y, X), ``mask`` (Z, Y, X).

    The returned dict also holds ``frame_id``, ``alignment_path``, ``in_range_ratio``, ``target_rate`` and
    ``alignment_message``. ``mask`` is present only when ``cfg.target.use_visibility_mask`` is on.
    """

    def __init__(self, cfg: DataConfig) -> None:
        self.cfg = cfg
        self.spec = cfg.grid

    # ---- alignment ------------------------------------------------------------------------------
    def align(self, frame: Frame, input_points: np.ndarray | None = None) -> GridAlignment:
        """The grid frame for ``frame``: the dataset's own grid frame when the source states one
        (``frame.meta["T_grid_sensor"]``, Occ3D / SemanticKITTI, with or without a shipped target), else chosen
        from the LiDAR points (or ``input_points`` — e.g. pseudo-LiDAR — when the frame has no LiDAR points)."""
        cfg = self.cfg
        if cfg.use_dataset_grid_frame and frame.meta.get("T_grid_sensor") is not None:
            T = check_rigid(frame.meta["T_grid_sensor"], f"frame {frame.frame_id}: meta['T_grid_sensor']")
            pts = _points(frame.points, "points", frame.frame_id)
            ratio = in_range_ratio(pts, T, self.spec)
            return GridAlignment(T, "dataset", ratio, f"dataset grid frame: {ratio:.1%} of {len(pts)} points in range")
        if len(frame.points) == 0 and input_points is not None and len(input_points):
            frame = Frame(frame_id=frame.frame_id, points=input_points, T_world_sensor=frame.T_world_sensor)
        # a shipped grid cannot move with the points: re-centring would misalign it from the input
        fallback = cfg.fallback_to_lidar_center and frame.target is None
        return choose_grid_frame(frame, self.spec, ego_frame=cfg.ego_frame, fallback_to_lidar_center=fallback,
                                 min_in_range_ratio=cfg.min_in_range_ratio)

    # ---- the pieces -----------------------------------------------------------------------------
    def input_points(self, frame: Frame) -> np.ndarray:
        if self.cfg.input.points == "pseudo":
            if frame.pseudo_points is None and any(v.depth is not None for v in frame.cameras):
                from occkit.depth.pseudo import views_to_sensor_points  # depth maps shipped, not yet unprojected

                return _points(views_to_sensor_points(frame), "pseudo_points", frame.frame_id)
            if frame.pseudo_points is None and self.cfg.depth.model is not None:
                return _points(self._estimate_depth(frame), "pseudo_points", frame.frame_id)
            if frame.pseudo_points is None:
                raise ConfigError(f"frame {frame.frame_id}: data.input.points='pseudo' but the frame has no "
                                  "pseudo_points or depth maps (set data.depth.model to run Depth Anything 3 on its "
                                  "images, or set data.input.points='lidar')")
            return _points(frame.pseudo_points, "pseudo_points", frame.frame_id)
        return _points(frame.points, "points", frame.frame_id)

    def _estimate_depth(self, frame: Frame) -> np.ndarray:
        """Pseudo points from the frame's images through DA3 (loaded once), via the depth cache when set."""
        from occkit.depth.pseudo import estimate_pseudo_points

        dcfg = self.cfg.depth
        if getattr(self, "_depth_model", None) is None:
            from occkit.depth.cache import DepthCache
            from occkit.depth.da3 import DA3Depth

            self._depth_model = DA3Depth.from_pretrained(dcfg.model, weights=dcfg.weights, device=dcfg.device)
            self._depth_cache = DepthCache(dcfg.cache_dir) if dcfg.cache_dir else None
        return estimate_pseudo_points(frame, self._depth_model, cache=self._depth_cache,
                                      conf_percentile=dcfg.conf_percentile, max_range=dcfg.max_range)

    def input_grid(self, points: np.ndarray, T: np.ndarray, origin: np.ndarray | None = None,
                   frame: Frame | None = None) -> np.ndarray:
        """(F*Z, Y, X) float32, channel = f*Z + z (feature-major). ``origin``: where the points' rays start, in
        their (sensor) frame (the camera for pseudo points); None = the sensor origin. Only ``free`` reads it.
        ``frame``: whose elevation model the ``dem_ground`` feature reads (needed only for that feature)."""
        icfg = self.cfg.input
        computed = {"free", DEM_FEATURE, SURFACE_FEATURE}
        vox = voxelize(points, self.spec, features=tuple({"count", *icfg.features} - computed), T_grid_points=T,
                       lam=icfg.soft_lambda, gamma=icfg.soft_gamma)
        hit = vox.count > 0
        grids = {f: getattr(vox, f) for f in icfg.features if f not in computed}
        if DEM_FEATURE in icfg.features:
            if frame is None:
                raise ConfigError(f"data.input.features '{DEM_FEATURE}': these points come without a frame, so "
                                  "there is no elevation model (meta 'ground_dem') to read; leave the feature out")
            grids[DEM_FEATURE] = ground_tent(column_ground_heights(frame, T, self.spec), self.spec)
        if SURFACE_FEATURE in icfg.features:
            grids[SURFACE_FEATURE] = self._surface(vox.count, T, frame)
        if "free" in icfg.features:
            from occkit.geometry.visibility import lidar_visibility

            short = shorten_rays(points, origin, icfg.free_margin)
            grids["free"] = lidar_visibility(short, origin, self.spec, T_grid_points=T) & ~hit
        stack = np.stack([scale_feature(f, grids[f], self.spec, hit) for f in icfg.features])  # (F, X, Y, Z)
        chans = grid_to_channels(stack)  # (F, Z, Y, X)
        f, z, y, x = chans.shape
        return chans.reshape(f * z, y, x).astype(np.float32, copy=False)

    def _surface(self, count: np.ndarray, T: np.ndarray, frame: Frame | None) -> np.ndarray:
        """The ``surface`` feature [x, y, z]: over the frame's elevation model where it has one, else over the
        input's own ground (occkit.data.surface)."""
        from occkit.data.surface import input_ground_heights, raised_surface_heights

        icfg = self.cfg.input
        has_dem = frame is not None and frame.meta.get("ground_dem") is not None
        ground = column_ground_heights(frame, T, self.spec) if has_dem else input_ground_heights(count, self.spec)
        heights = raised_surface_heights(count, ground, self.spec, margin_m=icfg.surface_margin,
                                         window_m=icfg.surface_window)
        return ground_tent(heights, self.spec)

    def target_grid(self, frame: Frame, T: np.ndarray) -> np.ndarray:
        """[x, y, z] float32 target in [0, 1]."""
        tgt = frame.target
        if tgt is not None:
            self.spec.check_same(tgt.spec, f"frame {frame.frame_id}: data.grid vs the dataset's target grid")
            tgt.spec.check_array(tgt.semantics, f"frame {frame.frame_id}: target.semantics")
            return tgt.occupancy.astype(np.float32)  # a shipped label grid is hard; soft == hard here
        src = frame.target_points if frame.target_points is not None else frame.points
        pts = _points(src, "target_points", frame.frame_id)
        kind = self.cfg.target.kind
        feat = "occupancy" if kind == "hard" else "soft"
        vox = voxelize(pts, self.spec, features=(feat,), T_grid_points=T,
                       lam=self.cfg.input.soft_lambda, gamma=self.cfg.input.soft_gamma)
        return getattr(vox, feat).astype(np.float32)

    def mask_grid(self, frame: Frame, T: np.ndarray) -> np.ndarray | None:
        """[x, y, z] bool visibility mask, or None when masking is off."""
        tcfg = self.cfg.target
        if not tcfg.use_visibility_mask:
            return None
        tgt, want = frame.target, tcfg.mask_source
        shipped = {"camera": tgt.mask_camera if tgt else None, "lidar": tgt.mask_lidar if tgt else None}
        order = ["camera", "lidar", "raycast"] if want == "auto" else [want]
        for name in order:
            if name in shipped and shipped[name] is not None:
                self.spec.check_array(shipped[name], f"frame {frame.frame_id}: target.mask_{name}")
                return np.asarray(shipped[name]).astype(bool)
            if name == "raycast":
                return self._raycast_mask(frame, T)
        raise ConfigError(f"frame {frame.frame_id}: data.target.mask_source={want!r} but the frame ships no "
                          f"mask_{want} (use mask_source='auto' or 'raycast')")

    def _raycast_mask(self, frame: Frame, T: np.ndarray) -> np.ndarray:
        """Voxels the current sweep's rays crossed or ended in (accumulated target points came from other
        origins, so only ``frame.points`` are cast, from the sensor origin)."""
        from occkit.geometry.visibility import lidar_visibility

        pts = _points(frame.points, "points", frame.frame_id)
        return np.asarray(lidar_visibility(pts, None, self.spec, T_grid_points=T)).astype(bool)

    def ray_origin(self, frame: Frame) -> np.ndarray | None:
        """Where the input points' rays start, in the sensor frame: None (the sensor) for LiDAR; for pseudo points
        the camera of each point (``frame.pseudo_origins``, views merged) or else the frame's first camera. Only the
        ``free`` feature needs it, so only then is a missing camera an error."""
        if self.cfg.input.points != "pseudo":
            return None
        camera = pseudo_cameras(frame)
        if camera is None and "free" in self.cfg.input.features:
            raise ConfigError(f"frame {frame.frame_id}: data.input.features 'free' with pseudo points needs the camera "
                              "the points came from (the frame has no camera)")
        return camera

    # ---- all together ---------------------------------------------------------------------------
    def model_points(self, frame: Frame, T_grid_sensor: np.ndarray, points: np.ndarray | None = None,
                     camera: np.ndarray | None = None) -> np.ndarray:
        """The input points the model is given: with ``input.pseudo_ground_align`` pseudo points rescaled along
        their rays from ``camera`` (sensor frame; default: ``pseudo_cameras``) to the known ground height."""
        pts = self.input_points(frame) if points is None else points
        icfg = self.cfg.input
        if icfg.points != "pseudo" or not icfg.pseudo_ground_align:
            return pts
        from occkit.depth.scale_align import GroundRaster, align_to_ground

        if camera is None:
            camera = pseudo_cameras(frame)
            if camera is None:
                raise ConfigError(f"frame {frame.frame_id}: data.input.pseudo_ground_align needs the camera the "
                                  "pseudo points came from (the frame has no camera)")
        ground = icfg.pseudo_ground_z
        if ground == "dem":
            raster = GroundRaster.from_meta(frame.meta.get("ground_dem"), f"frame {frame.frame_id}: meta "
                                            "'ground_dem' (data.input.pseudo_ground_z='dem')")
            aligned, _ = align_to_ground(pts, camera, frame.T_world_sensor, raster)
        else:
            aligned, _ = align_to_ground(pts, camera, T_grid_sensor, float(ground))
        return aligned.astype(np.float32)

    def __call__(self, frame: Frame) -> dict[str, Any]:
        points = self.input_points(frame)
        al = self.align(frame, points)
        points = self.model_points(frame, al.T_grid_sensor, points)
        inp = self.input_grid(points, al.T_grid_sensor, self.ray_origin(frame), frame)
        target = self.target_grid(frame, al.T_grid_sensor)
        mask = self.mask_grid(frame, al.T_grid_sensor)
        out: dict[str, Any] = {
            "input": inp,
            "target": grid_to_channels(target),
            "frame_id": frame.frame_id,
            "alignment_path": al.path,
            "alignment_message": al.message,
            "in_range_ratio": float(al.in_range_ratio),
            "target_rate": float(target.mean()),
        }
        if mask is not None:
            out["mask"] = grid_to_channels(mask)
        out["sensor_origins"] = sensor_origins(frame, al.T_grid_sensor)
        cam = self.cfg.input.camera
        if cam is not None:
            from occkit.data.camera_inputs import camera_arrays

            out.update(camera_arrays(frame, al.T_grid_sensor, cam.scale, cam.name))
        return out


def shorten_rays(points: np.ndarray, origin: np.ndarray | None, margin: float) -> np.ndarray:
    """Each point moved ``margin`` metres back towards ``origin`` ((3,) or one row per point; None = 0): the end
    of a ray that stops short of its hit, so a voxel the ray grazed next to its surface is not called free (points
    nearer than the margin end at the origin)."""
    from occkit.geometry.rays import ray_origins

    pts = np.asarray(points, np.float64)[:, :3]
    o = ray_origins(origin, len(pts))
    ray = pts - o
    length = np.linalg.norm(ray, axis=1, keepdims=True)
    keep = np.clip(length - margin, 0.0, None) / np.maximum(length, 1e-9)
    return o + ray * keep


def pseudo_cameras(frame: Frame) -> np.ndarray | None:
    """Where the frame's pseudo points' rays start, in its sensor frame: each point's camera (``pseudo_origins``,
    (N, 3)) when the frame merges views, else its first camera (3,); None when it has neither."""
    if frame.pseudo_origins is not None and frame.pseudo_points is not None:
        return checked_pseudo_origins(frame)
    return camera_in_sensor(frame)


def checked_pseudo_origins(frame: Frame) -> np.ndarray:
    """``frame.pseudo_origins`` of the finite pseudo points (the ones ``input_points`` keeps) as (N, 3) float64;
    one line naming the frame when they do not match its points."""
    o = np.asarray(frame.pseudo_origins, np.float64)
    pts = np.asarray(frame.pseudo_points)
    n = len(pts)
    if o.shape != (n, 3) or not np.isfinite(o).all():
        raise ConfigError(f"frame {frame.frame_id}: pseudo_origins must be a finite ({n}, 3) array, one camera "
                          f"position per pseudo point, got shape {o.shape}")
    return o[np.all(np.isfinite(pts[:, :3]), axis=1)]


def camera_in_sensor(frame: Frame) -> np.ndarray | None:
    """Position of the frame's first camera in its sensor frame (where pseudo points' rays start), or None."""
    if not frame.cameras:
        return None
    from occkit.geometry.transforms import invert_transform

    return (invert_transform(frame.T_world_sensor) @ frame.cameras[0].T_world_cam)[:3, 3]


def sensor_origins(frame: Frame, T_grid_sensor: np.ndarray) -> np.ndarray:
    """(K, 3) float32 sensor positions in the grid frame for RayIoU's rays: a source's complete list where it
    states one (``meta["ray_origins"]``, sensor frame: SparseOcc's rule on Occ3D, occkit.metrics.ray_origins),
    else this frame's sensor first, then the neighbouring sweeps' of ``meta["sensor_origins"]`` (sensor frame)."""
    from occkit.geometry.transforms import apply_transform

    if frame.meta.get("ray_origins") is not None:
        stated = np.asarray(frame.meta["ray_origins"], dtype=np.float64).reshape(-1, 3)
        return apply_transform(T_grid_sensor, stated).astype(np.float32)
    extra = np.asarray(frame.meta.get("sensor_origins", np.zeros((0, 3))), dtype=np.float64).reshape(-1, 3)
    extra = extra[np.all(np.isfinite(extra), axis=1) & (np.linalg.norm(extra, axis=1) > 1e-6)]  # own sensor: first
    return apply_transform(T_grid_sensor, np.vstack([np.zeros((1, 3)), extra])).astype(np.float32)


def check_model_arrays(sample: dict[str, Any], spec: GridSpec, n_features: int) -> None:
    """Raise GridMismatchError unless a sample's arrays have the (F*Z, Y, X) / (Z, Y, X) shapes of ``spec``."""
    x, y, z = spec.shape
    expect = {"input": (n_features * z, y, x), "target": (z, y, x), "mask": (z, y, x)}
    for key, shape in expect.items():
        if key in sample and tuple(sample[key].shape) != shape:
            raise GridMismatchError(f"sample {sample.get('frame_id')}: {key} has shape {tuple(sample[key].shape)}, "
                                    f"expected {shape} for {spec.describe()}")


def input_occupancy(inputs: Any, features: list[str], num_levels: int) -> Any:
    """Which voxels hold input points, (..., Z, Y, X) bool, from model-layout inputs (..., F*Z, Y, X).

    Reads the first feature of ``features`` that is positive exactly on hit voxels (occupancy, soft, count);
    works on numpy arrays and torch tensors alike. The baselines and the metrics' seen/unseen split use it.
    """
    from occkit.data.config import OCCUPANCY_FEATURES

    usable = [i for i, f in enumerate(features) if f in OCCUPANCY_FEATURES]
    if not usable:
        raise ConfigError(f"data.input.features {features}: none of them marks occupied voxels; add one of "
                          f"{OCCUPANCY_FEATURES} to compare against the copy-the-input baselines")
    return feature_levels(inputs, usable[0], num_levels) > 0
