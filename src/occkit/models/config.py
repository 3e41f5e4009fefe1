"""BEV height U-Net settings."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ModelConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = "bev_height_unet"
    unet_channels: list[int] = Field(default_factory=lambda: [64, 128, 256, 512])
    residual: bool = True
    attention: bool = False
    dropout: float = Field(0.0, ge=0, lt=1)
    prior_occupancy: float | None = Field(0.0083, gt=0, lt=1,
                                          description="expected occupied fraction; sets the head bias")
