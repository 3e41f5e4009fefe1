"""Prediction vs ground truth: TP / FP / FN colours in plan (BEV) and per height slice, IoU in the titles.

Voxel classes: TP = occupied in both, FP = predicted only, FN = ground truth only; voxels where ``mask`` is False
are ignored (grey). A BEV column is shown as "exact" when all its evaluated occupied voxels are TP,
"hallucinated" when it holds only FP, "missed" when it holds only FN, and "partly right" otherwise (right column
but extra, missing or shifted voxels in height).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from occkit.errors import ConfigError
from occkit.geometry.grid import GridSpec
from occkit.viz._common import (
    EMPTY_COLOR,
    FN_COLOR,
    FP_COLOR,
    IGNORED_COLOR,
    MIXED_COLOR,
    TP_COLOR,
    bool_grid,
    fmt_iou,
    new_figure,
    occupied_window,
    panel_grid,
    pick_levels,
    plan_extent,
    plan_height,
)
from occkit.viz.bev import _label_plan_axes

EMPTY, TP, FP, FN, MIXED, IGNORED = range(6)
_CMAP = ListedColormap([EMPTY_COLOR, TP_COLOR, FP_COLOR, FN_COLOR, MIXED_COLOR, IGNORED_COLOR])


def confusion_grids(pred: object, gt: object, spec: GridSpec, mask: object | None = None,
                    threshold: float = 0.5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bool [x, y, z] tp, fp, fn grids (masked voxels are in none of them)."""
    p = bool_grid(pred, spec, "prediction", threshold)
    g = bool_grid(gt, spec, "ground truth", 0.5 - 1e-9)  # soft GT: >= 0.5 is occupied, as in the metrics
    if mask is not None:
        keep = bool_grid(mask, spec, "mask")
        p, g = p & keep, g & keep
    return p & g, p & ~g, ~p & g


def iou_of(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> float:
    """Voxel IoU, NaN when prediction and truth are both empty (the occkit.metrics convention)."""
    t, f, n = int(tp.sum()), int(fp.sum()), int(fn.sum())
    return t / (t + f + n) if t + f + n else float("nan")


def bev_codes(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """[x, y] column class (EMPTY, TP, FP, FN, MIXED, IGNORED)."""
    a, b, c = tp.any(2), fp.any(2), fn.any(2)
    code = np.full(a.shape, EMPTY, dtype=np.uint8)
    if mask is not None:
        code[~mask.any(2)] = IGNORED
    code[a & ~b & ~c] = TP
    code[~a & b & ~c] = FP
    code[~a & ~b & c] = FN
    code[(a | b | c) & ~(a & ~b & ~c) & ~(~a & b & ~c) & ~(~a & ~b & c)] = MIXED
    return code


def _counts_text(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> str:
    return f"TP {int(tp.sum()):,}  FP {int(fp.sum()):,}  FN {int(fn.sum()):,} voxels"


def overlay_bev_figure(pred: object, gt: object, spec: GridSpec, mask: object | None = None,
                       threshold: float = 0.5, title: str = "prediction vs ground truth", zoom: bool = False) -> Figure:
    """Plan view of where the prediction is right, hallucinates and misses, per BEV column."""
    tp, fp, fn = confusion_grids(pred, gt, spec, mask, threshold)
    window = occupied_window((tp | fp | fn).any(axis=2), spec) if zoom else None
    m = None if mask is None else bool_grid(mask, spec, "mask")
    code = bev_codes(tp, fp, fn, m)
    # 10 in: at 8.6 the legend beside the square plan pushed the y label off the picture's left edge
    fig = new_figure(10.0, plan_height(spec, 5.6, window) + 1.2)
    ax = fig.add_subplot()
    ax.imshow(code.T, origin="lower", extent=plan_extent(spec), cmap=_CMAP, vmin=-0.5, vmax=5.5,
              interpolation="nearest")
    _label_plan_axes(ax, spec, window)
    n = {k: int((code == k).sum()) for k in (TP, FP, FN, MIXED, IGNORED)}
    handles = [Patch(facecolor=TP_COLOR, label=f"exact column (all TP): {n[TP]:,}"),
               Patch(facecolor=FP_COLOR, label=f"hallucinated (FP only): {n[FP]:,}"),
               Patch(facecolor=FN_COLOR, label=f"missed (FN only): {n[FN]:,}"),
               Patch(facecolor=MIXED_COLOR, label=f"partly right (wrong heights): {n[MIXED]:,}")]
    if m is not None:
        handles.append(Patch(facecolor=IGNORED_COLOR, label=f"not evaluated (mask): {n[IGNORED]:,}"))
    fig.legend(handles=handles, loc="outside right center", fontsize=8, title="BEV columns", title_fontsize=9)
    ax.set_title(f"{title} (BEV) - IoU {fmt_iou(iou_of(tp, fp, fn))}\n{_counts_text(tp, fp, fn)}", fontsize=10)
    return fig


def overlay_slices_figure(pred: object, gt: object, spec: GridSpec, mask: object | None = None,
                          levels: Sequence[int] | None = None, max_panels: int = 6, threshold: float = 0.5,
                          title: str = "prediction vs ground truth", zoom: bool = False) -> Figure:
    """TP / FP / FN voxels at a few heights (default: where either grid's voxels are); ``zoom`` crops to them."""
    tp, fp, fn = confusion_grids(pred, gt, spec, mask, threshold)
    window = occupied_window((tp | fp | fn).any(axis=2), spec) if zoom else None
    m = None if mask is None else bool_grid(mask, spec, "mask")
    union = (tp | fp | fn).sum(axis=(0, 1))
    levels = pick_levels(union, max_panels) if levels is None else [int(z) for z in levels]
    if not levels or any(not 0 <= z < spec.shape[2] for z in levels):
        raise ConfigError(f"levels: expected height levels in [0, {spec.shape[2] - 1}], got {list(levels)}")
    code = np.full(tp.shape, EMPTY, dtype=np.uint8)
    if m is not None:
        code[~m] = IGNORED
    code[tp], code[fp], code[fn] = TP, FP, FN
    rows, cols = panel_grid(len(levels))
    # 1.2 in for the two-line title and the legend row: with 0.9 the legend touched the bottom x label
    fig = new_figure(4.0 * cols, (plan_height(spec, 3.3, window) + 0.7) * rows + 1.2)
    axes = fig.subplots(rows, cols, squeeze=False, sharex=True, sharey=True)
    zc = spec.z_centers()
    for i, ax in enumerate(axes.flat):
        if i >= len(levels):
            ax.set_visible(False)
            continue
        z = levels[i]
        ax.imshow(code[:, :, z].T, origin="lower", extent=plan_extent(spec), cmap=_CMAP, vmin=-0.5, vmax=5.5,
                  interpolation="nearest")
        _label_plan_axes(ax, spec, window)
        ax.label_outer()
        level_iou = iou_of(tp[:, :, z], fp[:, :, z], fn[:, :, z])
        ax.set_title(f"z = {zc[z]:.2f} m (level {z}): IoU {fmt_iou(level_iou)}", fontsize=9)
    handles = [Patch(facecolor=TP_COLOR, label="TP (both)"), Patch(facecolor=FP_COLOR, label="FP (prediction only)"),
               Patch(facecolor=FN_COLOR, label="FN (ground truth only)")]
    if m is not None:
        handles.append(Patch(facecolor=IGNORED_COLOR, label="not evaluated (mask)"))
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=9)
    fig.suptitle(f"{title}: height slices - IoU {fmt_iou(iou_of(tp, fp, fn))} over the grid\n"
                 f"{_counts_text(tp, fp, fn)}", fontsize=11)
    return fig
