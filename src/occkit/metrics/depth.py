"""The monocular-depth field's error figures (Eigen et al. 2014), over the pixels with a true depth.

They say whether fine-tuning a depth network through the occupancy loss also made its depth better, or only
moved points where the occupancy network wanted them.
"""

from __future__ import annotations

import torch


def depth_errors(pred: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """``abs_rel`` (mean |d - d*| / d*), ``rmse`` (m) and ``delta1`` (share with max(d/d*, d*/d) < 1.25) of a
    predicted depth against the true depth, both (..., H, W) in metres; pixels with no true depth (<= 0) or no
    prediction are left out. NaN when no pixel counts."""
    pred, target = pred.detach().float(), target.detach().float().to(pred.device)
    if pred.shape != target.shape:
        raise ValueError(f"depth_errors: prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ")
    valid = (target > 0) & torch.isfinite(target) & (pred > 0) & torch.isfinite(pred)
    if not bool(valid.any()):
        nan = float("nan")
        return {"abs_rel": nan, "rmse": nan, "delta1": nan}
    d, t = pred[valid], target[valid]
    ratio = torch.maximum(d / t, t / d)
    return {"abs_rel": float(((d - t).abs() / t).mean()), "rmse": float((d - t).pow(2).mean().sqrt()),
            "delta1": float((ratio < 1.25).float().mean())}
