"""Thresholds of the live health monitor and its guard (the doctor reuses them)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class HealthConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    every_n_steps: int = Field(100, ge=1, description="steps between health checks")
    guard: Literal["warn", "stop"] = "warn"
    # collapse: prediction mean far below the target rate and nothing predicted occupied
    collapse_ratio: float = Field(0.1, gt=0, lt=1)
    collapse_max_below: float = Field(0.5, gt=0, le=1)
    collapse_patience: int = Field(3, ge=1, description="consecutive checks before a mean far off the target "
                                                        "rate is reported")
    collapse_grace_steps: int = Field(50, ge=0, description="steps before 'nothing above 0.5' counts as a "
                                                             "collapse (reported at the first check past it)")
    overpredict_ratio: float = Field(3.0, gt=1, description="mean and share above 0.5 this many times the "
                                                            "target rate: degenerate over-prediction")
    zero_iou: float = Field(1e-3, ge=0, description="validation IoU below this counts as zero")
    # plateau: little relative improvement over a window while the loss is still near its start
    plateau_window: int = Field(300, ge=2, description="steps compared by the plateau detector")
    plateau_min_rel_improvement: float = Field(0.02, ge=0)
    plateau_max_total_improvement: float = Field(
        0.5, ge=0, le=1,
        description="a plateau is only a problem while the loss is less than this fraction below start",
    )
    # starved gradients
    clip_fraction_threshold: float = Field(0.8, gt=0, le=1)
    starved_patience: int = Field(2, ge=1)
    tiny_lr: float = Field(1e-6, gt=0)
    tiny_update_ratio: float = Field(1e-3, gt=0, description="|dw|/|w| per step (median over parameter groups) "
                                                             "below this learns too slowly (healthy: ~1e-3-1e-2)")
    vanishing_grad_norm: float = Field(1e-8, ge=0)
    # divergence: the loss climbs above the best it reached
    divergence_ratio: float = Field(1.5, gt=1, description="loss this many times its best (after warmup)")
    divergence_patience: int = Field(2, ge=1)
    saturation_ratio: float = Field(0.05, gt=0, lt=1, description="gradient norm this fraction of its first check, "
                                                                  "with updates still large: a saturated network")
    # non-finite values
    nonfinite_patience: int = Field(5, ge=1, description="non-finite steps before the run is declared broken")
    # data problems
    empty_target_rate: float = Field(1e-5, ge=0, description="a batch with fewer occupied voxels is 'empty'")
    empty_batch_fraction: float = Field(0.5, gt=0, le=1)
    min_input_target_overlap: float = Field(
        0.5, ge=0, le=1,
        description=("fraction of occupied target voxels within one voxel of an input voxel below which the GT looks "
                     "misaligned (well-aligned LiDAR runs sit near 1; lower it for noisy pseudo-LiDAR inputs)"),
    )
    misalignment_patience: int = Field(2, ge=1)
    min_offset_voxels: int = Field(1, ge=1, description="plan or height offset (voxels) that counts as a shift")
    min_offset_gain: float = Field(
        1.15, ge=1, description="the shifted correlation must beat the aligned one by this factor (raise it, e.g. "
                                "1.5, for blurry pseudo-LiDAR inputs)")
    near_zero_loss: float = Field(1e-3, ge=0, description="a loss this low is read as a sign of empty targets")
