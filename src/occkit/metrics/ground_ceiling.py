"""How far the ground can go from an elevation model: ``DEMGroundRates``.

A DEM gives each column's ground height to a fraction of a level, so which levels a LiDAR target fills there is
mostly known: a DEM height at a level's centre puts the ground in that level, one near the boundary between two
levels puts it in either or both (slope, range noise and registration noise inside the column). What the DEM
cannot say is whether the target has ground in the column at all: a roof, a crown or a car may cover it.

``DEMGroundRates`` counts, over a split's targets, how often the level ``dz`` above the column's DEM level
(rounded down) is occupied in the target's ground region, for each tenth of a level of the DEM's fraction. Its
rates make two predictors of the ground:

* ``predict(heights)``: the levels whose rate is at least ``threshold``, in every column with a DEM height. It
  needs no network and no oracle, only the train split's statistics (as the ``ground_plane`` baseline does).
* ``predict(heights, covered=columns)``: the same with the rates among columns whose target has ground, applied
  only where the target has ground: an **oracle on what covers the ground**. Its IoU on the ground region bounds
  what any predictor that places the ground from this DEM can reach there, however well it tells covered columns
  from open ones.

Both read the DEM's continuous level (``occkit.data.elevation.dem_heights``) in model layout (B, Y, X).
"""

from __future__ import annotations

import torch

BINS = 10  # tenths of a level
REACH = 3  # levels counted below and above the DEM's level


class DEMGroundRates:
    """Rates of occupied ground levels around the DEM height, by the height's fraction of a level (see the module
    docstring). ``update`` with a split's ground targets, then ``predict``."""

    def __init__(self, bins: int = BINS, reach: int = REACH) -> None:
        if bins < 1 or reach < 0:
            raise ValueError(f"DEMGroundRates: expected bins >= 1 and reach >= 0 (got {bins}, {reach})")
        self.bins, self.reach = int(bins), int(reach)
        self.hits = torch.zeros(bins, 2 * reach + 1, dtype=torch.float64)  # occupied (bin, dz), all columns
        self.columns = torch.zeros(bins, dtype=torch.float64)
        self.covered_hits = torch.zeros_like(self.hits)  # the same among columns whose target has ground
        self.covered_columns = torch.zeros_like(self.columns)

    def _split(self, heights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(floor level long, fraction bin long, has-a-height bool), each (B, Y, X)."""
        valid = torch.isfinite(heights)
        h = torch.where(valid, heights, torch.zeros_like(heights)).double()
        base = torch.floor(h)
        frac_bin = ((h - base) * self.bins).long().clamp(0, self.bins - 1)
        return base.long(), frac_bin, valid

    def _at(self, grid: torch.Tensor, levels: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """(B, Y, X) bool: ``grid`` (B, Z, Y, X) at each column's ``levels``, False outside the grid or ``valid``."""
        z = grid.shape[1]
        inside = valid & (levels >= 0) & (levels < z)
        picked = torch.gather(grid, 1, levels.clamp(0, z - 1).unsqueeze(1)).squeeze(1)
        return picked & inside

    def update(self, ground_target: torch.Tensor, heights: torch.Tensor) -> None:
        """``ground_target`` (B, Z, Y, X) bool: the target's occupied voxels in its ground region
        (``occkit.metrics.regions.ground_region``); ``heights`` (B, Y, X): the DEM's continuous level, NaN where
        a column has none."""
        if ground_target.ndim != 4 or heights.shape != ground_target.shape[:1] + ground_target.shape[2:]:
            raise ValueError(f"DEMGroundRates.update: expected ground_target (B, Z, Y, X) and heights (B, Y, X), "
                             f"got {tuple(ground_target.shape)} and {tuple(heights.shape)}")
        target = ground_target.bool().cpu()  # the counts live on the CPU, whatever device the grids are on
        base, frac_bin, valid = self._split(heights.cpu())
        covered = valid & target.any(dim=1)
        self.columns += torch.bincount(frac_bin[valid], minlength=self.bins).double()
        self.covered_columns += torch.bincount(frac_bin[covered], minlength=self.bins).double()
        for j, dz in enumerate(range(-self.reach, self.reach + 1)):
            hit = self._at(target, base + dz, valid)
            self.hits[:, j] += torch.bincount(frac_bin[hit], minlength=self.bins).double()
            self.covered_hits[:, j] += torch.bincount(frac_bin[hit & covered], minlength=self.bins).double()

    def rates(self, covered: bool = False) -> torch.Tensor:
        """(bins, 2 * reach + 1): the share of columns (with ground in the target, when ``covered``) whose level
        ``dz`` over the DEM's level is occupied, per fraction bin; 0 where a bin saw no column."""
        hits, columns = (self.covered_hits, self.covered_columns) if covered else (self.hits, self.columns)
        return hits / columns.clamp_min(1.0).unsqueeze(1)

    def predict(self, heights: torch.Tensor, num_levels: int, threshold: float = 0.5,
                covered: torch.Tensor | None = None) -> torch.Tensor:
        """(B, Z, Y, X) bool: the levels whose rate is at least ``threshold`` in every column with a height; with
        ``covered`` (B, Y, X) bool, the columns whose target has ground, the oracle: rates among such columns,
        and nothing elsewhere."""
        base, frac_bin, valid = self._split(heights)
        if covered is not None:
            valid = valid & covered.bool()
        rates = self.rates(covered is not None).to(heights.device)
        b, y, x = heights.shape
        out = torch.zeros(b, num_levels, y, x, dtype=torch.bool, device=heights.device)
        for j, dz in enumerate(range(-self.reach, self.reach + 1)):
            levels = base + dz
            on = valid & (rates[frac_bin, j] >= threshold) & (levels >= 0) & (levels < num_levels)
            bi, yi, xi = torch.nonzero(on, as_tuple=True)
            out[bi, levels[bi, yi, xi], yi, xi] = True
        return out


def needed_above_iou(ground_tp: int, ground_union: int, above_targets: int, overall: float) -> float:
    """The above-ground IoU that lifts the overall IoU to ``overall`` beside a ground with ``ground_tp`` /
    ``ground_union``, for a predictor that marks as many voxels above the ground as the target has there
    (``above_targets``; then its union there is ``2 A / (1 + a)``). NaN when no IoU in [0, 1] reaches it."""
    g_i, g_u, a, t = float(ground_tp), float(ground_union), float(above_targets), float(overall)
    denominator = g_i + 2 * a - t * g_u
    if denominator <= 0:
        return float("nan")
    needed = (t * g_u + 2 * t * a - g_i) / denominator
    return max(needed, 0.0) if needed <= 1.0 else float("nan")
