"""The standard picture set for one grid (and, with a ground truth, its errors), written as files.

``occkit viz`` and the main job's report both draw through here, so the two always show the same pictures.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from occkit.geometry.grid import GridSpec


def write_pictures(pred: object, spec: GridSpec, out_dir: Path, *, gt: object | None = None,
                   mask: object | None = None, threshold: float = 0.5, levels: Sequence[int] | None = None,
                   zoom: bool = False, name: str = "prediction", gt_name: str = "ground truth", prefix: str = "",
                   html: bool = True, max_points: int = 200_000) -> list[tuple[str, Path]]:
    """Write ``<prefix>bev.png`` and ``<prefix>slices.png``; with ``gt`` also the GT BEV, TP/FP/FN overlays (plan
    and slices) and IoU by height; with ``html`` the 3D view. Returns (description, path) per file."""
    from occkit.viz._common import save_png
    from occkit.viz.bev import height_slices_figure
    from occkit.viz.html import write_grid_html
    from occkit.viz.overlay import overlay_bev_figure, overlay_slices_figure
    from occkit.viz.per_height import per_height_counts, per_height_iou_figure

    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[tuple[str, Path]] = []

    def png(fig, filename: str, what: str) -> None:  # noqa: ANN001 - matplotlib Figure
        written.append((what, save_png(fig, out_dir / f"{prefix}{filename}")))

    pred_bev, gt_bev = bev_pair(pred, gt, spec, threshold=threshold, zoom=zoom, name=name, gt_name=gt_name)
    png(pred_bev, "bev.png", "BEV max height")
    png(height_slices_figure(pred, spec, levels=levels, title=name, threshold=threshold, zoom=zoom),
        "slices.png", "height slices")
    if gt is not None:
        png(gt_bev, "gt_bev.png", "ground truth BEV max height")
        png(overlay_bev_figure(pred, gt, spec, mask=mask, threshold=threshold, title=f"{name} vs ground truth",
                               zoom=zoom), "overlay_bev.png", "TP/FP/FN BEV")
        png(overlay_slices_figure(pred, gt, spec, mask=mask, levels=levels, threshold=threshold,
                                  title=f"{name} vs ground truth", zoom=zoom),
            "overlay_slices.png", "TP/FP/FN height slices")
        c = per_height_counts(pred, gt, spec, mask=mask, threshold=threshold)
        png(per_height_iou_figure(c["per_height_iou"], spec, c["target_count"], c["pred_count"], c["iou"],
                                  title=f"{name}: IoU by height"), "per_height_iou.png", "IoU by height")
    if html:
        path = write_grid_html(out_dir / f"{prefix}view.html", pred, spec, gt=gt, mask=mask, threshold=threshold,
                               max_points=max_points, title=name)
        written.append(("3D view (HTML)", path))
    return written


def bev_pair(pred: object, gt: object | None, spec: GridSpec, *, threshold: float = 0.5, zoom: bool = False,
             name: str = "prediction", gt_name: str = "ground truth") -> tuple[object, object | None]:
    """BEV max-height figures of prediction and ground truth on one shared height colour range (the same
    colour is the same height in both), or the prediction alone."""
    from occkit.viz._common import bool_grid
    from occkit.viz.bev import bev_height_figure, height_range

    if gt is None:
        return bev_height_figure(pred, spec, title=name, threshold=threshold, zoom=zoom), None
    shared = height_range([bool_grid(pred, spec, name, threshold), bool_grid(gt, spec, gt_name, 0.5)], spec)
    return (bev_height_figure(pred, spec, title=name, threshold=threshold, zoom=zoom, value_range=shared),
            bev_height_figure(gt, spec, title=gt_name, zoom=zoom, value_range=shared))
