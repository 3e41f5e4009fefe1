"""Training curves of a run: the loss per step and the validation IoU per epoch beside its best baseline."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from occkit.health.rundir import RunRecord, finite
from occkit.viz._common import new_figure


def training_curves_figure(run: RunRecord) -> Figure:
    """Two panels: ``train/loss`` (and its running mean) by step; ``val/iou`` by validation, with the best
    trivial baseline (``val/iou_best_baseline``) dashed, so a run that never beats copying shows at a glance."""
    fig = new_figure(11.0, 4.0)
    loss_ax, iou_ax = fig.subplots(1, 2)
    steps, losses = run.series("train/loss")
    pairs = [(s, v) for s, v in zip(steps, losses, strict=True) if np.isfinite(v)]
    if pairs:
        s, v = map(np.asarray, zip(*pairs, strict=True))
        loss_ax.plot(s, v, color="0.7", lw=0.8, label="train/loss")
        k = max(1, len(v) // 20)
        if k > 1:
            smooth = np.convolve(v, np.ones(k) / k, mode="valid")
            loss_ax.plot(s[k - 1:], smooth, color="C0", lw=1.6, label=f"running mean ({k} steps)")
        loss_ax.legend(fontsize=8, loc="upper right")
    _label(loss_ax, bool(pairs), "no train/loss logged", "step", "loss", "training loss")
    _, ious = run.series("val/iou")
    _, base = run.series("val/iou_best_baseline")
    ious, base = finite(ious), finite(base)
    if ious:
        x = np.arange(1, len(ious) + 1)
        iou_ax.plot(x, ious, "o-", color="C2", label="model (val/iou)")
        if base:
            iou_ax.plot(np.arange(1, len(base) + 1), base, "--", color="C3", label="best baseline")
        iou_ax.set_xticks(x)
        iou_ax.legend(fontsize=8, loc="lower right")
    _label(iou_ax, bool(ious), "no validation logged", "validation (epoch)", "IoU", "validation IoU per epoch")
    fig.suptitle(f"{run.name}: training curves", fontsize=11)
    return fig


def _label(ax, has_data: bool, empty: str, xlabel: str, ylabel: str, title: str) -> None:  # noqa: ANN001 - Axes
    """Axis labels and title; a centred note when the panel has nothing to draw."""
    if not has_data:
        ax.text(0.5, 0.5, empty, ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
