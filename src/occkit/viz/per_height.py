"""IoU against height: where in z does a model work, and how many voxels each level holds."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from occkit.errors import GridMismatchError
from occkit.geometry.grid import GridSpec
from occkit.viz._common import FN_COLOR, FP_COLOR, TP_COLOR, fmt_iou, new_figure, to_numpy
from occkit.viz.overlay import confusion_grids


def per_height_counts(pred: object, gt: object, spec: GridSpec, mask: object | None = None,
                      threshold: float = 0.5) -> dict[str, np.ndarray | float]:
    """Per-level IoU (NaN where both are empty), GT and predicted occupied counts, and the overall IoU."""
    tp, fp, fn = confusion_grids(pred, gt, spec, mask, threshold)
    t, f, n = (a.sum(axis=(0, 1)).astype(np.int64) for a in (tp, fp, fn))
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(t + f + n > 0, t / np.maximum(t + f + n, 1), np.nan)
    total = int(t.sum() + f.sum() + n.sum())
    return {"per_height_iou": iou, "target_count": t + n, "pred_count": t + f,
            "iou": float(t.sum() / total) if total else float("nan")}


def per_height_iou_figure(per_height_iou: object, spec: GridSpec, target_count: object | None = None,
                          pred_count: object | None = None, overall_iou: float | None = None,
                          title: str = "IoU by height") -> Figure:
    """Horizontal bars of IoU at each level's centre height (m), with occupied-voxel counts beside them.

    Takes ``OccupancyMetrics.compute()``'s ``per_height_iou`` / ``per_height_target_count`` /
    ``per_height_pred_count`` or ``per_height_counts`` output. NaN levels (empty in both) are marked "n/a".
    """
    iou = to_numpy(per_height_iou).astype(np.float64).reshape(-1)
    zc = spec.z_centers()
    if iou.shape != zc.shape:
        raise GridMismatchError(f"per_height_iou has {iou.size} levels but {spec.describe()} has {zc.size}")
    with_counts = target_count is not None or pred_count is not None
    fig = new_figure(10.0 if with_counts else 6.5, max(4.5, min(12.0, 0.12 * zc.size + 3.0)))
    if with_counts:
        ax, axc = fig.subplots(1, 2, sharey=True, width_ratios=[3, 2])
    else:
        ax, axc = fig.add_subplot(), None
    bar_h = spec.size[2] * 0.8
    known = np.isfinite(iou)
    ax.barh(zc[known], iou[known], height=bar_h, color=TP_COLOR, label="IoU at level")
    nan_z = zc[~known]
    ax.plot(np.zeros_like(nan_z), nan_z, linestyle="none", marker="x", color="0.55",
            label="n/a (empty in both)" if nan_z.size else None)
    if overall_iou is not None and np.isfinite(overall_iou):
        ax.axvline(overall_iou, color="k", linestyle="--", linewidth=1, label=f"whole grid {overall_iou:.3f}")
    ax.set_xlim(0, 1)
    ax.set_ylim(spec.lower[2], spec.upper[2])
    ax.set_xlabel("IoU")
    ax.set_ylabel("height (m, level centre)")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncols=3, fontsize=8)
    if zc.size <= 48:  # label every bar when they are tall enough to read
        for z, v in zip(zc[known], iou[known], strict=True):
            ax.text(min(v, 0.88) + 0.01, z, f"{v:.2f}", va="center", fontsize=7)
    if axc is not None:
        series = [(c, colour, label) for c, colour, label in ((target_count, FN_COLOR, "ground truth"),
                                                             (pred_count, FP_COLOR, "prediction")) if c is not None]
        h = spec.size[2] * 0.8 / len(series)
        for k, (counts, colour, label) in enumerate(series):
            c = to_numpy(counts).astype(np.float64).reshape(-1)
            offset = (k - (len(series) - 1) / 2) * h
            axc.barh(zc + offset, np.where(c > 0, c, np.nan), height=h, color=colour, label=label, left=0.8)
        axc.set_xscale("log")
        axc.set_xlim(left=0.8)
        axc.set_xlabel("occupied voxels per level (log scale)")
        axc.grid(axis="x", alpha=0.3, which="major")
        axc.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncols=2, fontsize=8)
    overall = "" if overall_iou is None else f" - whole grid IoU {fmt_iou(overall_iou)}"
    fig.suptitle(f"{title}{overall}", fontsize=11)
    return fig
