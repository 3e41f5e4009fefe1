"""OccupancyLoss settings. All terms read logits."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class LossConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["bce", "weighted_bce", "focal", "dice", "bce_dice", "focal_dice"] = "focal_dice"
    pos_weight: float = Field(10.0, gt=0, description="weighted_bce: weight of the occupied term")
    focal_alpha: float = Field(0.99, ge=0, le=1, description="focal: weight of positives (1-alpha for negatives)")
    focal_gamma: float = Field(2.0, ge=0)
    dice_weight: float = Field(1.0, ge=0, description="weight of the dice term in bce_dice / focal_dice")
    dice_smooth: float = Field(1.0, ge=0, description="dice smoothing added to numerator and denominator")
    mean_weight: float = Field(10.0, ge=0, description="weight of (mean prob - mean target)^2; 0 disables it")
    height_weights: list[float] | None = Field(None, description="one non-negative weight per height level (Z)")
    check_inputs: bool = Field(True, description="validate shapes and target range each call (one host sync)")
    fused: bool = Field(True, description="one custom autograd pass (occkit.losses.fused) instead of autograd "
                                          "through the composed terms: same values and gradients, a fraction of "
                                          "the time and memory")
