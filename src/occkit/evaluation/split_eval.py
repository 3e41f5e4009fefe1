"""``evaluate``: a checkpoint over one split of the config's dataset -> metrics, per scene and per height.

The model sees exactly the samples training validated on (``OccupancyDataset``, no augmentation), batched
by ``data.batch_size``, under ``torch.no_grad``. Occupied ground truth is ``target > 0.5``; predicted
occupied is ``sigmoid(logit) > threshold``. With ``eval.use_visibility_mask`` only voxels inside the
dataset's visibility mask count (the dataset is asked for one when ``data.target`` does not already).
Scenes come from the frame ids (``occkit.evaluation.scenes``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


def _ray_iou_metric(cfg: Any) -> Any:
    """occkit.metrics.RayIoU when it exists (it is optional here); None otherwise."""
    if not cfg.eval.ray_iou:
        return None
    try:
        from occkit.metrics import RayIoU  # type: ignore[attr-defined]
    except ImportError:
        warnings.warn("eval.ray_iou is on but occkit.metrics.RayIoU is not available: RayIoU skipped", stacklevel=3)
        return None
    return RayIoU(cfg.data.grid)


def evaluate(module_or_checkpoint: Any, cfg: Any = None, split: str = "val", out_dir: str | Path | None = None, *,
             source: Any = None, progress: bool = True) -> EvalResult:
    """Evaluate a checkpoint (path) or OccupancyModule on ``split`` of ``cfg.data`` (default: its own config).

    Writes ``metrics.json`` and ``metrics.md`` into ``out_dir`` when given. ``source`` replaces the config's
    source (frames in memory).
    """
    import torch
    from torch.utils.data import DataLoader

    from occkit.data.dataset import OccupancyDataset, collate
    from occkit.evaluation.counts import ThresholdHeightCounts

    module, cfg, ckpt_name = _module_and_config(module_or_checkpoint, cfg)
    data_cfg = _dataset_config(cfg)
    dataset = OccupancyDataset(data_cfg, split, source=source, seed=cfg.seed, augment=False)
    if len(dataset) == 0:
        raise ConfigError(f"data.source: split {split!r} has no frames to evaluate")
    loader = DataLoader(dataset, batch_size=data_cfg.batch_size, shuffle=False, num_workers=data_cfg.num_workers,
                        collate_fn=collate)
    t = float(cfg.eval.threshold)
    nz = cfg.data.grid.shape[2]
    overall = ThresholdHeightCounts(nz, [t, *cfg.eval.sweep_thresholds])
    scenes: dict[str, ThresholdHeightCounts] = {}
    scene_frames: dict[str, int] = {}
    ray = _ray_iou_metric(cfg)
    with torch.no_grad(), _Bar(len(dataset), progress, f"evaluating {split}") as bar:
        for batch in loader:
            logits = module(batch["input"])
            target = batch["target"]
            mask = batch.get("mask") if cfg.eval.use_visibility_mask else None
            overall.update(logits, target, mask)
            if ray is not None:
                ray.update(logits, target, mask)
            for i, fid in enumerate(batch["frame_id"]):
                name = scene_of(fid)
                if name not in scenes:
                    scenes[name], scene_frames[name] = ThresholdHeightCounts(nz, [t]), 0
                scenes[name].update(logits[i:i + 1], target[i:i + 1], None if mask is None else mask[i:i + 1])
                scene_frames[name] += 1
            bar.advance(len(batch["frame_id"]))
    report = _report(overall, scenes, scene_frames, ray, cfg, split, ckpt_name, len(dataset))
    result = EvalResult(report)
    if out_dir is not None:
        result.json_path, result.md_path = write_report(report, out_dir)
    return result


def _rates_at(values: dict[str, Any], j: int) -> dict[str, float]:
    return {k: float(values[k].reshape(-1)[j]) for k in RATE_KEYS}  # torchmetrics squeezes 1-element results


def _report(overall: Any, scenes: dict[str, Any], scene_frames: dict[str, int], ray: Any, cfg: Any, split: str,
            ckpt_name: str, n: int) -> dict[str, Any]:
    t = float(cfg.eval.threshold)
    res = overall.compute()
    ts = overall.thresholds
    j = ts.index(t)
    sweep = [{"threshold": th, **_rates_at(res, i)} for i, th in enumerate(ts)]
    best = max(sweep, key=lambda s: (s["f1"], -abs(s["threshold"] - t)))
    spec = cfg.data.grid
    per_z = spec.z_centers()
    gt = res["gt_voxels_per_height"].reshape(-1)
    per_height = [{"level": z, "z": float(zc), "gt_voxels": int(gt[z]),
                   **{k: float(res[f"{k}_per_height"].reshape(len(per_z), -1)[z, j]) for k in RATE_KEYS}}
                  for z, zc in enumerate(per_z)]
    per_scene = {}
    for name in sorted(scenes):
        r = scenes[name].compute()
        per_scene[name] = {"frames": scene_frames[name], **_rates_at(r, 0)}
    ray_out = None
    if ray is not None:
        raw = ray.compute()
        ray_out = {k: float(v) for k, v in raw.items()} if isinstance(raw, dict) else {"ray_iou": float(raw)}
    return {"split": split, "checkpoint": ckpt_name, "grid": spec.describe(), "num_frames": n, "threshold": t,
            "use_visibility_mask": bool(cfg.eval.use_visibility_mask), "overall": _rates_at(res, j),
            "best": dict(best), "sweep": sweep, "per_height": per_height, "per_scene": per_scene, "ray_iou": ray_out}


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
