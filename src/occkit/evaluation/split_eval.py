"""``evaluate``: a checkpoint over one split of the config's dataset -> metrics, per scene and per height.

The model sees exactly the samples training validated on (``OccupancyDataset``, no augmentation), batched
by ``data.batch_size``, under ``torch.no_grad``. Occupied ground truth is ``target > 0.5``; predicted
occupied is ``sigmoid(logit) > threshold``. With ``eval.use_visibility_mask`` only voxels inside the
dataset's visibility mask count (the dataset is asked for one when ``data.target`` does not already).
Scenes come from the frame ids (``occkit.evaluation.scenes``). The numbers are ``occkit.metrics``'
``OccupancyMetrics`` (and ``RayIoU``), whose NaN "nothing to score" values are written as null.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from occkit.data.workers import worker_context
from occkit.errors import ConfigError
from occkit.evaluation.report import RATE_KEYS, write_report
from occkit.evaluation.scenes import scene_of


@dataclass
class EvalResult:
    """The evaluation report (the content of metrics.json) and where it was written."""

    report: dict[str, Any]
    json_path: Path | None = None
    md_path: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def iou(self) -> float:
        return float(self.report["overall"]["iou"])

    @property
    def per_scene(self) -> dict[str, dict[str, Any]]:
        return self.report["per_scene"]


def _module_and_config(module_or_checkpoint: Any, cfg: Any) -> tuple[Any, Any, str]:
    from occkit.train.checkpoint import check_grid, load_module

    if isinstance(module_or_checkpoint, (str, Path)):
        module = load_module(module_or_checkpoint, cfg)  # GridMismatchError names both grids
        return module, cfg if cfg is not None else module.cfg, str(module_or_checkpoint)
    module = module_or_checkpoint
    if cfg is not None:
        check_grid(module.cfg.data.grid, cfg.data.grid, where="module")
    return module.eval(), cfg if cfg is not None else module.cfg, "<in-memory module>"


def _dataset_config(cfg: Any) -> Any:
    """The data config to evaluate on: with a visibility mask when eval wants one."""
    if cfg.eval.use_visibility_mask and not cfg.data.target.use_visibility_mask:
        target = cfg.data.target.model_copy(update={"use_visibility_mask": True})
        return cfg.data.model_copy(update={"target": target})
    return cfg.data


RAY_BASELINES = ("copy", "dilate")


def _ray_iou_metric(cfg: Any) -> dict[str, Any] | None:
    """Binary RayIoU (occkit.metrics.build) for the model and the copy / dilate baselines; None when eval.ray_iou
    is off."""
    if not cfg.eval.ray_iou:
        return None
    from occkit.metrics.build import build_ray_iou

    return {name: build_ray_iou(cfg.eval, cfg.data.grid) for name in ("model", *RAY_BASELINES)}


def _update_rays(rays: dict[str, Any], logits: Any, target: Any, mask: Any, occ: Any, origins: Any) -> None:
    """Rays from each frame's sensor positions where the samples carry them (``origins``), else from the configured
    origins; ``occ`` is the batch's input occupancy, copied and dilated for the baselines."""
    from occkit.metrics.baselines import dilate_plan
    from occkit.metrics.rayiou import update_binary_together

    baselines = [pred.float() * 40.0 - 20.0 for pred in (occ, dilate_plan(occ))]  # as logits
    update_binary_together([rays[name] for name in ("model", *RAY_BASELINES)], [logits, *baselines], target, mask,
                           origins)


def evaluate(module_or_checkpoint: Any, cfg: Any = None, split: str = "val", out_dir: str | Path | None = None, *,
             source: Any = None, progress: bool = True) -> EvalResult:
    """Evaluate a checkpoint (path) or OccupancyModule on ``split`` of ``cfg.data`` (default: its own config).

    Writes ``metrics.json`` and ``metrics.md`` into ``out_dir`` when given. ``source`` replaces the config's
    source (frames in memory).
    """
    import torch
    from torch.utils.data import DataLoader

    from occkit.data.dataset import OccupancyDataset, collate
    from occkit.metrics import OccupancyMetrics

    module, cfg, ckpt_name = _module_and_config(module_or_checkpoint, cfg)
    data_cfg = _dataset_config(cfg)
    dataset = OccupancyDataset(data_cfg, split, source=source, seed=cfg.seed, augment=False)
    if len(dataset) == 0:
        raise ConfigError(f"data.source: split {split!r} has no frames to evaluate")
    loader = DataLoader(dataset, batch_size=data_cfg.batch_size, shuffle=False, num_workers=data_cfg.num_workers,
                        collate_fn=collate, multiprocessing_context=worker_context(data_cfg.num_workers, dataset))
    t = float(cfg.eval.threshold)
    nz = cfg.data.grid.shape[2]
    overall = OccupancyMetrics(t, cfg.eval.sweep_thresholds, num_levels=nz)
    scenes: dict[str, OccupancyMetrics] = {}
    scene_frames: dict[str, int] = {}
    ray = _ray_iou_metric(cfg)
    quality = _quality_metric(module, cfg, data_cfg, source)
    by_height = _height_binned(module, cfg, quality.plane_level, quality.ground_window)
    with torch.no_grad(), _Bar(len(dataset), progress, f"evaluating {split}") as bar:
        for batch in loader:
            logits, occ = module.predict_batch(batch)
            target = batch["target"]
            mask = batch.get("mask") if cfg.eval.use_visibility_mask else None
            overall.update(logits, target, mask)
            dem, surface = module.dem_ground(batch), module.surface(batch)
            quality.update(logits, target, occ, mask, dem, surface)
            for i, origins in enumerate(batch.get("sensor_origins") or []):
                one = slice(i, i + 1)
                by_height.update(float(origins[0][2]), logits[one], target[one], occ[one],
                                 None if mask is None else mask[one], None if dem is None else dem[one],
                                 None if surface is None else surface[one])
            if ray is not None:
                _update_rays(ray, logits, target, mask, occ, batch.get("sensor_origins"))
            for i, fid in enumerate(batch["frame_id"]):
                name = scene_of(fid)
                if name not in scenes:
                    scenes[name], scene_frames[name] = OccupancyMetrics(t, [t], num_levels=nz), 0
                scenes[name].update(logits[i:i + 1], target[i:i + 1], None if mask is None else mask[i:i + 1])
                scene_frames[name] += 1
            bar.advance(len(batch["frame_id"]))
    report = build_report(overall, scenes, scene_frames, ray, cfg.data.grid, float(cfg.eval.threshold),
                          bool(cfg.eval.use_visibility_mask), split, ckpt_name, len(dataset))
    report["baselines"] = baselines_report(quality.compute(), quality.plane_level)
    report["baselines"]["by_sensor_height"] = [
        {"height_m": b["height_m"], "frames": b["frames"], **baselines_report(b, quality.plane_level)["summary"]}
        for b in by_height.compute()]
    result = EvalResult(report)
    if out_dir is not None:
        result.json_path, result.md_path = write_report(report, out_dir)
    return result


def _quality_metric(module: Any, cfg: Any, data_cfg: Any, source: Any) -> Any:
    """Model-vs-baselines counts; the ground_plane level comes from the checkpoint, else from the train split
    (left out when frames come from memory and the checkpoint does not know it)."""
    from occkit.metrics.baselines import train_split_plane_level
    from occkit.metrics.build import build_quality_metrics

    level = getattr(module, "plane_level", None)
    if level is None and source is None:
        level = train_split_plane_level(data_cfg, cfg.seed)
    return build_quality_metrics(cfg.eval, cfg.data.grid, level, module.reads_elevation_model, module.reads_surface)


def _height_binned(module: Any, cfg: Any, plane_level: int | None, window: int) -> Any:
    """The same model-vs-baselines counts per band of sensor height over the ground (occkit.metrics.by_height)."""
    from occkit.metrics.build import build_quality_metrics
    from occkit.metrics.by_height import HeightBinnedQuality

    spec = cfg.data.grid
    return HeightBinnedQuality(lambda: build_quality_metrics(cfg.eval, spec, plane_level, module.reads_elevation_model,
                                                             module.reads_surface),
                               cfg.eval.height_bin_m, spec.pc_range[2], float(spec.size[2]), window)


def baselines_report(q: dict[str, Any], plane_level: int | None) -> dict[str, Any]:
    """JSON-ready QualityMetrics result (NaN -> None)."""
    rows = {name: {k: _num(v) for k, v in row.items()} for name, row in q["predictors"].items()}
    summary = {key: {k: (_num(v) if isinstance(v, float) else v) for k, v in q[key].items()}
               for key in ("iou", "iou_ground", "iou_above")}
    return {"predictors": rows, "labels": q["labels"], "summary": summary, "plane_level": plane_level}


def _num(v: Any) -> float | None:
    """A finite float, or None for NaN ("nothing to score", see occkit.metrics.occupancy)."""
    x = float(v)
    return x if math.isfinite(x) else None


def build_report(overall: Any, scenes: dict[str, Any], scene_frames: dict[str, int], ray: Any, spec: Any,
                 threshold: float, use_visibility_mask: bool, split: str, source_name: str, n: int) -> dict[str, Any]:
    """metrics.json's content from the summed metrics (``occkit eval`` and ``occkit score`` alike)."""
    res = overall.compute()
    sweep = [{"threshold": round(float(th), 6), "iou": _num(i), "f1": _num(f)}
             for th, i, f in zip(res["sweep_thresholds"].reshape(-1), res["sweep_iou"].reshape(-1),
                                 res["sweep_f1"].reshape(-1), strict=True)]
    best = {"threshold": _num(res["best_threshold"]), "f1": _num(res["best_f1"]), "iou": _num(res["iou_at_best"])}
    if best["threshold"] is not None:
        best["threshold"] = round(best["threshold"], 6)
    iou_z = res["per_height_iou"].reshape(-1)
    gt_z, pred_z = res["per_height_target_count"].reshape(-1), res["per_height_pred_count"].reshape(-1)
    per_height = [{"level": z, "z": round(float(zc), 6), "gt_voxels": int(gt_z[z]), "pred_voxels": int(pred_z[z]),
                   "iou": _num(iou_z[z])} for z, zc in enumerate(spec.z_centers())]
    per_scene = {}
    for name in sorted(scenes):
        r = scenes[name].compute()
        per_scene[name] = {"frames": scene_frames[name], **{k: _num(r[k]) for k in RATE_KEYS}}
    ray_out = None
    if ray is not None:
        raw = ray["model"].compute()
        ray_out = {k: _num(v) for k, v in raw.items() if k.startswith("rayiou")}
        ray_out["num_rays"] = int(raw["num_rays"])
        ray_out["baselines"] = {name: _num(ray[name].compute()["rayiou"]) for name in RAY_BASELINES}
    return {"split": split, "checkpoint": source_name, "grid": spec.describe(), "num_frames": n,
            "threshold": float(threshold), "use_visibility_mask": bool(use_visibility_mask),
            "overall": {k: _num(res[k]) for k in RATE_KEYS}, "best": best, "sweep": sweep,
            "per_height": per_height, "per_scene": per_scene, "ray_iou": ray_out,
            "counts": {k: int(v) for k, v in res.items() if k in ("tp", "fp", "fn") or k.endswith("_logits")}}


class _Bar:
    """A rich progress bar over frames (silent when ``show`` is False)."""

    def __init__(self, total: int, show: bool, label: str) -> None:
        self.total, self.show, self.label = total, show, label
        self._progress: Any = None

    def __enter__(self) -> _Bar:
        if self.show:
            from rich.progress import Progress

            self._progress = Progress(transient=True)
            self._progress.__enter__()
            self._task = self._progress.add_task(self.label, total=self.total)
        return self

    def advance(self, n: int) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, n)

    def __exit__(self, *exc: Any) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)
