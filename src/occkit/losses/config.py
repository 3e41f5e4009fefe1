"""OccupancyLoss settings. All terms read logits."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

TermKind = Literal["bce", "focal", "dice", "mean"]


class LossTerm(BaseModel):
    """One weighted term of a composed loss: ``{"kind": "bce", "pos_weight": 10}``, ``{"kind": "dice",
    "weight": 0.5}``, ``{"kind": "mean", "weight": 10}``. Unset constants take the LossConfig's values."""

    model_config = ConfigDict(extra="forbid")
    kind: TermKind
    weight: float = Field(1.0, ge=0)
    pos_weight: float | None = Field(None, gt=0, description="bce: weight of the occupied term (None = 1)")
    alpha: float | None = Field(None, ge=0, le=1, description="focal: weight of positives")
    gamma: float | None = Field(None, ge=0, description="focal: focusing exponent")
    smooth: float | None = Field(None, ge=0, description="dice: smoothing")

    @property
    def log_name(self) -> str:
        return "weighted_bce" if self.kind == "bce" and self.pos_weight not in (None, 1.0) else self.kind


class LossConfig(BaseModel):
    """``kind`` names a preset; ``terms`` (when given) spells the loss out term by term and replaces it, so
    any mix users run (weighted BCE + dice + mean matching, ...) can be reproduced exactly."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["bce", "weighted_bce", "focal", "dice", "bce_dice", "focal_dice"] = "focal_dice"
    terms: list[LossTerm] | None = Field(None, min_length=1, description="explicit terms; replace kind and the "
                                         "preset's weights (mean_weight, dice_weight) when given")
    pos_weight: float = Field(10.0, gt=0, description="weighted_bce: weight of the occupied term")
    focal_alpha: float = Field(0.99, ge=0, le=1, description="focal: weight of positives (1-alpha for negatives)")
    focal_gamma: float = Field(2.0, ge=0)
    dice_weight: float = Field(1.0, ge=0, description="weight of the dice term in bce_dice / focal_dice")
    dice_smooth: float = Field(1.0, ge=0, description="dice smoothing added to numerator and denominator")
    mean_weight: float = Field(10.0, ge=0, description="weight of (mean prob - mean target)^2; 0 disables it")
    height_weights: list[float] | None = Field(None, description="one non-negative weight per height level (Z)")
    above_ground_dice_weight: float = Field(
        0.0, ge=0, description="one more soft dice over the voxels above the ground band of the target (walls, roofs, "
                               "trees): the dice over the whole grid is mostly ground, so the rare structure above it "
                               "gets its own term; 0 = off")
    above_ground_window_m: float = Field(15.0, gt=0, description="above_ground_dice: opening window of the ground "
                                                                   "filter (m; occkit.metrics.regions): wider than "
                                                                   "the widest roof, narrower than a training crop")
    above_ground_band_m: float = Field(1.5, ge=0, description="above_ground_dice: how far over the ground (m) a voxel "
                                                               "still counts as ground")
    check_inputs: bool = Field(True, description="validate shapes and target range each call (one host sync)")
    fused: bool = Field(True, description="one custom autograd pass (occkit.losses.fused) instead of autograd "
                                          "through the composed terms: same values and gradients, a fraction of "
                                          "the time and memory")


def preset_terms(cfg: LossConfig) -> list[LossTerm]:
    """The terms a config means: ``cfg.terms``, else its ``kind`` preset with its weights."""
    if cfg.terms is not None:
        return list(cfg.terms)
    voxel = {"bce": LossTerm(kind="bce"), "weighted_bce": LossTerm(kind="bce", pos_weight=cfg.pos_weight),
             "focal": LossTerm(kind="focal"), "focal_dice": LossTerm(kind="focal"),
             "bce_dice": LossTerm(kind="bce")}.get(cfg.kind)
    terms = [voxel] if voxel is not None else []
    if cfg.kind in ("dice", "bce_dice", "focal_dice"):
        terms.append(LossTerm(kind="dice", weight=1.0 if cfg.kind == "dice" else cfg.dice_weight))
    if cfg.mean_weight > 0:
        terms.append(LossTerm(kind="mean", weight=cfg.mean_weight))
    return terms


def describe_terms(cfg: LossConfig) -> str:
    """``bce(pos_weight=10) + 0.5 dice + 10 mean``: the loss as one line, for consoles and reports."""
    parts = []
    for t in preset_terms(cfg):
        extra = ", ".join(f"{k}={v:g}" for k, v in (("pos_weight", t.pos_weight), ("alpha", t.alpha),
                                                     ("gamma", t.gamma), ("smooth", t.smooth)) if v is not None)
        head = "" if t.weight == 1.0 else f"{t.weight:g} "
        parts.append(f"{head}{t.kind}" + (f"({extra})" if extra else ""))
    return " + ".join(parts)
