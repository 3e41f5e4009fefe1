"""The main job: preprocess -> train -> evaluate -> pictures -> doctor -> one report, in one run directory.

``occkit run --config configs/synthetic_uav.py`` is what a new user runs first; everything it writes lands
in ``<run_dir>/report/`` and REPORT.md there links it together.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from occkit.config import ExperimentConfig, resolve_cache_dir
from occkit.errors import OccKitError
from occkit.evaluation.model_choice import choose_model, record_choice
from occkit.utils.atomic import atomic_write_text

_console = Console(highlight=False)


@dataclass
class MainJobResult:
    run_dir: Path
    report: Path
    state: str
    metrics: dict[str, Any] = field(default_factory=dict)
    pictures: list[Path] = field(default_factory=list)
    clouds: dict[str, Any] = field(default_factory=dict)  # pseudo-LiDAR input: raw vs refined vs LiDAR, val00
    threshold_note: str = ""
    findings: list[str] = field(default_factory=list)
    curves: Path | None = None


def run_main_job(cfg: ExperimentConfig, *, run_dir: str | Path | None = None, workers: int = 2,
                 pictures: int = 2, resume: str | Path | None = None, progress: bool = True) -> MainJobResult:
    """Train ``cfg`` (or continue it: ``resume`` as in ``fit``) and write the full report."""
    from occkit.data.preprocessing import preprocess
    from occkit.health.events import TrainingHealthError
    from occkit.train.runner import fit

    cfg = resolve_cache_dir(cfg, always=True)
    _console.rule("[bold]1/5 preprocess")
    splits = ["train", "val"] + ([cfg.eval.select_threshold_on] if cfg.eval.select_threshold_on not in
                                 (None, "train", "val") else [])
    preprocess(cfg.data, splits, workers=workers, progress=progress)
    _console.rule("[bold]2/5 train")
    try:
        result = fit(cfg, run_dir=run_dir, resume=resume)
        run_path, state = result.run_dir, result.state
        # the last checkpoint: best.ckpt is chosen on these same validation frames, so reporting it would flatter
        checkpoint = result.last_checkpoint or result.best_checkpoint
    except TrainingHealthError as err:
        _console.print(f"[red]training stopped by the health guard:[/] {err}")
        run_path = Path(run_dir) if run_dir else _latest_run(cfg)
        state, checkpoint = "stopped_by_guard", None
    report_dir = run_path / "report"
    report_dir.mkdir(parents=True, exist_ok=True)
    out = MainJobResult(run_dir=run_path, report=report_dir / "REPORT.md", state=state)
    if checkpoint is not None:
        # threshold (and checkpoint, with eval.select_checkpoint) chosen on a split that is not reported
        choice = choose_model(checkpoint, cfg)
        checkpoint, cfg, out.threshold_note = choice.checkpoint, choice.cfg, choice.note
        if choice.split is not None:
            record_choice(run_path, choice)
        _console.rule("[bold]3/5 evaluate")
        out.metrics = _evaluate(checkpoint, cfg, report_dir)
        _console.rule("[bold]4/5 pictures")
        out.pictures = write_validation_pictures(checkpoint, cfg, report_dir, count=pictures)
        if cfg.data.input.points == "pseudo":
            out.clouds = write_refined_cloud_pictures(checkpoint, cfg, report_dir)
            out.pictures += [Path(p) for p in out.clouds.pop("pictures")]
    _console.rule("[bold]5/5 doctor")
    out.findings = _doctor(run_path, report_dir)
    out.curves = _training_curves(run_path, report_dir)
    _write_report(out, cfg, checkpoint)
    return out


def _latest_run(cfg: ExperimentConfig) -> Path:
    runs = sorted(Path(cfg.trainer.runs_root).glob(f"{cfg.name}-*"), key=lambda p: p.stat().st_mtime)
    return runs[-1]


def _evaluate(checkpoint: Path, cfg: ExperimentConfig, report_dir: Path) -> dict[str, Any]:
    from occkit.evaluation.split_eval import evaluate

    return evaluate(str(checkpoint), cfg, "val", report_dir).report


def _training_curves(run_dir: Path, report_dir: Path) -> Path | None:
    from occkit.health.rundir import read_run
    from occkit.viz._common import save_png
    from occkit.viz.curves import training_curves_figure

    try:
        return save_png(training_curves_figure(read_run(run_dir)), report_dir / "training_curves.png")
    except OccKitError:
        return None


def _doctor(run_dir: Path, report_dir: Path) -> list[str]:
    from occkit.health.doctor import diagnose, write_report

    diagnosis = diagnose(run_dir)
    write_report(diagnosis, report_dir / "doctor.md")
    return [f"{f.title} (fix: {f.suggestion})" for f in diagnosis.findings]


def write_validation_pictures(checkpoint: Path, cfg: ExperimentConfig, report_dir: Path, count: int = 2) -> list[Path]:
    """GT vs prediction pictures and a 3D view for the first ``count`` validation samples, their grids, and one
    3D HTML file with every validation sample (ground truth beside prediction, a menu to pick the sample)."""
    import numpy as np
    import torch

    from occkit.data.dataset import OccupancyDataset, collate
    from occkit.geometry.layout import channels_to_grid
    from occkit.train.checkpoint import load_module
    from occkit.viz.gridfile import write_grid_npz
    from occkit.viz.pictures import write_pictures

    module = load_module(checkpoint, cfg).eval()
    dataset = OccupancyDataset(cfg.data, "val", seed=cfg.seed, augment=False)
    written: list[Path] = []
    every: list[tuple[str, object, object]] = []
    for index in range(len(dataset)):
        sample = dataset[index]
        with torch.no_grad():
            prob = torch.sigmoid(module.predict_batch(collate([sample]))[0])[0]
        pred = channels_to_grid(prob.numpy())
        target = channels_to_grid(sample["target"].numpy()) > 0.5
        name = f"val{index:02d}"
        every.append((f"{name} ({sample.get('frame_id', '')})", pred, target))
        if index >= count:
            continue
        written += [path for _, path in write_pictures(
            pred, cfg.data.grid, report_dir, gt=target, threshold=cfg.eval.threshold, name=f"{name}: prediction",
            gt_name=f"{name}: ground truth", prefix=f"{name}_", html=True)]
        # with the threshold the pictures were drawn at, so `occkit viz` redraws them as they are
        write_grid_npz(report_dir / f"{name}_prediction.npz", cfg.data.grid, probability=pred.astype(np.float32),
                       threshold=np.float32(cfg.eval.threshold))
        write_grid_npz(report_dir / f"{name}_ground_truth.npz", cfg.data.grid, occupancy=target)
    if every:
        from occkit.viz.html import write_samples_html

        written.append(write_samples_html(report_dir / "val_samples_view.html", every, cfg.data.grid,
                                          threshold=cfg.eval.threshold))
    return written


def write_refined_cloud_pictures(checkpoint: Path, cfg: ExperimentConfig, report_dir: Path) -> dict[str, Any]:
    """Raw pseudo-LiDAR, refined cloud and LiDAR of the first validation frame, side by side (PNG + 3D HTML),
    with their Chamfer distance and F-score at one voxel to the LiDAR."""
    import numpy as np

    from occkit.data.grids import FrameToGrids
    from occkit.evaluation.frame_refine import refine_frame
    from occkit.evaluation.refine import chamfer_distance, fscore
    from occkit.geometry.transforms import apply_transform
    from occkit.train.checkpoint import load_module
    from occkit.viz.clouds import write_clouds_bev, write_clouds_html

    module = load_module(checkpoint, cfg).eval()
    frame = cfg.data.source.build("val")[0]
    fc = refine_frame(module, frame, FrameToGrids(cfg.data), cfg.eval.refine_threshold)
    # drawn in the grid frame: a nadir sensor's own x axis points down, so its frame would give a side view
    clouds = {name: apply_transform(fc.T_grid_sensor, np.asarray(cloud, np.float64)[:, :3])
              for name, cloud in (("raw", fc.raw), ("refined", fc.refined.xyz), ("lidar", fc.lidar))}
    title = f"val00 ({frame.frame_id}): raw pseudo-LiDAR, refined, LiDAR (grid frame)"
    pics = [write_clouds_bev(report_dir / "val00_clouds.png", clouds, fc.refined.origin, title),
            write_clouds_html(report_dir / "val00_clouds.html", clouds, fc.refined.origin, title)]
    voxel = float(min(cfg.data.grid.size[0], cfg.data.grid.size[1]))
    figures = {}
    lidar = clouds["lidar"]
    for name in ("raw", "refined"):
        figures[name] = {"chamfer": chamfer_distance(clouds[name], lidar).chamfer,
                         "fscore_1vox": fscore(clouds[name], lidar, voxel).fscore, "points": len(clouds[name])}
    return {"frame": frame.frame_id, **figures, "counts": fc.refined.counts, "pictures": pics}


def _data_wait(run_dir: Path) -> float | None:
    """The last logged perf/data_wait_fraction of a run (None when it logged none)."""
    import csv

    path = run_dir / "metrics.csv"
    if not path.is_file():
        return None
    with path.open(newline="") as fh:
        values = [r["perf/data_wait_fraction"] for r in csv.DictReader(fh) if r.get("perf/data_wait_fraction")]
    return float(values[-1]) if values else None


def _write_report(out: MainJobResult, cfg: ExperimentConfig, checkpoint: Path | None) -> None:
    lines = [f"# occkit report: {cfg.name}", "", f"- run directory: `{out.run_dir}`", f"- state: **{out.state}**"]
    if checkpoint is not None:
        lines.append(f"- checkpoint evaluated: `{checkpoint}`")
    overall = out.metrics.get("overall", {}) if out.metrics else {}
    if out.metrics.get("baselines"):
        from occkit.evaluation.report import baseline_table, height_table

        which = "last checkpoint" if checkpoint is None or checkpoint.name == "last.ckpt" else checkpoint.name
        lines += ["", f"## The model beside the baselines (validation scenes, {which})", "",
                  f"Predicted occupied: probability > {out.threshold_note}.", ""]
        lines += baseline_table(out.metrics["baselines"])
        by_height = height_table(out.metrics["baselines"])
        if by_height:
            lines += ["", "By the sensor's height over the ground:", ""] + by_height
        ray = out.metrics.get("ray_iou") or {}
        if ray.get("rayiou") is not None:
            base = ", ".join(f"{k} {v:.4f}" for k, v in ray.get("baselines", {}).items() if v is not None)
            lines += ["", f"RayIoU (rays from each frame's sensor positions): model {ray['rayiou']:.4f}; {base}."]
    if overall:
        lines += ["", "## Validation metrics", "", "| metric | value |", "|---|---|"]
        lines += [f"| {k} | {'n/a' if v is None else f'{v:.4f}'} |" for k, v in overall.items()
                  if v is None or isinstance(v, float | int)]
        lines += ["", "Full tables: [metrics.md](metrics.md) · [metrics.json](metrics.json)"]
    if out.clouds:
        c = out.clouds
        lines += ["", f"## Refined point cloud ({c['frame']})", "",
                  "| cloud | points | Chamfer to LiDAR (m) | F-score at 1 voxel |", "|---|---|---|---|"]
        lines += [f"| {name} | {c[name]['points']:,} | {c[name]['chamfer']:.3f} | {c[name]['fscore_1vox']:.3f} |"
                  for name in ("raw", "refined")]
        lines += ["", f"Refined = {c['counts']['kept']:,} kept, {c['counts']['snapped']:,} snapped along their rays, "
                      f"{c['counts']['added']:,} added. ![val00_clouds](val00_clouds.png) · "
                      "[3D view](val00_clouds.html)"]
    wait = _data_wait(out.run_dir)
    if wait is not None:
        lines += ["", f"Training waited for data {100 * wait:.1f} % of the time (perf/data_wait_fraction, last epoch)."]
    lines += ["", "## Health", ""]
    lines += [f"- {f}" for f in out.findings] or ["- No problems found."]
    lines += ["", "Diagnosis with plots: [doctor.md](doctor.md)"]
    if out.curves is not None:
        lines += ["", "## Training", "", f"![training curves]({out.curves.name})", "",
                  "Left: the loss per step. Right: validation IoU at the step it was measured, with the best trivial "
                  "baseline dashed."]
    lines += sample_sections(out.pictures)
    if any(p.name == "val_samples_view.html" for p in out.pictures):
        lines += ["", "Every validation sample in 3D, ground truth beside prediction (pick one from the menu): "
                      "[val_samples_view.html](val_samples_view.html)"]
    atomic_write_text(out.report, "\n".join(lines) + "\n")


def sample_sections(pictures: list[Path]) -> list[str]:
    """Per validation sample: ground truth, prediction and the TP/FP/FN overlay side by side, with captions,
    then the slices, IoU by height and 3D view below."""
    names = sorted({p.name.split("_", 1)[0] for p in pictures if p.name.startswith("val")})
    by_name = {p.name: p for p in pictures}
    lines: list[str] = []
    for name in names:
        trio = [(f"{name}_gt_bev.png", "ground truth: height of the highest occupied voxel"),
                (f"{name}_bev.png", "prediction: the same view, the same colour range"),
                (f"{name}_overlay_bev.png", "errors: true positive, false positive, false negative")]
        present = [(f, c) for f, c in trio if f in by_name]
        if not present:
            continue
        lines += ["", f"## Validation sample {name}", "", "| " + " | ".join(c for _, c in present) + " |",
                  "|" + "---|" * len(present), "| " + " | ".join(f"![{f}]({f})" for f, _ in present) + " |"]
        more = [f for f in (f"{name}_slices.png", f"{name}_overlay_slices.png", f"{name}_per_height_iou.png")
                if f in by_name]
        lines += [""] + [f"![{f}]({f})" for f in more]
        if f"{name}_view.html" in by_name:
            lines += ["", f"Interactive 3D view, ground truth and prediction: [{name}_view.html]({name}_view.html)"]
        lines += ["", f"Grids to redraw: `occkit viz {name}_prediction.npz --gt {name}_ground_truth.npz --out DIR`"]
    return lines
