"""Bird's-eye-view max-height pictures and height-slice panels of one [x, y, z] occupancy grid."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from occkit.geometry.grid import GridSpec
from occkit.viz._common import (
    EMPTY_COLOR,
    IGNORED_COLOR,
    OCCUPIED_COLOR,
    Window,
    bool_grid,
    new_figure,
    occupied_window,
    panel_grid,
    pick_levels,
    plan_extent,
    plan_height,
)


def top_height(occ: np.ndarray, spec: GridSpec) -> np.ndarray:
    """[x, y] height (m, voxel centre) of the highest occupied voxel of each column; NaN for empty columns."""
    nz = occ.shape[2]
    top = nz - 1 - np.argmax(occ[:, :, ::-1], axis=2)
    return np.where(occ.any(axis=2), spec.z_centers()[top], np.nan)


def _label_plan_axes(ax, spec: GridSpec, window: Window | None = None) -> None:  # noqa: ANN001 - matplotlib Axes
    x0, x1, y0, y1 = window if window is not None else plan_extent(spec)
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.set_aspect("equal")
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)


def height_range(grids: Sequence[np.ndarray], spec: GridSpec) -> tuple[float, float]:
    """One colour range (m) covering the top heights of every bool grid given: pictures meant to be compared
    (ground truth beside prediction) must share it, or the same colour means different heights."""
    tops = [top_height(g, spec) for g in grids]
    finite = np.concatenate([t[np.isfinite(t)] for t in tops]) if tops else np.zeros(0)
    vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (spec.lower[2], spec.upper[2])
    if vmax - vmin < spec.size[2]:
        vmin, vmax = vmin - spec.size[2] / 2, vmax + spec.size[2] / 2
    return vmin, vmax


def bev_height_figure(grid: object, spec: GridSpec, title: str = "occupancy", threshold: float = 0.5,
                      cmap: str = "viridis", zoom: bool = False,
                      value_range: tuple[float, float] | None = None) -> Figure:
    """BEV of an [x, y, z] grid, colour = height of each column's highest occupied voxel; x right, y up.

    ``zoom`` crops the view to the occupied columns (plus a margin); ``value_range`` fixes the colour range
    (see :func:`height_range`), else it spans this grid's own heights."""
    occ = bool_grid(grid, spec, title, threshold)
    window = occupied_window(occ.any(axis=2), spec) if zoom else None
    height = top_height(occ, spec)
    fig = new_figure(7.3, plan_height(spec, 5.6, window) + 1.5)
    ax = fig.add_subplot()
    ax.set_facecolor(IGNORED_COLOR)
    vmin, vmax = value_range if value_range is not None else height_range([occ], spec)
    im = ax.imshow(np.ma.masked_invalid(height).T, origin="lower", extent=plan_extent(spec), cmap=cmap,
                   vmin=vmin, vmax=vmax, interpolation="nearest")
    fig.colorbar(im, ax=ax, shrink=0.85, label="height of highest occupied voxel (m)")
    _label_plan_axes(ax, spec, window)
    fig.legend(handles=[Patch(facecolor=IGNORED_COLOR, edgecolor="0.5", label="no occupied voxel")],
               loc="outside lower center", fontsize=8, framealpha=0.9)  # outside: never over data or labels
    n = int(occ.sum())
    x, y, z = spec.shape
    ax.set_title(f"{title}: BEV max height\n{n:,} occupied voxels ({n / occ.size:.3%}) on {x}x{y}x{z}, "
                 f"voxel {spec.voxel_size[0]:g}x{spec.voxel_size[1]:g}x{spec.voxel_size[2]:g} m", fontsize=10)
    return fig


def height_slices_figure(grid: object, spec: GridSpec, levels: Sequence[int] | None = None, max_panels: int = 6,
                         title: str = "occupancy", threshold: float = 0.5, zoom: bool = False) -> Figure:
    """Plan views of a few height levels (default: where the occupied voxels are); ``zoom`` crops to them."""
    occ = bool_grid(grid, spec, title, threshold)
    window = occupied_window(occ.any(axis=2), spec) if zoom else None
    per_level = occ.sum(axis=(0, 1))
    levels = pick_levels(per_level, max_panels) if levels is None else [int(z) for z in levels]
    bad = [z for z in levels if not 0 <= z < spec.shape[2]]
    if bad or not levels:
        from occkit.errors import ConfigError

        raise ConfigError(f"levels: expected height levels in [0, {spec.shape[2] - 1}], got {list(levels)}")
    rows, cols = panel_grid(len(levels))
    fig = new_figure(4.0 * cols, (plan_height(spec, 3.3, window) + 0.7) * rows + 0.6)
    cmap = ListedColormap([EMPTY_COLOR, OCCUPIED_COLOR])
    zc = spec.z_centers()
    axes = fig.subplots(rows, cols, squeeze=False, sharex=True, sharey=True)
    for i, ax in enumerate(axes.flat):
        if i >= len(levels):
            ax.set_visible(False)
            continue
        z = levels[i]
        ax.imshow(occ[:, :, z].T, origin="lower", extent=plan_extent(spec), cmap=cmap, vmin=0, vmax=1,
                  interpolation="nearest")
        _label_plan_axes(ax, spec, window)
        ax.label_outer()
        ax.set_title(f"z = {zc[z]:.2f} m (level {z}): {int(per_level[z]):,} occupied", fontsize=9)
    fig.legend(handles=[Patch(facecolor=OCCUPIED_COLOR, label="occupied"),
                        Patch(facecolor=EMPTY_COLOR, edgecolor="0.5", label="empty")],
               loc="outside lower center", ncols=2, fontsize=9)
    fig.suptitle(f"{title}: height slices (z = voxel centre height)", fontsize=11)
    return fig
