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
    head: Literal["2d", "3d"] = Field(
        "2d", description="2d: a 1x1 conv from the full-resolution features to one logit per level; 3d: the "
                          "LMSCNet segmentation head, features reshaped back to height and refined by dilated 3D "
                          "convolutions at full resolution (shares weights across levels)")
    head3d_channels: int = Field(8, ge=1, description="3d head: channels per voxel")
    head3d_dilations: list[int] = Field(default_factory=lambda: [1, 2, 3], min_length=1,
                                        description="3d head: one residual 3x3x3 conv per dilation")
    input_skip: bool = Field(
        True, description="a 1x1 path from the input occupancy (first feature, > 0 = hit) straight to the logits, "
                          "initialised to copy it: step 0 scores the copy baseline and the U-Net learns the residual")
    skip_kernel: int = Field(3, ge=1, description="input_skip: plan kernel of the copy path (odd); 3 lets it learn "
                                                  "per-level hole filling from the neighbouring columns and levels")
    skip_shared_kernel: int = Field(
        5, ge=0, description="input_skip: plan kernel of a small filter shared by every level (0 = off), reading "
                             "levels z-1, z, z+1: hole filling learnt once for all heights, so rare roof levels "
                             "are completed like the ground")
    skip_shared_channels: int = Field(8, ge=1, description="input_skip: hidden channels of the shared filter")
    skip_shared_reach: int = Field(1, ge=1, description="input_skip: the shared filter reads levels z-reach..z+reach "
                                                        "(noisy pseudo-LiDAR spreads a surface over several levels)")
    skip_shared_context: int = Field(
        0, ge=0, description="input_skip: U-Net features lifted to each level (channels per level) that the shared "
                             "filter reads beside the occupancy (LMSCNet-style lift back to height); 0 = off")
    skip_occupied_prob: float = Field(0.95, gt=0, lt=1,
                                      description="input_skip: the step-0 probability of a voxel that holds input")
