"""BEV height U-Net settings."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ModelConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Literal["bev_height_unet"] = "bev_height_unet"
    unet_channels: list[int] = Field(default_factory=lambda: [64, 128, 256, 512], min_length=1,
                                     description="channels per U-Net level; len-1 = number of 2x downsamplings")
    residual: bool = True
    attention: bool = False
    dropout: float = Field(0.0, ge=0, lt=1)
    norm: Literal["group", "batch"] = Field("group", description="GroupNorm works at batch 1; BatchNorm needs batches")
    norm_groups: int = Field(8, ge=1, description="GroupNorm groups (reduced to a divisor of the channel count)")
    prior_occupancy: float | None = Field(0.0083, gt=0, lt=1,
                                          description="expected occupied fraction; sets the head bias")
