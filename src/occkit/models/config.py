"""BEV height U-Net settings, and the optional depth network in front of it (``model.depth``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class DepthNetConfig(BaseModel):
    """A depth network trained in the same graph as the occupancy network (``occkit.models.depth_occupancy``).

    Needs ``data.input.camera``. Its parameters are named ``depth.*`` and the occupancy network's
    ``refinement.*``: ``optim.custom_keys={"refinement": {"lr_mult": 10}}`` gives the occupancy network ten
    times the depth network's learning rate.
    """

    model_config = ConfigDict(extra="forbid")
    kind: Literal["cnn", "da3"] = Field("cnn", description="cnn: occkit's small depth CNN (occkit.models.depth_cnn); "
                                                           "da3: Depth Anything 3 built from its package config")
    weights: str | None = Field(None, description="cnn: a state-dict file (.pt, read weights-only); da3: a local "
                                                  "weights folder; None = random initialisation")
    da3_config: str = Field("da3-small", description="da3: the package config the network is built from")
    channels: list[int] = Field(default_factory=lambda: [16, 32, 64, 96], min_length=2,
                                description="cnn: channels per encoder level (each level halves the image)")
    freeze: bool | list[str] = Field(False, description="True = a frozen depth network; a list of parameter-name "
                                                        "prefixes freezes those parts (e.g. ['net.backbone.'])")
    frozen_steps: int = Field(0, ge=0, description="keep the depth network still for the first N optimizer steps: "
                                                   "until the occupancy network has learnt something, its gradient "
                                                   "would only push a pre-trained depth network off course")
    splat: Literal["trilinear", "hard"] = Field("trilinear", description="trilinear: gradients reach the depth "
                                                                          "(occkit.depth.soft_splat)")
    prior: Literal["none", "ground_plane"] = Field(
        "none", description="ground_plane: the network predicts depth relative to where each pixel's ray meets the "
                            "plane z = data.input.pseudo_ground_z (occkit.depth.plane_prior): the camera's known "
                            "height gives the scale; none: the network's output is the depth")
    ground_align: bool = Field(True, description="rescale the points along their rays so that their dominant "
                                                 "ground lands at data.input.pseudo_ground_z (the scale is a "
                                                 "constant of the step; the gradient still reaches the depth)")
    depth_loss_weight: float = Field(
        0.0, ge=0, description="also train the depth network on the samples' true depth (depth_gt: rendered, or "
                               "LiDAR projected into the image) with the scale-invariant log loss, at this weight "
                               "beside the occupancy loss: the supervision it was pre-trained with keeps its "
                               "geometry while the occupancy loss fine-tunes it; 0 = occupancy loss only")
    occupancy_grad: bool = Field(True, description="False: the occupancy loss does not reach the depth network (it "
                                                   "then learns from depth_loss_weight alone): the ablation that "
                                                   "tells the two training signals apart")
    max_depth: float = Field(400.0, gt=0, description="depth beyond this (m) is dropped before unprojection")


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
    skip_shared_span: list[Annotated[int, Field(ge=1)]] = Field(
        default_factory=list, description="input_skip: the shared filter also reads, per level, whether the level lies "
                                          "between the lowest and the highest input hit of the k x k columns around, "
                                          "one map per k listed (odd), and whether it lies under its own column's "
                                          "highest hit: where a wall between a roof edge and the ground beside it "
                                          "can be; [] = off")
    skip_shared_span_graded: int = Field(
        0, ge=0, description="input_skip, with skip_shared_span: two more maps per level, how many levels (up to this "
                             "many, scaled to 0..1) it lies under its column's top and over the lowest hit of the "
                             "first span window: how deep into a canopy, how high up a wall; 0 = off")
    skip_shared_dilations: list[Annotated[int, Field(ge=1)]] = Field(
        default_factory=list, description="input_skip: one more residual 3 x 3 layer of the shared filter per entry, "
                                          "with that dilation: it sees further along each level; [] = none")
    skip_shared_band: int | None = Field(
        None, ge=0, description="input_skip: the shared filter runs only on the levels from this many below a "
                                "sample's lowest input hit to this many above its highest, and adds nothing "
                                "elsewhere (the U-Net's logits still cover every level): most of a grid's levels "
                                "are empty air or solid ground, and the filter is most of the step's cost; "
                                "None = every level")
    skip_occupied_prob: float = Field(0.95, gt=0, lt=1,
                                      description="input_skip: the step-0 probability of a voxel that holds input")
    depth: DepthNetConfig | None = Field(
        None, description="a depth network in front of the U-Net: images -> depth -> soft splat -> occupancy "
                          "(needs data.input.camera); None = the U-Net reads the voxelized input")

    @model_validator(mode="after")
    def _graded_needs_spans(self) -> ModelConfig:
        if self.skip_shared_span_graded and not self.skip_shared_span:
            raise ValueError("skip_shared_span_graded grades the span maps: set skip_shared_span too (e.g. [3])")
        return self
