"""Input checks shared by the metrics: shapes, layouts, label ranges. Errors name the argument."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from occkit.errors import ConfigError, GridMismatchError, OccKitError


class MetricInputError(OccKitError, ValueError):
    """A tensor handed to a metric has the wrong dtype or values."""


def as_tensor(x: object, what: str) -> torch.Tensor:
    """numpy arrays and tensors alike; the metric works on a detached tensor."""
    if isinstance(x, torch.Tensor):
        return x.detach()
    if isinstance(x, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(x))
    raise MetricInputError(f"{what}: expected a torch.Tensor or numpy array, got {type(x).__name__}")


def batched_zyx(x: torch.Tensor, what: str) -> torch.Tensor:
    """(Z, Y, X) -> (1, Z, Y, X); (B, Z, Y, X) unchanged; anything else is an error."""
    if x.ndim == 3:
        return x.unsqueeze(0)
    if x.ndim != 4:
        raise GridMismatchError(f"{what}: expected model layout (B, Z, Y, X) or (Z, Y, X), got shape "
                                f"{tuple(x.shape)}")
    return x


def same_shape(a: torch.Tensor, b: torch.Tensor, what_a: str, what_b: str) -> None:
    if a.shape != b.shape:
        raise GridMismatchError(f"{what_b} has shape {tuple(b.shape)} but {what_a} has shape {tuple(a.shape)}; "
                                "they must cover the same voxels")


def check_mask(mask: object, like: torch.Tensor, what_like: str) -> torch.Tensor | None:
    """None or a bool tensor of ``like``'s shape (True = evaluate this voxel)."""
    if mask is None:
        return None
    m = as_tensor(mask, "mask")
    if m.ndim == like.ndim - 1:
        m = m.unsqueeze(0)
    same_shape(like, m, what_like, "mask")
    if m.dtype != torch.bool:
        if m.is_floating_point() or m.is_complex():
            raise MetricInputError(f"mask: expected a bool (or 0/1 integer) tensor, got dtype {m.dtype}")
        m = m != 0
    return m.to(like.device)


def check_probability(value: float, field: str) -> float:
    v = float(value)
    if not (0.0 < v < 1.0) or math.isnan(v):
        raise ConfigError(f"{field}: expected a probability strictly between 0 and 1, got {value!r}")
    return v


def check_thresholds(values: Sequence[float], field: str) -> list[float]:
    out = sorted({check_probability(v, f"{field}[{i}]") for i, v in enumerate(values)})
    if not out:
        raise ConfigError(f"{field}: expected at least one threshold in (0, 1), got an empty list")
    return out


def check_labels(x: torch.Tensor, what: str, num_classes: int, ignore_index: int | None) -> None:
    """Integer labels in [0, num_classes) (or ignore_index)."""
    if x.is_floating_point() or x.dtype == torch.bool or x.is_complex():
        raise MetricInputError(f"{what}: expected integer class labels, got dtype {x.dtype}")
    if x.numel() == 0:
        return
    bad = (x < 0) | (x >= num_classes)
    if ignore_index is not None:
        bad &= x != ignore_index
    if bool(bad.any()):
        v = x[bad][0].item()
        allowed = f"[0, {num_classes - 1}]" + (f" or {ignore_index}" if ignore_index is not None else "")
        raise MetricInputError(f"{what}: label {v} is outside {allowed}")
