"""Interactive 3D view of occupied voxels as a self-contained HTML file (plotly.js embedded: works offline)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from occkit.geometry.grid import GridSpec
from occkit.utils.atomic import atomic_write_text
from occkit.viz._common import FN_COLOR, FP_COLOR, TP_COLOR, bool_grid
from occkit.viz.overlay import confusion_grids, iou_of


def _centres(occ: np.ndarray, spec: GridSpec) -> np.ndarray:
    return spec.indices_to_centers(np.argwhere(occ))


def _subsample(points: np.ndarray, keep: float, rng: np.random.Generator) -> np.ndarray:
    if keep >= 1.0 or len(points) == 0:
        return points
    return points[rng.random(len(points)) < keep]


def grid_html_figure(grid: object, spec: GridSpec, gt: object | None = None, mask: object | None = None,
                     threshold: float = 0.5, max_points: int = 200_000, title: str = "occupancy", seed: int = 0):
    """plotly Figure: voxel centres coloured by height, or TP / FP / FN traces when ``gt`` is given."""
    import plotly.graph_objects as go

    rng = np.random.default_rng(seed)
    marker = dict(size=2.5, symbol="square", opacity=0.9)
    if gt is None:
        pts = _centres(bool_grid(grid, spec, title, threshold), spec)
        total = len(pts)
        keep = min(1.0, max_points / max(total, 1))
        pts = _subsample(pts, keep, rng)
        traces = [go.Scatter3d(x=pts[:, 0], y=pts[:, 1], z=pts[:, 2], mode="markers", name="occupied",
                               marker=dict(**marker, color=pts[:, 2], colorscale="Viridis",
                                           colorbar=dict(title="height (m)")),
                               hovertemplate="x %{x:.2f} m<br>y %{y:.2f} m<br>z %{z:.2f} m<extra></extra>")]
        heading = f"{title}: {total:,} occupied voxels"
    else:
        tp, fp, fn = confusion_grids(grid, gt, spec, mask, threshold)
        total = int(tp.sum() + fp.sum() + fn.sum())
        keep = min(1.0, max_points / max(total, 1))
        traces = []
        for occ, colour, name in ((tp, TP_COLOR, "TP (both)"), (fp, FP_COLOR, "FP (prediction only)"),
                                  (fn, FN_COLOR, "FN (ground truth only)")):
            pts = _subsample(_centres(occ, spec), keep, rng)
            traces.append(go.Scatter3d(x=pts[:, 0], y=pts[:, 1], z=pts[:, 2], mode="markers",
                                       name=f"{name}: {int(occ.sum()):,}", marker=dict(**marker, color=colour),
                                       hovertemplate=f"{name}<br>x %{{x:.2f}} m<br>y %{{y:.2f}} m<br>"
                                                     f"z %{{z:.2f}} m<extra></extra>"))
        iou = iou_of(tp, fp, fn)
        heading = f"{title}: IoU {'n/a' if not np.isfinite(iou) else f'{iou:.3f}'}"
    if keep < 1.0:
        heading += f" (showing a random {keep:.0%} of {total:,} voxels)"
    fig = go.Figure(traces)
    lo, hi = spec.lower, spec.upper
    fig.update_layout(
        title=heading,
        scene=dict(aspectmode="data",
                   xaxis=dict(title="x (m)", range=[lo[0], hi[0]]), yaxis=dict(title="y (m)", range=[lo[1], hi[1]]),
                   zaxis=dict(title="z (m)", range=[lo[2], hi[2]])),
        legend=dict(itemsizing="constant"), margin=dict(l=0, r=0, t=50, b=0))
    return fig


def write_grid_html(path: str | Path, grid: object, spec: GridSpec, gt: object | None = None,
                    mask: object | None = None, threshold: float = 0.5, max_points: int = 200_000,
                    title: str = "occupancy") -> Path:
    """Write the 3D view as one HTML file with plotly.js inside (about 5 MB, no network needed to open it)."""
    fig = grid_html_figure(grid, spec, gt=gt, mask=mask, threshold=threshold, max_points=max_points, title=title)
    path = Path(path)
    atomic_write_text(path, fig.to_html(include_plotlyjs=True, full_html=True, div_id="occkit-grid-view"))
    return path


def samples_html_figure(samples: list[tuple[str, object, object]], spec: GridSpec, threshold: float = 0.5,
                        max_points: int = 8_000, seed: int = 0):
    """plotly Figure: ground truth (left) and prediction (right) of one sample at a time, side by side in two
    linked 3D scenes, with a dropdown over every sample. ``samples`` = [(name, prediction, ground truth)]."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    rng = np.random.default_rng(seed)
    fig = make_subplots(rows=1, cols=2, specs=[[{"type": "scene"}, {"type": "scene"}]],
                        subplot_titles=("ground truth", "prediction"), horizontal_spacing=0.02)
    marker = dict(size=2.0, symbol="square", opacity=0.9, colorscale="Viridis", cmin=float(spec.lower[2]),
                  cmax=float(spec.upper[2]))
    buttons = []
    for i, (name, pred, gt) in enumerate(samples):
        counts = []
        for col, (grid, what, t) in enumerate(((gt, "ground truth", 0.5), (pred, "prediction", threshold)), 1):
            pts = _centres(bool_grid(grid, spec, f"{name}: {what}", t), spec)
            counts.append(len(pts))
            pts = np.round(_subsample(pts, min(1.0, max_points / max(len(pts), 1)), rng), 2)
            fig.add_trace(go.Scatter3d(x=pts[:, 0], y=pts[:, 1], z=pts[:, 2], mode="markers", visible=i == 0,
                                       name=f"{name} {what}", showlegend=False,
                                       marker=dict(**marker, color=pts[:, 2], showscale=col == 2 and i == 0),
                                       hovertemplate="x %{x:.2f} m<br>y %{y:.2f} m<br>z %{z:.2f} m<extra></extra>"),
                          row=1, col=col)
        visible = [j // 2 == i for j in range(2 * len(samples))]
        buttons.append(dict(label=name, method="update",
                            args=[{"visible": visible},
                                  {"title": f"{name}: ground truth {counts[0]:,} occupied voxels, prediction "
                                            f"{counts[1]:,} (p > {threshold:g})"}]))
    lo, hi = spec.lower, spec.upper
    scene = dict(aspectmode="data", xaxis=dict(title="x (m)", range=[lo[0], hi[0]]),
                 yaxis=dict(title="y (m)", range=[lo[1], hi[1]]), zaxis=dict(title="z (m)", range=[lo[2], hi[2]]))
    fig.update_layout(scene=scene, scene2=scene, margin=dict(l=0, r=0, t=80, b=0),
                      title=buttons[0]["args"][1]["title"] if buttons else "no samples",
                      updatemenus=[dict(buttons=buttons, direction="down", x=0.0, xanchor="left", y=1.12,
                                        yanchor="top", showactive=True)])
    return fig


def write_samples_html(path: str | Path, samples: list[tuple[str, object, object]], spec: GridSpec,
                       threshold: float = 0.5, max_points: int = 8_000) -> Path:
    """Every validation sample in one offline HTML file: pick a sample, see its ground truth beside the
    prediction (points per side capped at ``max_points`` to keep the file small)."""
    fig = samples_html_figure(samples, spec, threshold=threshold, max_points=max_points)
    path = Path(path)
    atomic_write_text(path, fig.to_html(include_plotlyjs=True, full_html=True, div_id="occkit-samples-view"))
    return path
