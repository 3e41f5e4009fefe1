"""Every picture occkit writes is laid out so it can be read: no title, label, tick label or legend runs off the
picture or over another panel's text or plot, on the grids users have (the UAV grid, Occ3D's, SemanticKITTI's,
long strips either way) and on zoomed views.

The pictures once failed this: the raw / refined / LiDAR clouds' title sat on the panel titles and their legend was
cut at the bottom, the plan view's y label ran off its left edge, the slices' legend sat on an x label."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox

from occkit.geometry import GridSpec
from occkit.viz import (
    bev_height_figure,
    height_slices_figure,
    overlay_bev_figure,
    overlay_slices_figure,
    per_height_counts,
    per_height_iou_figure,
)

GRIDS = {
    "uav": GridSpec(pc_range=(-19.2, -19.2, -10.0, 19.2, 19.2, 50.5), voxel_size=(0.4, 0.4, 0.5)),
    "occ3d": GridSpec(pc_range=(-40.0, -40.0, -1.0, 40.0, 40.0, 5.4), voxel_size=(0.4, 0.4, 0.4)),
    "kitti": GridSpec(pc_range=(0.0, -25.6, -2.0, 51.2, 25.6, 4.4), voxel_size=(0.2, 0.2, 0.2)),
    "wide": GridSpec(pc_range=(-32.0, -8.0, -2.0, 32.0, 8.0, 6.0), voxel_size=(0.4, 0.4, 0.4)),
    "tall": GridSpec(pc_range=(-8.0, -32.0, -2.0, 8.0, 32.0, 6.0), voxel_size=(0.4, 0.4, 0.4)),
}


def _texts(fig: Figure) -> list[tuple[str, int | None, Bbox]]:
    """(kind, axes index or None for the figure's own, window extent) of everything drawn that holds text, and of
    each visible axes. Tick labels count only inside the view limits (matplotlib does not draw the others)."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    items: list[tuple[str, int | None, Bbox]] = []
    if fig._suptitle is not None and fig._suptitle.get_text():
        items.append(("figure title", None, fig._suptitle.get_window_extent(renderer)))
    items += [("figure legend", None, legend.get_window_extent(renderer)) for legend in fig.legends]
    for i, ax in enumerate(fig.axes):
        if not ax.get_visible():
            continue
        items.append(("axes", i, ax.get_window_extent(renderer)))
        for text in (ax.title, ax._left_title, ax._right_title, ax.xaxis.label, ax.yaxis.label):
            if text.get_visible() and text.get_text():
                items.append(("title or label", i, text.get_window_extent(renderer)))
        for axis in (ax.xaxis, ax.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            for tick in axis.get_major_ticks():
                label = tick.label1
                if label.get_visible() and label.get_text() and lo - 1e-9 <= tick.get_loc() <= hi + 1e-9:
                    items.append(("tick label", i, label.get_window_extent(renderer)))
        if ax.get_legend() is not None:
            items.append(("legend", i, ax.get_legend().get_window_extent(renderer)))
    return items


def layout_problems(fig: Figure) -> list[str]:
    """Text that leaves the picture, or lies over another panel or another panel's text (> 1 px each way)."""
    width, height = fig.canvas.get_width_height()
    items = _texts(fig)
    problems = []
    for k, (kind, axes, box) in enumerate(items):
        if kind != "axes" and (box.x0 < -1 or box.y0 < -1 or box.x1 > width + 1 or box.y1 > height + 1):
            problems.append(f"{kind} of axes {axes} leaves the picture: {np.round(box.extents)}")
        for other_kind, other_axes, other in items[k + 1:]:
            if axes is not None and axes == other_axes:
                continue  # a panel and its own labels
            if kind == other_kind and kind in ("axes", "tick label"):
                continue
            overlap = Bbox.intersection(box, other)
            if overlap is not None and overlap.width > 1 and overlap.height > 1:
                problems.append(f"{kind} of axes {axes} lies over {other_kind} of axes {other_axes}")
    return problems


def _scene(spec: GridSpec) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    nx, ny, nz = spec.shape
    gt = np.zeros(spec.shape, bool)
    gt[:, :, 2] = True
    block = (slice(nx // 4, nx // 2), slice(ny // 4, ny // 2), slice(2, nz // 2))
    gt[block] = rng.random(gt[block].shape) < 0.3
    pred = gt.copy()
    pred[rng.random(spec.shape) < 0.001] = True
    pred[:, :5] = False
    return pred, gt


@pytest.mark.parametrize("grid", sorted(GRIDS))
def test_grid_pictures_keep_their_text_apart(grid: str) -> None:
    spec = GRIDS[grid]
    pred, gt = _scene(spec)
    counts = per_height_counts(pred, gt, spec)
    figures = {
        "bev": bev_height_figure(pred, spec, title="val00: prediction"),
        "slices": height_slices_figure(pred, spec, title="val00: prediction"),
        "overlay bev": overlay_bev_figure(pred, gt, spec, title="val00: prediction vs ground truth"),
        "overlay slices": overlay_slices_figure(pred, gt, spec, title="val00: prediction vs ground truth"),
        "zoomed overlay bev": overlay_bev_figure(pred, gt, spec, zoom=True),
        "zoomed overlay slices": overlay_slices_figure(pred, gt, spec, zoom=True),
        "per height": per_height_iou_figure(counts["per_height_iou"], spec, counts["target_count"],
                                            counts["pred_count"], counts["iou"], title="val00: IoU by height"),
    }
    problems = {name: layout_problems(fig)[:3] for name, fig in figures.items()}
    assert not {name: p for name, p in problems.items() if p}


def test_cloud_pictures_keep_their_text_apart() -> None:
    """The title was drawn over the middle panel's, and the legend under it was cut off."""
    from occkit.viz.clouds import clouds_bev_figure

    rng = np.random.default_rng(0)
    clouds = {name: rng.uniform(-19.0, 19.0, (5000, 3)) for name in ("raw", "refined", "lidar")}
    clouds["lidar"][:3] = 900.0  # stray points far out leave the common window where it is
    title = "val00 (synthetic/uav_town/val/AMtown01/0000): raw pseudo-LiDAR, refined, LiDAR (grid frame)"
    fig = clouds_bev_figure(clouds, rng.integers(0, 3, 5000), title)
    assert layout_problems(fig) == []
    for ax in fig.axes:
        x0, x1 = ax.get_xlim()
        assert -25 < x0 < -18 and 18 < x1 < 25


def test_the_checker_sees_text_that_leaves_the_picture_or_lies_over_a_panel() -> None:
    from occkit.viz._common import new_figure

    fig = new_figure(4.0, 3.0)
    left, right = fig.subplots(1, 2)
    assert layout_problems(fig) == []
    left.set_title("left")
    right.set_title("a long title, running over its neighbour's", loc="right")
    assert layout_problems(fig) == ["title or label of axes 0 lies over title or label of axes 1"]
    right.set_title("a title far too long for its narrow panel, running over its neighbour's and off the page",
                    loc="right")
    assert any("leaves the picture" in p for p in layout_problems(fig))


def test_doctor_plots_keep_their_text_apart(tmp_path) -> None:
    """The doctor's four plots, on occkit's own recorded console run (a healthy run with every series)."""
    from pathlib import Path

    from occkit.health.doctor import diagnose
    from occkit.health.doctor_plots import doctor_figures

    log = Path(__file__).parent / "data" / "recorded" / "occkit_main_job_console.log"
    figures = doctor_figures(diagnose(log).run)
    assert {"doctor_loss", "doctor_pred_vs_target"} <= set(figures)
    assert {name: layout_problems(fig) for name, fig in figures.items()} == {name: [] for name in figures}
