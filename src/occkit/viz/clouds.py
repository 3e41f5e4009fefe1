"""Raw, refined and LiDAR point clouds side by side: a BEV picture (PNG) and an interactive 3D view (HTML).

The refined cloud's points are coloured by where they came from (kept, snapped along their ray, added in an
occupied voxel without points), the others by height, so a glance shows what refinement did.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from occkit.utils.atomic import atomic_write_text
from occkit.viz._common import new_figure, save_png

ORIGIN_NAMES = {0: "kept", 1: "snapped", 2: "added"}
ORIGIN_COLORS = {0: "#1b9e77", 1: "#7570b3", 2: "#d95f02"}


def _sample(points: np.ndarray, max_points: int, rng: np.random.Generator) -> np.ndarray:
    idx = np.arange(len(points))
    return idx if len(idx) <= max_points else np.sort(rng.choice(idx, max_points, replace=False))


def clouds_bev_figure(clouds: Mapping[str, np.ndarray], origin: np.ndarray | None = None, title: str = "",
                      max_points: int = 60_000, seed: int = 0):
    """One BEV panel per cloud (x right, y up, same extent and height colours); the cloud named ``refined`` is
    coloured by ``origin`` codes when given."""
    rng = np.random.default_rng(seed)
    names = list(clouds)
    fig = new_figure(4.6 * len(names), 4.9)
    every = np.concatenate([np.asarray(c, float)[:, :3] for c in clouds.values() if len(c)] or [np.zeros((1, 3))])
    lo, hi = np.percentile(every, 1, axis=0), np.percentile(every, 99, axis=0)
    for i, name in enumerate(names):
        ax = fig.add_subplot(1, len(names), i + 1)
        pts = np.asarray(clouds[name], float)[:, :3]
        # only the points inside the common window are drawn, so the axes scale to it by themselves
        inside = np.flatnonzero(((pts[:, :2] >= lo[:2]) & (pts[:, :2] <= hi[:2])).all(axis=1))
        pick = inside[_sample(inside, max_points, rng)]
        if name == "refined" and origin is not None and len(pts):
            codes = np.asarray(origin)[pick]
            for code, label in ORIGIN_NAMES.items():
                sel = pick[codes == code]
                n = int((np.asarray(origin) == code).sum())
                ax.scatter(pts[sel, 0], pts[sel, 1], s=0.3, c=ORIGIN_COLORS[code], label=f"{label} ({n:,})",
                           rasterized=True)
            # a figure legend "outside" gets its own row from the constrained layout; one under the axes was cut
            fig.legend(loc="outside lower center", ncol=3, fontsize=8, markerscale=12)
        else:
            ax.scatter(pts[pick, 0], pts[pick, 1], s=0.3, c=pts[pick, 2], cmap="viridis", vmin=lo[2], vmax=hi[2],
                       rasterized=True)
        ax.set_title(f"{name}: {len(pts):,} points", fontsize=9)
        ax.update_datalim([lo[:2], hi[:2]])
        ax.margins(0)
        # "datalim" widens the window to fill the box the layout gave the axes; shrinking the box instead (the
        # default) moved the panel titles under the figure's title
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_xlabel("x (m)")
        if i == 0:
            ax.set_ylabel("y (m)")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig  # new_figure's constrained layout places the legends (tight_layout here only warned and replaced it)


def write_clouds_bev(path: str | Path, clouds: Mapping[str, np.ndarray], origin: np.ndarray | None = None,
                     title: str = "") -> Path:
    return save_png(clouds_bev_figure(clouds, origin, title), path)


def write_clouds_html(path: str | Path, clouds: Mapping[str, np.ndarray], origin: np.ndarray | None = None,
                      title: str = "point clouds", max_points: int = 80_000, seed: int = 0) -> Path:
    """A self-contained HTML file: one toggleable trace per cloud (per origin for the refined one)."""
    import plotly.graph_objects as go

    rng = np.random.default_rng(seed)
    fig = go.Figure()
    palette = {"raw": "#999999", "lidar": "#1f78b4", "oracle": "#33a02c"}
    for name, cloud in clouds.items():
        pts = np.asarray(cloud, float)[:, :3]
        pick = _sample(pts, max_points, rng)
        groups = ([(f"refined: {label}", pick[np.asarray(origin)[pick] == code], ORIGIN_COLORS[code])
                   for code, label in ORIGIN_NAMES.items()] if name == "refined" and origin is not None
                  else [(name, pick, palette.get(name, "#e7298a"))])
        for label, sel, color in groups:
            fig.add_trace(go.Scatter3d(x=pts[sel, 0], y=pts[sel, 1], z=pts[sel, 2], mode="markers", name=label,
                                       marker={"size": 1.5, "color": color}))
    fig.update_layout(title=title, scene={"aspectmode": "data"}, legend={"itemsizing": "constant"})
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, fig.to_html(include_plotlyjs=True, full_html=True))
    return out
