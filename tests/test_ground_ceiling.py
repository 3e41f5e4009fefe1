"""How far the ground can go from an elevation model: the DEM's continuous level read back from its tent, the
rates of occupied levels around it, and the predictors and oracle built on them (occkit.metrics.ground_ceiling)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from occkit.data.elevation import dem_heights, ground_tent
from occkit.geometry.grid import GridSpec
from occkit.metrics.ground_ceiling import DEMGroundRates, needed_above_iou

SPEC = GridSpec(pc_range=(-4.0, -4.0, -2.0, 4.0, 4.0, 2.0), voxel_size=(1.0, 1.0, 0.5))  # 8 x 8 x 8
Z = 8


def test_the_dem_level_is_read_back_from_its_tent() -> None:
    centres = SPEC.z_centers()  # -1.75, -1.25, ...
    heights = np.full((8, 8), np.nan)
    heights[0, 0] = centres[3]  # a level's centre: level 3.0
    heights[1, 0] = centres[3] + 0.35  # 0.7 of the way to the next centre: level 3.7
    heights[2, 2] = centres[6] + 0.1  # level 6.2
    model_layout = torch.from_numpy(ground_tent(heights, SPEC)).permute(2, 1, 0)[None]  # (1, Z, Y, X)
    inputs = torch.cat([torch.zeros_like(model_layout), model_layout], dim=1)  # features soft, dem_ground
    levels = dem_heights(inputs, ["soft", "dem_ground"], Z)
    assert levels.shape == (1, 8, 8)  # (B, Y, X)
    assert levels[0, 0, 0] == pytest.approx(3.0) and levels[0, 0, 1] == pytest.approx(3.7)
    assert levels[0, 2, 2] == pytest.approx(6.2)
    assert int(torch.isfinite(levels).sum()) == 3  # NaN where the DEM does not reach
    assert dem_heights(inputs, ["soft", "count"], Z) is None


def ground_scene(heights: torch.Tensor, covered: torch.Tensor) -> torch.Tensor:
    """(1, Z, Y, X) ground target: the level nearest each height, and both levels when it lies within 0.25 of
    the boundary between two; nothing where ``covered`` (a roof hides the ground)."""
    target = torch.zeros(1, Z, 8, 8, dtype=torch.bool)
    for y in range(8):
        for x in range(8):
            h = float(heights[0, y, x])
            if covered[0, y, x] or math.isnan(h):
                continue
            frac = h - math.floor(h)
            levels = [math.floor(h), math.floor(h) + 1] if abs(frac - 0.5) < 0.25 else [round(h)]
            for z in levels:
                target[0, z, y, x] = True
    return target


def test_rates_say_which_levels_the_ground_fills_by_the_dem_fraction() -> None:
    heights = torch.full((1, 8, 8), float("nan"))
    heights[0, :, :3] = 2.05  # near level 2's centre: level 2 only
    heights[0, :, 3:6] = 4.55  # near the boundary: levels 4 and 5
    heights[0, :, 6:] = 3.95  # near level 4's centre from below: level 4 only
    covered = torch.zeros(1, 8, 8, dtype=torch.bool)
    target = ground_scene(heights, covered)
    rates = DEMGroundRates()
    rates.update(target, heights)
    r = rates.rates()
    reach = rates.reach
    assert r[0, reach] == 1.0 and r[0].sum() == 1.0  # fraction 0.05: the DEM's own level
    assert r[5, reach] == 1.0 and r[5, reach + 1] == 1.0 and r[5].sum() == 2.0  # fraction 0.55: both
    assert r[9, reach + 1] == 1.0 and r[9].sum() == 1.0  # fraction 0.95: the level above the DEM's floor
    assert torch.equal(rates.predict(heights, Z), target)  # the rates give the target back
    assert not rates.predict(torch.full((1, 8, 8), float("nan")), Z).any()  # no DEM height, no ground


def test_the_oracle_knows_which_columns_have_ground_the_plain_predictor_does_not() -> None:
    heights = torch.full((1, 8, 8), 3.15)
    covered = torch.zeros(1, 8, 8, dtype=torch.bool)
    covered[0, :4] = True  # a roof over half the grid: no ground there in the target
    target = ground_scene(heights, covered)
    rates = DEMGroundRates()
    rates.update(target, heights)
    assert rates.rates()[1, rates.reach] == pytest.approx(0.5)  # half the columns have ground
    assert rates.rates(covered=True)[1, rates.reach] == 1.0  # every column that has ground has it there
    plain = rates.predict(heights, Z, threshold=0.5)
    assert int(plain.sum()) == 64 and torch.equal(plain & target, target)  # everywhere: half of it wrong
    assert not rates.predict(heights, Z, threshold=0.6).any()
    has_ground = target.any(dim=1)
    assert torch.equal(rates.predict(heights, Z, threshold=0.6, covered=has_ground), target)


def test_levels_outside_the_grid_are_left_out() -> None:
    heights = torch.full((1, 8, 8), 7.0)  # the top level: its neighbour above lies outside the grid
    target = torch.zeros(1, Z, 8, 8, dtype=torch.bool)
    target[0, 7] = True
    rates = DEMGroundRates()
    rates.update(target, heights)
    assert torch.equal(rates.predict(heights, Z), target)
    low = torch.full((1, 8, 8), -2.0)  # below the grid: nothing to predict, nothing counted
    rates.update(torch.zeros_like(target), low)
    assert not rates.predict(low, Z).any()


def test_shapes_that_do_not_fit_are_refused_in_one_line() -> None:
    rates = DEMGroundRates()
    with pytest.raises(ValueError, match=r"expected ground_target \(B, Z, Y, X\) and heights \(B, Y, X\)"):
        rates.update(torch.zeros(1, Z, 8, 8, dtype=torch.bool), torch.zeros(1, 8, 7))
    with pytest.raises(ValueError, match="bins >= 1"):
        DEMGroundRates(bins=0)


def test_the_above_ground_iou_a_target_needs() -> None:
    ground_tp, ground_union, above = 700, 1000, 300
    needed = needed_above_iou(ground_tp, ground_union, above, 0.7)
    union = 2 * above / (1 + needed)
    assert (ground_tp + needed * union) / (ground_union + union) == pytest.approx(0.7)
    assert needed == pytest.approx(0.7, abs=1e-9)  # the ground's own IoU needs the same above it
    assert 0.0 < needed_above_iou(ground_tp, ground_union, above, 0.5) < needed
    # 700 / (1000 + 2 * 300): a ground this good reaches 0.4 even beside an above-ground guess that is all wrong
    assert needed_above_iou(ground_tp, ground_union, above, 0.4) == 0.0
    assert math.isnan(needed_above_iou(ground_tp, ground_union, above, 0.99))  # out of reach
