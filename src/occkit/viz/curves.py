"""Training curves of a run: the loss and the validation IoU beside its best baseline, both by training step."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from occkit.health.rundir import RunRecord
from occkit.viz._common import new_figure


def training_curves_figure(run: RunRecord) -> Figure:
    """Two panels: ``train/loss`` (and its running mean) and ``val/iou``, by training step, with the best trivial
    baseline (``val/iou_best_baseline``) dashed, so a run that never beats copying shows at a glance."""
    fig = new_figure(11.0, 4.0)
    loss_ax, iou_ax = fig.subplots(1, 2)
    steps, losses = run.series("train/loss")
    pairs = _finite_pairs(steps, losses)
    if pairs:
        s, v = map(np.asarray, zip(*pairs, strict=True))
        loss_ax.plot(s, v, color="0.7", lw=0.8, label="train/loss")
        k = max(1, len(v) // 20)
        if k > 1:
            smooth = np.convolve(v, np.ones(k) / k, mode="valid")
            loss_ax.plot(s[k - 1:], smooth, color="C0", lw=1.6, label=f"running mean ({k} steps)")
        loss_ax.legend(fontsize=8, loc="upper right")
    _label(loss_ax, bool(pairs), "no train/loss logged", "step", "loss", "training loss")
    val = _finite_pairs(*run.series("val/iou"))
    base = _finite_pairs(*run.series("val/iou_best_baseline"))
    if val:
        # by training step, like the loss: validation runs every check_val_every_n_epoch epochs, so its count is not
        # an epoch number
        iou_ax.plot(*zip(*val, strict=True), "o-", color="C2", label="model (val/iou)")
        if base:
            iou_ax.plot(*zip(*base, strict=True), "--", color="C3", label="best baseline")
        iou_ax.legend(fontsize=8, loc="lower right")
    _label(iou_ax, bool(val), "no validation logged", "step", "IoU", "validation IoU")
    fig.suptitle(f"{run.name}: training curves", fontsize=11)
    return fig


def _finite_pairs(steps: list[int], values: list[float]) -> list[tuple[int, float]]:
    return [(s, v) for s, v in zip(steps, values, strict=True) if np.isfinite(v)]


def _label(ax, has_data: bool, empty: str, xlabel: str, ylabel: str, title: str) -> None:  # noqa: ANN001 - Axes
    """Axis labels and title; a centred note when the panel has nothing to draw."""
    if not has_data:
        ax.text(0.5, 0.5, empty, ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
