"""Evaluation settings."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class EvalConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    threshold: float = Field(0.5, gt=0, lt=1)
    sweep_thresholds: list[float] = Field(default_factory=lambda: [round(0.05 * i, 2) for i in range(1, 20)])
    use_visibility_mask: bool = False
    ray_iou: bool = True
    refine_threshold: float = Field(0.5, gt=0, lt=1)
