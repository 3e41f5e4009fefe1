"""``predict``: checkpoint + inputs -> occupancy grids, refined point clouds and (with LiDAR) Chamfer numbers.

Inputs become model inputs through the training pipeline itself: a ``Frame`` (the input points as both
``points`` and ``pseudo_points``, so either ``data.input.points`` setting reads them) goes through
``FrameToGrids.align`` and ``FrameToGrids.input_grid`` with the checkpoint's config. Nothing here recomputes
features, so a prediction sees exactly what training saw. (One difference is unavoidable: a model trained
on pseudo points had its grid placed from the frame's LiDAR; here only the input exists. The ``ego`` and
``sensor`` frames depend on the pose alone and are the same; only the ``lidar_center`` fallback, taken when
the pose puts too few points in the grid, is computed from the input points instead.)

Outputs under ``out_dir``:

- ``grids/<name>/labels.npz`` (Occ3D style): ``semantics`` uint8 [x, y, z] with ``OCCUPIED_LABEL`` (0) where
  the probability is > the grid threshold and ``FREE_LABEL`` (17) elsewhere; ``mask_lidar`` and
  ``mask_camera`` are all ones (the model predicts every voxel). Or ``grids/<name>.npy``: float32 [x, y, z]
  probabilities.
- ``refined/<name>.pcd``, ``.ply`` and ``.bin``: the refined cloud (``occkit.evaluation.refine_modes``: points
  filtered, snapped along their rays onto the predicted surfaces, and completed in predicted-occupied voxels), in
  the **input's own sensor frame** and coordinates (the frame the input file came in; for depth maps and images the
  camera file's sensor frame). ``.pcd``/``.ply`` carry the input's per-point fields plus ``origin`` (0 kept,
  1 snapped, 2 added) and ``prob`` (the voxel probability); ``.bin`` is KITTI-style float32 ``x y z intensity``
  (intensity 0 where the input had none, and for added points), which OpenPCDet and mmdetection3d load as is.
- ``predict_summary.json``: per input counts, kept fraction, alignment, and with ``lidar`` the Chamfer
  distance and the F-score at one and two voxels of raw and refined points to the LiDAR scan (input points
  cropped to the grid box, since the refined cloud cannot hold points outside it; LiDAR cropped to the grid
  columns the input covers).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from occkit.errors import ConfigError
from occkit.evaluation.inputs import PredictInput, collect_inputs, load_points, match_lidar
from occkit.evaluation.refine import chamfer_distance, fscore, in_grid_mask
from occkit.evaluation.refine_modes import REFINE_MODES, RefinedCloud, RefineMode, refine_cloud

OCCUPIED_LABEL = 0  # the single class id written for predicted-occupied voxels (Occ3D "others")
GridFormat = Literal["npz", "npy"]
CloudFormat = Literal["all", "pcd", "ply", "bin"]
CLOUD_SUFFIXES = {"all": ("pcd", "ply", "bin"), "pcd": ("pcd",), "ply": ("ply",), "bin": ("bin",)}


@dataclass
class FramePrediction:
    """What predict did with one input."""

    name: str
    input: str
    kind: str
    pose_from: str
    alignment: str
    in_range_ratio: float
    num_points: int
    num_in_grid: int
    num_kept: int
    kept_fraction: float
    occupied_fraction: float
    grid_path: str
    cloud_path: str
    refine_mode: str = "default"
    num_snapped: int = 0
    num_added: int = 0
    cloud_paths: list[str] = field(default_factory=list)
    lidar: str | None = None
    num_lidar: int | None = None
    chamfer_raw: float | None = None
    chamfer_refined: float | None = None
    accuracy_raw: float | None = None
    accuracy_refined: float | None = None
    completeness_raw: float | None = None
    completeness_refined: float | None = None
    fscore1_raw: float | None = None  # F-score at one voxel (the grid's plan voxel size)
    fscore1_refined: float | None = None
    fscore2_raw: float | None = None  # ... at two voxels
    fscore2_refined: float | None = None


@dataclass
class PredictResult:
    """All predictions, the thresholds used and where the summary went."""

    frames: list[FramePrediction]
    out_dir: Path
    grid_threshold: float
    refine_threshold: float
    summary_path: Path
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (an infinite Chamfer distance, from an empty cloud, becomes null)."""
        frames = [{k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in asdict(f).items()}
                  for f in self.frames]
        return {"grid_threshold": self.grid_threshold, "refine_threshold": self.refine_threshold,
                "occupied_label": OCCUPIED_LABEL, "frames": frames, **self.extra}


def _load(module_or_checkpoint: Any, cfg: Any) -> Any:
    if isinstance(module_or_checkpoint, (str, Path)):
        from occkit.train.checkpoint import load_module

        return load_module(module_or_checkpoint, cfg)
    if cfg is not None:
        from occkit.train.checkpoint import check_grid

        check_grid(module_or_checkpoint.cfg.data.grid, cfg.data.grid, where="module")
    return module_or_checkpoint.eval()


def refuse_image_model(module: Any, what: str) -> None:
    """ConfigError for a model with its own depth network (``model.depth``) where a voxel input is given."""
    if getattr(module, "reads_images", False):
        from occkit.errors import ConfigError

        raise ConfigError(f"{what}: this model reads camera images through its own depth network (model.depth), "
                          "not voxelized points; evaluate it on its dataset with: occkit eval RUN")


def refuse_elevation_model(cfg: Any, what: Any) -> None:
    """ConfigError for a model that reads each frame's elevation model: files carry none, and a model fed
    without it would see inputs it was never trained on."""
    uses = [name for name, on in (("data.input.pseudo_ground_z='dem'", cfg.data.input.pseudo_ground_z == "dem"),
                                  ("the input feature 'dem_ground'", "dem_ground" in cfg.data.input.features)) if on]
    if uses:
        name = str(what) if isinstance(what, (str, Path)) else "this model"
        raise ConfigError(f"{name}: reads each frame's elevation model ({' and '.join(uses)}), which the files "
                          "given to occkit predict do not carry; evaluate it on its dataset with `occkit eval RUN`, "
                          "or predict with a model trained without one (e.g. configs/da3_refinement.py)")


def probability_grid(module: Any, input_grid: np.ndarray) -> np.ndarray:
    """Model input (F*Z, Y, X) -> float32 [x, y, z] probabilities (sigmoid of the logits)."""
    import torch

    from occkit.geometry.layout import channels_to_grid

    refuse_image_model(module, "occkit predict")
    with torch.no_grad():
        logits = module(torch.from_numpy(np.ascontiguousarray(input_grid, np.float32))[None])
    return channels_to_grid(torch.sigmoid(logits[0].float()).cpu().numpy()).astype(np.float32)


@dataclass
class PointsPrediction:
    """One cloud through the model: the probability grid, where the grid sat, and the refined cloud."""

    prob: np.ndarray  # float32 [x, y, z]
    alignment: Any  # occkit.data.alignment.Alignment: T_grid_sensor, path, in_range_ratio
    model_xyz: np.ndarray  # the points the model saw (sensor frame; scale-aligned when the config asks)
    refined: RefinedCloud | None  # None when no refinement was asked for


def predict_points(module: Any, to_grids: Any, xyz: np.ndarray, T_world_sensor: np.ndarray, *,
                   ray_origin: np.ndarray | None = None, fields: dict[str, np.ndarray] | None = None,
                   refine_threshold: float = 0.5, refine: RefineMode | None = "default") -> PointsPrediction:
    """Sensor-frame points -> probabilities and refined cloud (``refine=None``: the grid only), through the
    training pipeline (``to_grids``)."""
    from occkit.frame import Frame

    xyz = np.asarray(xyz, np.float32)
    origin = np.zeros(3) if ray_origin is None else np.asarray(ray_origin, np.float64)
    frame = Frame(frame_id="input", points=xyz, T_world_sensor=np.asarray(T_world_sensor, np.float64),
                  pseudo_points=xyz)
    al = to_grids.align(frame)
    model_xyz = to_grids.model_points(frame, al.T_grid_sensor, camera=origin)
    prob = probability_grid(module, to_grids.input_grid(model_xyz, al.T_grid_sensor, origin))
    refined = None if refine is None else refine_cloud(model_xyz, prob, to_grids.spec, refine_threshold, mode=refine,
                                                       T_grid_points=al.T_grid_sensor, origin=origin,
                                                       fields=fields or {})
    return PointsPrediction(prob, al, model_xyz, refined)


def write_grid(path_base: Path, prob: np.ndarray, threshold: float, fmt: GridFormat, spec: Any = None) -> Path:
    """Occ3D labels.npz (occupied = OCCUPIED_LABEL, free = 17, masks all ones, plus ``grid_spec``) or .npy
    probabilities with a ``.grid.json`` sidecar, so `occkit viz` redraws either without ``--grid``."""
    if fmt == "npy":
        from occkit.utils.atomic import atomic_write, atomic_write_text

        path = path_base.with_name(f"{path_base.name}.npy")
        path.parent.mkdir(parents=True, exist_ok=True)

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as fh:
                np.save(fh, prob.astype(np.float32))

        atomic_write(path, write)
        if spec is not None:
            atomic_write_text(grid_sidecar(path), spec.model_dump_json())
        return path
    from occkit.io.occ3d import FREE_LABEL, write_occ3d_labels

    path = path_base / "labels.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    semantics = np.where(prob > threshold, OCCUPIED_LABEL, FREE_LABEL).astype(np.uint8)
    ones = np.ones(prob.shape, np.uint8)
    return write_occ3d_labels(path, semantics, ones, ones, spec=spec)


def grid_sidecar(npy_path: Path) -> Path:
    """``name.npy`` -> ``name.grid.json``: the GridSpec of a bare .npy grid."""
    return npy_path.with_name(f"{npy_path.stem}.grid.json")


def predict(module_or_checkpoint: Any, inputs: list[str | Path] | list[PredictInput], out_dir: str | Path, *,
            cfg: Any = None, lidar: str | Path | None = None, camera: str | Path | None = None,
            poses: str | Path | None = None, grid_format: GridFormat = "npz", cloud_format: CloudFormat = "all",
            refine: RefineMode = "default", pictures: bool = False,
            threshold: float | None = None, depth_model: Any = None, depth_cache: Any = None,
            max_depth: float | None = None, progress: bool = True, columns: int | None = None) -> PredictResult:
    """Run a checkpoint over input files and write grids, refined clouds and ``predict_summary.json``.

    ``threshold`` sets both the grid threshold and the refine threshold; by default they are the config's
    ``eval.threshold`` and ``eval.refine_threshold``. ``depth_model`` (a ``DA3Depth`` or anything with its
    ``predict``) is needed only for image inputs; ``depth_cache`` (a ``DepthCache``) spares repeated runs;
    ``max_depth`` (m) drops depth/image points farther from the camera. ``columns`` is the float32 column
    count of header-less ``.bin`` scans (guessed, with a plausibility check, when None).
    """
    from occkit.data.grids import FrameToGrids

    if grid_format not in ("npz", "npy"):
        raise ConfigError(f"--format: expected 'npz' or 'npy', got {grid_format!r}")
    if cloud_format not in CLOUD_SUFFIXES:
        raise ConfigError(f"--cloud-format: expected one of {', '.join(CLOUD_SUFFIXES)}, got {cloud_format!r}")
    if refine not in REFINE_MODES:
        raise ConfigError(f"--refine: expected one of {', '.join(REFINE_MODES)}, got {refine!r}")
    if threshold is not None and not 0 < threshold < 1:
        raise ConfigError(f"--threshold: expected a probability in (0, 1), got {threshold}")
    module = _load(module_or_checkpoint, cfg)
    cfg = module.cfg
    refuse_elevation_model(cfg, module_or_checkpoint)
    grid_t = float(threshold if threshold is not None else cfg.eval.threshold)
    refine_t = float(threshold if threshold is not None else cfg.eval.refine_threshold)
    items = (list(inputs) if inputs and isinstance(inputs[0], PredictInput)
             else collect_inputs(list(inputs), camera=camera, poses=poses))  # type: ignore[arg-type]
    lidar_files = match_lidar(lidar, items)
    if any(it.kind == "image" for it in items) and depth_model is None:
        from occkit.depth.da3 import DA3Depth

        depth_model = DA3Depth.from_pretrained()  # raises DepthModelUnavailableError with the install hint
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    to_grids = FrameToGrids(cfg.data)
    spec = cfg.data.grid
    frames: list[FramePrediction] = []
    for it in _progress(items, progress):
        pts = load_points(it, depth_model=depth_model, depth_cache=depth_cache, max_depth=max_depth, columns=columns)
        done = predict_points(module, to_grids, pts.xyz, pts.T_world_local, ray_origin=pts.ray_origin,
                              fields=pts.fields, refine_threshold=refine_t, refine=refine)
        prob, al, refined = done.prob, done.alignment, done.refined
        grid_path = write_grid(out / "grids" / it.name, prob, grid_t, grid_format, spec)
        paths = write_refined(out / "refined" / it.name, refined, pts.origin, CLOUD_SUFFIXES[cloud_format])
        inside = in_grid_mask(pts.xyz, spec, al.T_grid_sensor)
        counts = refined.counts
        n_from_input = counts["kept"] + counts["snapped"]
        rec = FramePrediction(
            name=it.name, input=str(it.path), kind=it.kind, pose_from=it.pose_from, alignment=al.path,
            in_range_ratio=float(al.in_range_ratio), num_points=len(pts.xyz), num_in_grid=int(inside.sum()),
            num_kept=n_from_input, kept_fraction=n_from_input / len(pts.xyz) if len(pts.xyz) else 0.0,
            occupied_fraction=float((prob > grid_t).mean()), grid_path=str(grid_path), cloud_path=str(paths[0]),
            refine_mode=refine, num_snapped=counts["snapped"], num_added=counts["added"],
            cloud_paths=[str(p) for p in paths])
        lidar_pts = None
        if it.name in lidar_files:
            lidar_pts = _add_chamfer(rec, lidar_files[it.name], pts.xyz, pts.origin, inside, refined.xyz, spec,
                                     al.T_grid_sensor)
        if pictures:
            write_cloud_pictures(out / "pictures" / it.name, pts.xyz[inside], refined, lidar_pts)
        frames.append(rec)
    result = PredictResult(frames, out, grid_t, refine_t, out / "predict_summary.json")
    from occkit.utils.atomic import atomic_write_text

    atomic_write_text(result.summary_path, json.dumps(result.to_dict(), indent=2))
    return result


def write_refined(base: Path, refined: RefinedCloud, origin: np.ndarray, suffixes: tuple[str, ...]) -> list[Path]:
    """Write the refined cloud as ``base.pcd`` / ``.ply`` (all fields + origin + prob) and ``base.bin``
    (KITTI float32 x y z intensity), at the input's own coordinates (``origin`` added back)."""
    from occkit.io.points import write_points

    rich = {**refined.fields, "origin": refined.origin.astype(np.float32), "prob": refined.prob}
    intensity = refined.fields.get("intensity", np.zeros(len(refined.xyz), np.float32)).astype(np.float32)
    paths = []
    for suffix in suffixes:
        fields = {"intensity": intensity} if suffix == "bin" else rich
        paths.append(write_points(base.with_name(f"{base.name}.{suffix}"), refined.xyz, fields, origin=origin))
    return paths


def _add_chamfer(rec: FramePrediction, lidar_path: Path, xyz: np.ndarray, origin: np.ndarray, inside: np.ndarray,
                 refined: np.ndarray, spec: Any, T_grid: np.ndarray) -> np.ndarray:
    """Chamfer and F-score of raw (in-grid) and refined points to the LiDAR scan, in the same sensor frame.

    The LiDAR is cropped to the grid columns (x, y cells) that hold a raw input point: a 360-degree sweep
    covers far more than one camera sees, and without the crop its points outside the view would swamp
    the completeness term for raw and refined alike.
    """
    from occkit.io.points import read_points

    pc = read_points(lidar_path)
    lidar = pc.xyz.astype(np.float64) + (pc.origin - origin)
    lidar = lidar[column_footprint_mask(lidar, xyz[inside], spec, T_grid)]
    cloud_metrics(rec, xyz[inside], refined, lidar, float(min(spec.size[0], spec.size[1])))
    rec.lidar = str(lidar_path)
    rec.num_lidar = len(lidar)
    return lidar


def write_cloud_pictures(base: Path, raw: np.ndarray, refined: RefinedCloud, lidar: np.ndarray | None) -> list[Path]:
    """``base_clouds.png`` (BEV, side by side) and ``base_clouds.html`` (3D) of raw, refined and LiDAR points."""
    from occkit.viz.clouds import write_clouds_bev, write_clouds_html

    clouds = {"raw": raw, "refined": refined.xyz}
    if lidar is not None:
        clouds["lidar"] = lidar
    stem = base.name
    return [write_clouds_bev(base.with_name(f"{stem}_clouds.png"), clouds, refined.origin, title=stem),
            write_clouds_html(base.with_name(f"{stem}_clouds.html"), clouds, refined.origin, title=stem)]


def cloud_metrics(rec: Any, raw_points: np.ndarray, refined_points: np.ndarray, lidar: np.ndarray,
                  voxel: float) -> None:
    """Fill rec's chamfer / accuracy / completeness / fscore{1,2} ``_raw`` and ``_refined`` attributes."""
    raw, refined = chamfer_distance(raw_points, lidar), chamfer_distance(refined_points, lidar)
    for k in (1, 2):
        setattr(rec, f"fscore{k}_raw", fscore(raw_points, lidar, k * voxel).fscore)
        setattr(rec, f"fscore{k}_refined", fscore(refined_points, lidar, k * voxel).fscore)
    rec.chamfer_raw, rec.chamfer_refined = raw.chamfer, refined.chamfer
    rec.accuracy_raw, rec.accuracy_refined = raw.accuracy, refined.accuracy
    rec.completeness_raw, rec.completeness_refined = raw.completeness, refined.completeness


def column_footprint_mask(points: np.ndarray, footprint: np.ndarray, spec: Any, T_grid: np.ndarray) -> np.ndarray:
    """bool (N,): the point is inside the grid and its (x, y) column holds at least one ``footprint`` point."""
    from occkit.geometry.transforms import apply_transform

    idx, ok = spec.points_to_indices(apply_transform(T_grid, np.asarray(points, np.float64)[:, :3]))
    fidx, fok = spec.points_to_indices(apply_transform(T_grid, np.asarray(footprint, np.float64)[:, :3]))
    ny = spec.shape[1]
    cols = np.unique(fidx[fok, 0] * ny + fidx[fok, 1])
    out = np.zeros(len(idx), dtype=bool)
    out[ok] = np.isin(idx[ok, 0] * ny + idx[ok, 1], cols)
    return out


def _progress(items: list[PredictInput], show: bool):
    if not show:
        yield from items
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task("predicting", total=len(items))
        for it in items:
            yield it
            bar.advance(task)
