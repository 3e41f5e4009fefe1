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
- ``refined/<name>.pcd|.ply``: the input points whose voxel is predicted occupied (> the refine threshold),
  in the input's own frame and coordinates, with the input's per-point fields.
- ``predict_summary.json``: per input counts, kept fraction, alignment, and with ``lidar`` the Chamfer
  distance of raw and refined points to the LiDAR scan (input points cropped to the grid box, since the
  refined cloud cannot hold points outside it; LiDAR cropped to the grid columns the input covers).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from occkit.errors import ConfigError
from occkit.evaluation.inputs import PredictInput, collect_inputs, load_points, match_lidar
from occkit.evaluation.refine import chamfer_distance, in_grid_mask, refine_mask

OCCUPIED_LABEL = 0  # the single class id written for predicted-occupied voxels (Occ3D "others")
GridFormat = Literal["npz", "npy"]
CloudFormat = Literal["pcd", "ply"]


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
    lidar: str | None = None
    num_lidar: int | None = None
    chamfer_raw: float | None = None
    chamfer_refined: float | None = None
    accuracy_raw: float | None = None
    accuracy_refined: float | None = None
    completeness_raw: float | None = None
    completeness_refined: float | None = None


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


def probability_grid(module: Any, input_grid: np.ndarray) -> np.ndarray:
    """Model input (F*Z, Y, X) -> float32 [x, y, z] probabilities (sigmoid of the logits)."""
    import torch

    from occkit.geometry.layout import channels_to_grid

    with torch.no_grad():
        logits = module(torch.from_numpy(np.ascontiguousarray(input_grid, np.float32))[None])
    return channels_to_grid(torch.sigmoid(logits[0].float()).cpu().numpy()).astype(np.float32)


def write_grid(path_base: Path, prob: np.ndarray, threshold: float, fmt: GridFormat) -> Path:
    """Occ3D labels.npz (occupied = OCCUPIED_LABEL, free = 17, masks all ones) or .npy probabilities."""
    if fmt == "npy":
        from occkit.utils.atomic import atomic_write

        path = path_base.with_suffix(".npy")
        path.parent.mkdir(parents=True, exist_ok=True)

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as fh:
                np.save(fh, prob.astype(np.float32))

        atomic_write(path, write)
        return path
    from occkit.io.occ3d import FREE_LABEL, write_occ3d_labels

    path = path_base / "labels.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    semantics = np.where(prob > threshold, OCCUPIED_LABEL, FREE_LABEL).astype(np.uint8)
    ones = np.ones(prob.shape, np.uint8)
    return write_occ3d_labels(path, semantics, ones, ones)


def predict(module_or_checkpoint: Any, inputs: list[str | Path] | list[PredictInput], out_dir: str | Path, *,
            cfg: Any = None, lidar: str | Path | None = None, camera: str | Path | None = None,
            poses: str | Path | None = None, grid_format: GridFormat = "npz", cloud_format: CloudFormat = "pcd",
            threshold: float | None = None, depth_model: Any = None, depth_cache: Any = None,
            max_depth: float | None = None, progress: bool = True) -> PredictResult:
    """Run a checkpoint over input files and write grids, refined clouds and ``predict_summary.json``.

    ``threshold`` sets both the grid threshold and the refine threshold; by default they are the config's
    ``eval.threshold`` and ``eval.refine_threshold``. ``depth_model`` (a ``DA3Depth`` or anything with its
    ``predict``) is needed only for image inputs; ``depth_cache`` (a ``DepthCache``) spares repeated runs;
    ``max_depth`` (m) drops depth/image points farther from the camera.
    """
    from occkit.data.grids import FrameToGrids
    from occkit.frame import Frame
    from occkit.io.points import write_points

    if grid_format not in ("npz", "npy"):
        raise ConfigError(f"--format: expected 'npz' or 'npy', got {grid_format!r}")
    if cloud_format not in ("pcd", "ply"):
        raise ConfigError(f"--cloud-format: expected 'pcd' or 'ply', got {cloud_format!r}")
    if threshold is not None and not 0 < threshold < 1:
        raise ConfigError(f"--threshold: expected a probability in (0, 1), got {threshold}")
    module = _load(module_or_checkpoint, cfg)
    cfg = module.cfg
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
        pts = load_points(it, depth_model=depth_model, depth_cache=depth_cache, max_depth=max_depth)
        frame = Frame(frame_id=it.name, points=pts.xyz, T_world_sensor=pts.T_world_local, pseudo_points=pts.xyz)
        al = to_grids.align(frame)
        prob = probability_grid(module, to_grids.input_grid(to_grids.input_points(frame), al.T_grid_sensor))
        grid_path = write_grid(out / "grids" / it.name, prob, grid_t, grid_format)
        keep = refine_mask(pts.xyz, prob, spec, refine_t, al.T_grid_sensor)
        cloud_path = write_points(out / "refined" / f"{it.name}.{cloud_format}", pts.xyz[keep],
                                  {k: v[keep] for k, v in pts.fields.items()}, origin=pts.origin)
        inside = in_grid_mask(pts.xyz, spec, al.T_grid_sensor)
        rec = FramePrediction(
            name=it.name, input=str(it.path), kind=it.kind, pose_from=it.pose_from, alignment=al.path,
            in_range_ratio=float(al.in_range_ratio), num_points=len(pts.xyz), num_in_grid=int(inside.sum()),
            num_kept=int(keep.sum()), kept_fraction=float(keep.mean()) if len(keep) else 0.0,
            occupied_fraction=float((prob > grid_t).mean()), grid_path=str(grid_path), cloud_path=str(cloud_path))
        if it.name in lidar_files:
            _add_chamfer(rec, lidar_files[it.name], pts.xyz, pts.origin, inside, keep, spec, al.T_grid_sensor)
        frames.append(rec)
    result = PredictResult(frames, out, grid_t, refine_t, out / "predict_summary.json")
    from occkit.utils.atomic import atomic_write_text

    atomic_write_text(result.summary_path, json.dumps(result.to_dict(), indent=2))
    return result


def _add_chamfer(rec: FramePrediction, lidar_path: Path, xyz: np.ndarray, origin: np.ndarray, inside: np.ndarray,
                 keep: np.ndarray, spec: Any, T_grid: np.ndarray) -> None:
    """Chamfer of raw (in-grid) and refined points to the LiDAR scan, in the same sensor frame.

    The LiDAR is cropped to the grid columns (x, y cells) that hold a raw input point: a 360-degree sweep
    covers far more than one camera sees, and without the crop its points outside the view would swamp
    the completeness term for raw and refined alike.
    """
    from occkit.io.points import read_points

    pc = read_points(lidar_path)
    lidar = pc.xyz.astype(np.float64) + (pc.origin - origin)
    lidar = lidar[column_footprint_mask(lidar, xyz[inside], spec, T_grid)]
    raw, refined = chamfer_distance(xyz[inside], lidar), chamfer_distance(xyz[keep], lidar)
    rec.lidar = str(lidar_path)
    rec.num_lidar = len(lidar)
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
