"""Thresholds of the live health monitor and its guard."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class HealthConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    every_n_steps: int = Field(100, ge=1)
    guard: Literal["warn", "stop"] = "warn"
    collapse_ratio: float = Field(0.1, gt=0, lt=1)
    collapse_max_below: float = Field(0.5, gt=0, le=1)
    collapse_patience: int = Field(3, ge=1)
    plateau_window: int = Field(300, ge=2)
    plateau_min_rel_improvement: float = Field(0.02, ge=0)
    clip_fraction_threshold: float = Field(0.8, gt=0, le=1)
    tiny_lr: float = Field(1e-6, gt=0)
    nonfinite_patience: int = Field(5, ge=1)
    empty_target_rate: float = Field(1e-5, ge=0)
