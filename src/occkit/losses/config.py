"""OccupancyLoss settings. All terms read logits."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class LossConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["bce", "weighted_bce", "focal", "dice", "bce_dice", "focal_dice"] = "focal_dice"
    pos_weight: float = Field(10.0, gt=0)
    focal_alpha: float = Field(0.99, ge=0, le=1)
    focal_gamma: float = Field(2.0, ge=0)
    dice_weight: float = Field(1.0, ge=0)
    mean_weight: float = Field(10.0, ge=0)
    height_weights: list[float] | None = None
