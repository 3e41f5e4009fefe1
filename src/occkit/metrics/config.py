"""Evaluation settings."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# Every 0.05 from 0.05 to 0.95, and both tails on a finer, roughly logit-even scale: a network trained with a
# heavy weight on the rare occupied voxels runs its probabilities high (focal alpha 0.99 weighs an occupied voxel 99
# times an empty one, which moves a voxel the data calls even odds towards 0.99), and its best threshold lies above
# 0.95, where a sweep that stops there can only choose its edge.
DEFAULT_SWEEP = [0.001, 0.005, 0.01, 0.02, 0.03, *(round(0.05 * i, 2) for i in range(1, 20)),
                 0.97, 0.98, 0.99, 0.995, 0.999]


class EvalConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    threshold: float = Field(0.5, gt=0, lt=1)
    sweep_thresholds: list[float] = Field(default_factory=lambda: list(DEFAULT_SWEEP))
    use_visibility_mask: bool = False
    ray_iou: bool = True
    refine_threshold: float = Field(0.5, gt=0, lt=1)
    select_threshold_on: str | None = Field(
        None, description="occkit run: after training, set threshold and refine_threshold to the best-IoU threshold "
                          "of the sweep on this split (e.g. 'test': held-out scenes that are never reported), so the "
                          "reported split is not used to choose it; None keeps threshold as set")
    select_checkpoint: bool = Field(
        False, description="occkit run: also choose the checkpoint on select_threshold_on, among the ones saved on a "
                           "schedule (checkpoints/epoch=NNN.ckpt and last.ckpt), by the best IoU of each one's sweep; "
                           "False reports last.ckpt")
    # RayIoU: sensor positions (m, grid frame; None = the grid frame's origin when the box holds it, else the box
    # centre), rays per ring, ring elevations (None = SparseOcc's nuScenes LiDAR pitches, about -45..+12 deg; a UAV
    # looking down wants e.g. [-85, -70, ..., -10]), depth thresholds (m), farthest hit counted (m).
    ray_origins: list[tuple[float, float, float]] | None = None
    ray_num_azimuth: int = Field(360, gt=0)
    ray_elevations_deg: list[float] | None = None
    ray_depth_thresholds: list[float] = Field(default_factory=lambda: [1.0, 2.0, 4.0])
    ray_max_range: float | None = Field(None, gt=0)
    # RayIoU origins per frame: the frame's sensor and up to this many neighbouring sensor positions (grid frame),
    # as SparseOcc casts from the LiDAR origins of neighbouring frames; used where a sample carries them
    ray_max_origins: int = Field(8, ge=1)
    # ground vs above ground (occkit.metrics.regions): opening window of the ground filter and the band over it
    ground_window_m: float = Field(30.0, gt=0, description="wider than the widest roof the ground filter removes")
    ground_band_m: float = Field(1.5, ge=0, description="voxels up to this far above the ground count as ground")
    height_bin_m: float = Field(25.0, gt=0, description="the model beside the baselines by the sensor's height over "
                                                       "the ground, in bands this wide (m; frames with sensor "
                                                       "positions; occkit.metrics.by_height)")

    @field_validator("sweep_thresholds")
    @classmethod
    def _probabilities(cls, v: list[float]) -> list[float]:
        if not v or any(not 0 < t < 1 for t in v):
            raise ValueError(f"expected a non-empty list of thresholds strictly between 0 and 1, got {v}")
        return v

    @field_validator("ray_depth_thresholds")
    @classmethod
    def _positive(cls, v: list[float]) -> list[float]:
        if not v or any(t <= 0 for t in v):
            raise ValueError(f"expected a non-empty list of positive distances in metres, got {v}")
        return v

    @field_validator("ray_elevations_deg")
    @classmethod
    def _angles(cls, v: list[float] | None) -> list[float] | None:
        if v is not None and (not v or any(abs(a) > 90 for a in v)):
            raise ValueError(f"expected elevation angles in [-90, 90] degrees, got {v}")
        return v

    @model_validator(mode="after")
    def _checkpoint_needs_a_split(self) -> EvalConfig:
        if self.select_checkpoint and not self.select_threshold_on:
            raise ValueError("select_checkpoint: needs select_threshold_on, the split the checkpoint is chosen on "
                             "(e.g. 'test'), never the reported one")
        return self
