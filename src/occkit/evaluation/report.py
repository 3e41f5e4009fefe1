"""metrics.json / metrics.md and the console table for an evaluation (what ``occkit eval`` leaves behind)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RATE_KEYS = ("iou", "precision", "recall", "f1")
BASELINE_COLUMNS = (("iou", "IoU all"), ("iou_ground", "IoU ground"), ("iou_above", "IoU above ground"),
                    ("recall_unseen", "unseen recall"), ("precision_added", "added-voxel precision"))


def _fmt(v: Any) -> str:
    return "n/a" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v)


def _what(report: dict[str, Any]) -> str:
    """``val split``, or the files ``occkit score`` read."""
    return "predicted grid files" if report["split"] == "files" else f"{report['split']} split"


def markdown(report: dict[str, Any]) -> str:
    """Overall, threshold sweep, per scene and per height tables; the semantic mIoU where there is one."""
    t = report["threshold"]
    mask = report.get("mask") or ("on" if report["use_visibility_mask"] else "off")
    lines = [f"# Evaluation: {_what(report)}", "",
             f"- {'predictions' if report['split'] == 'files' else 'checkpoint'}: `{report['checkpoint']}`",
             f"- grid: {report['grid']}", f"- frames: {report['num_frames']}", f"- threshold: {t}",
             f"- visibility mask: {mask}", "",
             "## Overall", "", "| | IoU | precision | recall | F1 |", "|---|---|---|---|---|"]
    o, b = report["overall"], report["best"]
    lines.append(f"| threshold {t} | " + " | ".join(_fmt(o[k]) for k in RATE_KEYS) + " |")
    lines.append(f"| best F1 (threshold {b['threshold']}) | {_fmt(b['iou'])} | | | {_fmt(b['f1'])} |")
    if report.get("ray_iou") is not None:
        ray = {k: v for k, v in report["ray_iou"].items() if k != "baselines"}
        lines += ["", "RayIoU: " + ", ".join(f"{k} {_fmt(v)}" for k, v in ray.items())]
        if report["ray_iou"].get("baselines"):
            lines.append("RayIoU of the baselines (same rays): " + ", ".join(
                f"{k} {_fmt(v)}" for k, v in report["ray_iou"]["baselines"].items()))
    lines += ["", "Empty cells (n/a) mean nothing to score: e.g. precision with no voxel predicted occupied."]
    if report.get("semantic"):
        sem = report["semantic"]
        lines += ["", "## Semantic", "", f"Occ3D mIoU (free, label {sem['free_label']}, left out of the mean): "
                  f"{_fmt(sem['miou'])}", "", "| class | IoU |", "|---|---|"]
        lines += [f"| {c} | {_fmt(v)} |" for c, v in sem["per_class_iou"].items()]
    if report.get("frames"):
        lines += ["", "## Frames, worst first", "", "| frame | scene | IoU |", "|---|---|---|"]
        lines += [f"| {f['name']} | {f['scene']} | {_fmt(f['iou'])} |" for f in report["frames"][:10]]
        if len(report["frames"]) > 10:
            lines.append(f"| ... {len(report['frames']) - 10} more in metrics.json | | |")
    for picture in report.get("pictures") or []:
        if picture["what"] in ("TP/FP/FN height slices", "IoU by height"):
            lines += ["", f"{picture['role']} frame {picture['frame']}, {picture['what']}:", "",
                      f"![{picture['role']} {picture['what']}]({picture['path']})"]
    if report.get("baselines"):
        lines += ["", "## Beside the baselines", ""] + baseline_table(report["baselines"])
        by_height = height_table(report["baselines"])
        if by_height:
            lines += ["", "## By the sensor's height over the ground", ""] + by_height
    lines += ["", "## Per scene", "", "| scene | frames | IoU | precision | recall | F1 |", "|---|---|---|---|---|---|"]
    for name, s in report["per_scene"].items():
        lines.append(f"| {name} | {s['frames']} | " + " | ".join(_fmt(s[k]) for k in RATE_KEYS) + " |")
    lines += ["", "## Per height", "", "| level | z (m) | occupied (target) | occupied (predicted) | IoU |",
              "|---|---|---|---|---|"]
    for h in report["per_height"]:
        lines.append(f"| {h['level']} | {h['z']:.2f} | {h['gt_voxels']} | {h['pred_voxels']} | {_fmt(h['iou'])} |")
    lines += ["", "## Threshold sweep", "", "| threshold | IoU | F1 |", "|---|---|---|"]
    for s in report["sweep"]:
        lines.append(f"| {s['threshold']} | {_fmt(s['iou'])} | {_fmt(s['f1'])} |")
    return "\n".join(lines) + "\n"


def gap_line(baselines: dict[str, Any]) -> str:
    """One sentence: the model's gain over the best baseline and the share of the gap it closes, per region."""
    parts = []
    for key, what in (("iou", "overall"), ("iou_above", "above ground")):
        s = baselines["summary"][key]
        if s.get("best_baseline") is None or s.get("gain") is None:
            continue
        label = baselines["labels"].get(s["best_baseline"], s["best_baseline"])
        parts.append(f"{what}: IoU {_fmt(s['model'])} vs {_fmt(s['best_baseline_value'])} ({label}), gain "
                     f"{s['gain']:+.4f}, gap closed {_pct(s['gap_closed'])}")
    return "; ".join(parts)


def _pct(v: Any) -> str:
    return "n/a" if v is None else f"{100 * v:.1f} %"


def baseline_table(baselines: dict[str, Any]) -> list[str]:
    """Markdown lines: predictor x (IoU all / ground / above ground / unseen recall / added-voxel precision)."""
    head = "| predictor | " + " | ".join(title for _, title in BASELINE_COLUMNS) + " |"
    lines = [head, "|---" * (len(BASELINE_COLUMNS) + 1) + "|"]
    for name, row in baselines["predictors"].items():
        label = baselines["labels"].get(name, name)
        label = f"**{label}**" if name == "model" else label
        lines.append(f"| {label} | " + " | ".join(_fmt(row.get(k)) for k, _ in BASELINE_COLUMNS) + " |")
    gap = gap_line(baselines) or baselines.get("note", "")
    lines += ["", gap + ".",
              "", "Gap closed = (IoU_model - IoU_best) / (1 - IoU_best). Ground = within the ground band over the "
              "per-column ground level (occkit.metrics.regions); unseen = target voxels without input points; added "
              "= predicted voxels without input points."]
    return lines


def height_table(baselines: dict[str, Any]) -> list[str]:
    """Markdown lines: the model beside the best baseline per band of sensor height over the ground, overall and
    above the ground; none when the frames fall in fewer than two bands (or carry no sensor position)."""
    bins = baselines.get("by_sensor_height") or []
    if len(bins) < 2:
        return []
    labels = baselines["labels"]
    lines = ["| sensor over the ground | frames | IoU all: model | best baseline | gap closed | IoU above ground: "
             "model | best baseline | gap closed |", "|---|---|---|---|---|---|---|---|"]
    for b in bins:
        cells = []
        for key in ("iou", "iou_above"):
            s = b[key]
            best = s.get("best_baseline")
            name = labels.get(best, best) if best else "n/a"
            cells += [_fmt(s.get("model")), f"{_fmt(s.get('best_baseline_value'))} ({name})", _pct(s.get("gap_closed"))]
        lo, hi = b["height_m"]
        lines.append(f"| {lo:.0f}-{hi:.0f} m | {b['frames']} | " + " | ".join(cells) + " |")
    return lines + ["", "Height = the sensor over the frame's median ground level (occkit.metrics.by_height); the "
                        "points of a sensor further up are sparser and, from monocular depth, noisier."
                    ] + _losing_bands(bins, baselines.get("summary") or {})


def _losing_bands(bins: list[dict[str, Any]], summary: dict[str, Any]) -> list[str]:
    """One line per region where the model loses to its best baseline in some bands: where a trivial predictor
    beats it, which the overall figure hides when other bands carry it. Where that predictor's IoU there is below
    the model's over every frame, its false voxels can cost the whole figure more than its hits there gain (the
    refinement's seventeenth round), so the line says the win is on those frames alone."""
    total = sum(b["frames"] for b in bins)
    lines = []
    for key, where in (("iou", "overall"), ("iou_above", "above the ground")):
        losing = [b for b in bins if (b[key].get("gap_closed") or 0.0) < 0.0]
        if losing:
            bands = ", ".join(f"{b['height_m'][0]:.0f}-{b['height_m'][1]:.0f} m" for b in losing)
            frames = sum(b["frames"] for b in losing)
            line = (f"**The model loses to its best baseline {where} at {bands}** ({frames} of {total} frames): "
                    "a trivial predictor does better there")
            whole = (summary.get(key) or {}).get("model")
            best_there = max(b[key].get("best_baseline_value") or 0.0 for b in losing)
            if whole is not None and best_there < whole:
                line += (f", on those frames alone: its {best_there:.4f} there is below the model's {whole:.4f} over "
                         "every frame, so using it there can still lower the whole figure")
            lines.append(line + ".")
    return [""] + lines if lines else []


def write_report(report: dict[str, Any], out_dir: str | Path) -> tuple[Path, Path]:
    """Write metrics.json and metrics.md atomically into ``out_dir``."""
    from occkit.utils.atomic import atomic_write_text

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "metrics.json", json.dumps(report, indent=2))
    atomic_write_text(out / "metrics.md", markdown(report))
    return out / "metrics.json", out / "metrics.md"


def console_tables(report: dict[str, Any]) -> list[Any]:
    """rich Tables: overall (+ best threshold) and per scene."""
    from rich.table import Table

    overall = Table(title=f"{_what(report)}, {report['num_frames']} frames")
    overall.add_column("")
    for k in RATE_KEYS:
        overall.add_column(k, justify="right")
    o, b = report["overall"], report["best"]
    overall.add_row(f"threshold {report['threshold']}", *(_fmt(o[k]) for k in RATE_KEYS))
    overall.add_row(f"best F1 @ {b['threshold']}", _fmt(b["iou"]), "", "", _fmt(b["f1"]))
    scenes = Table(title="per scene")
    scenes.add_column("scene")
    scenes.add_column("frames", justify="right")
    for k in RATE_KEYS:
        scenes.add_column(k, justify="right")
    for name, s in report["per_scene"].items():
        scenes.add_row(name, str(s["frames"]), *(_fmt(s[k]) for k in RATE_KEYS))
    tables = [overall, scenes]
    if report.get("baselines"):
        b = report["baselines"]
        base = Table(title="beside the baselines (same frames, targets, mask)", caption=gap_line(b))
        base.add_column("predictor")
        for _, title in BASELINE_COLUMNS:
            base.add_column(title, justify="right")
        for name, row in b["predictors"].items():
            base.add_row(b["labels"].get(name, name), *(_fmt(row.get(k)) for k, _ in BASELINE_COLUMNS),
                         style="bold" if name == "model" else None)
        tables.append(base)
    return tables
