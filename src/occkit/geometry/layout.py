"""The one function pair that converts between grid order [x, y, z] and model order (Z, Y, X), and where one
feature's levels sit among the model's input channels.

Nothing else in occkit permutes spatial axes. The functions accept numpy arrays or torch tensors
with any number of leading dims (batch, features).
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np

ArrayT = TypeVar("ArrayT")


def grid_to_channels(grid: ArrayT) -> ArrayT:
    """[..., X, Y, Z] grid -> [..., Z, Y, X] model layout (height levels become channels)."""
    nd = grid.ndim  # type: ignore[attr-defined]
    if nd < 3:
        raise ValueError(f"grid_to_channels needs at least 3 dims [..., X, Y, Z], got {nd}")
    order = (*range(nd - 3), nd - 1, nd - 2, nd - 3)
    if isinstance(grid, np.ndarray):
        return np.ascontiguousarray(grid.transpose(order))  # type: ignore[return-value]
    return grid.permute(*order).contiguous()  # type: ignore[attr-defined]


def channels_to_grid(tensor: ArrayT) -> ArrayT:
    """[..., Z, Y, X] model layout -> [..., X, Y, Z] grid order. Inverse of grid_to_channels."""
    return grid_to_channels(tensor)  # reversing the last three axes is its own inverse


def feature_levels(inputs: ArrayT, index: int, num_levels: int) -> ArrayT:
    """Feature ``index``'s (..., Z, Y, X) levels of model-layout inputs (..., F*Z, Y, X), stacked feature-major
    (channel = f*Z + z)."""
    return inputs[..., index * num_levels:(index + 1) * num_levels, :, :]  # type: ignore[index]
