"""Shared picture plumbing: grids in, Agg figures out, PNG files and RGB arrays for loggers.

Figures are built with ``matplotlib.figure.Figure`` on an Agg canvas (never pyplot), so nothing depends on a
display, a global backend or global state, and pictures can be drawn from worker threads.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from occkit.geometry.grid import GridSpec
from occkit.utils.atomic import atomic_write

# Dark2-based confusion colours: readable for the common colour-vision deficiencies, and on white.
TP_COLOR = "#1b9e77"
FP_COLOR = "#d95f02"
FN_COLOR = "#7570b3"
MIXED_COLOR = "#e6ab02"
IGNORED_COLOR = "#c8c8c8"
EMPTY_COLOR = "#ffffff"
OCCUPIED_COLOR = "#253494"
DPI = 100


def to_numpy(grid: object) -> np.ndarray:
    """numpy arrays as they are; torch tensors detached and moved to the CPU."""
    if hasattr(grid, "detach"):
        return grid.detach().cpu().numpy()  # type: ignore[attr-defined]
    return np.asarray(grid)


def bool_grid(grid: object, spec: GridSpec, what: str, threshold: float = 0.5) -> np.ndarray:
    """An [x, y, z] occupancy grid as bool: floats are probabilities (> threshold), integers are 0 / non-zero."""
    a = to_numpy(grid)
    spec.check_array(a, what)
    if a.ndim != 3:
        from occkit.errors import GridMismatchError

        raise GridMismatchError(f"{what}: expected one [x, y, z] grid of shape {spec.shape}, got shape {a.shape}")
    if a.dtype == bool:
        return a
    if a.dtype.kind == "f":
        return np.nan_to_num(a, nan=0.0) > threshold
    return a != 0


def new_figure(width_in: float, height_in: float) -> Figure:
    """A constrained-layout figure on its own Agg canvas; PNG size = inches x DPI."""
    fig = Figure(figsize=(width_in, height_in), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def figure_to_rgb(fig: Figure) -> np.ndarray:
    """(H, W, 3) uint8 RGB of a figure, e.g. for TensorBoard ``add_image(..., dataformats="HWC")`` or W&B."""
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def save_png(fig: Figure, path: str | Path) -> Path:
    """Write the figure as PNG atomically (no half-written picture left after a crash)."""
    path = Path(path)
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=DPI))
    return path


def plan_extent(spec: GridSpec) -> tuple[float, float, float, float]:
    """imshow extent (x_min, x_max, y_min, y_max) in metres for an image of ``array[x, y].T``."""
    lo, hi = spec.lower, spec.upper
    return float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1])


def pick_levels(occupied_per_level: np.ndarray, count: int) -> list[int]:
    """Up to ``count`` height levels where the content is: quantiles of the occupied voxels' heights, topped up
    with the occupied levels farthest from those already chosen (all levels when the grid is empty)."""
    counts = np.asarray(occupied_per_level, dtype=np.float64)
    nz = len(counts)
    candidates = np.flatnonzero(counts > 0)
    if candidates.size == 0:
        candidates = np.arange(nz)
    if candidates.size <= count:
        return [int(c) for c in candidates]
    chosen: set[int] = set()
    if counts.sum() > 0:
        cum = np.cumsum(counts) / counts.sum()
        chosen |= {int(z) for z in np.searchsorted(cum, (np.arange(count) + 0.5) / count)}
    while len(chosen) < count:  # top up greedily with the occupied level farthest from those chosen
        taken = np.array(sorted(chosen)) if chosen else np.array([candidates[0] - nz])
        gap = np.abs(candidates[:, None] - taken[None, :]).min(axis=1)
        chosen.add(int(candidates[int(np.argmax(gap))]))
    return sorted(chosen)


Window = tuple[float, float, float, float]


def occupied_window(columns: np.ndarray, spec: GridSpec, margin: float = 0.1) -> Window | None:
    """(x0, x1, y0, y1) in metres around the occupied [x, y] columns plus a margin, clipped to the grid; None if empty.

    Lets a small scene in a large grid fill the picture (``zoom=True``)."""
    ix, iy = np.nonzero(columns)
    if ix.size == 0:
        return None
    lo, size = spec.lower, spec.size
    x0, x1 = lo[0] + ix.min() * size[0], lo[0] + (ix.max() + 1) * size[0]
    y0, y1 = lo[1] + iy.min() * size[1], lo[1] + (iy.max() + 1) * size[1]
    pad = margin * max(x1 - x0, y1 - y0, 4 * max(size[0], size[1]))
    return (float(max(x0 - pad, spec.lower[0])), float(min(x1 + pad, spec.upper[0])),
            float(max(y0 - pad, spec.lower[1])), float(min(y1 + pad, spec.upper[1])))


def plan_height(spec: GridSpec, width_in: float, window: Window | None = None) -> float:
    """Height (in) of a plan view ``width_in`` wide at the true x:y aspect, kept within readable bounds."""
    x0, x1, y0, y1 = window if window is not None else plan_extent(spec)
    return float(np.clip(width_in * (y1 - y0) / (x1 - x0), 0.4 * width_in, 1.6 * width_in))


def panel_grid(n: int, max_cols: int = 3) -> tuple[int, int]:
    cols = min(n if n <= 3 else (2 if n == 4 else 3), max_cols)
    return (n + cols - 1) // cols, cols


def fmt_iou(v: float) -> str:
    return "n/a" if not np.isfinite(v) else f"{v:.3f}"
