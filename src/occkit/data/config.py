"""How frames become (input, target, mask) grids, and how batches are drawn."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from occkit.depth.unproject import DEFAULT_CONF_PERCENTILE
from occkit.geometry.grid import GridSpec
from occkit.sources.config import SourceConfig, SyntheticSourceConfig

# input features that are > 0 exactly where a voxel holds a point: the input occupancy the copy path and the
# baselines read (occkit.data.grids.input_occupancy)
OCCUPANCY_FEATURES = ("occupancy", "soft", "count")


class CameraInputConfig(BaseModel):
    """Camera images in every sample, for a model that predicts depth itself (``model.depth``)."""

    model_config = ConfigDict(extra="forbid")
    scale: float = Field(0.5, gt=0, le=1, description="image resize factor (the intrinsics are scaled with it)")
    name: str | None = Field(None, description="which camera of the frame; None = its first")


class InputConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    points: Literal["lidar", "pseudo"] = "lidar"
    features: list[Literal["occupancy", "soft", "count", "mean_height", "max_height", "offset_x", "offset_y",
                           "free", "dem_ground", "surface"]] = Field(
        default_factory=lambda: ["soft"],
        description="per-voxel input channels; free: 1 where a ray from the sensor (the camera, for pseudo points) "
                    "to an input point crossed the voxel without ending there: observed empty, which tells the "
                    "network where the sweep saw through and where it could not see (under roofs and canopies); "
                    "offset_x, offset_y (together): where the points sit inside the voxel in plan, which side of "
                    "a roof edge's voxel the wall under it is on; dem_ground: the frame's elevation model (meta "
                    "'ground_dem') as a tent over the two levels around the ground under each column, where the "
                    "ground is when the points smear it over several levels (occkit.data.elevation); surface: the "
                    "raised points' median height pooled over a window of columns, as a tent over the two levels "
                    "around it, where a roof is when one column's points smear it (occkit.data.surface)")
    pseudo_ground_align: bool = Field(
        False, description="pseudo input: rescale the points along their camera rays so that their dominant ground "
                           "lands at pseudo_ground_z in the grid frame (a known camera height fixes monocular "
                           "depth's per-image scale error; occkit.depth.scale_align)")
    pseudo_ground_z: float | Literal["dem"] = Field(
        0.0, description="where pseudo_ground_align puts the ground: a height in the grid frame (m; 0 = the datum "
                         "of the ego frame, for flat ground there), or 'dem' = each frame's elevation model (meta "
                         "'ground_dem', world frame; the synthetic source provides it) for terrain that rises and "
                         "falls around the datum")
    free_margin: float = Field(
        1.0, ge=0, description="free feature: rays stop this far (m) short of their point; range and pose noise put "
                               "the accumulated surfaces a voxel or two either side of one sweep's hit (the main "
                               "job's targets: 28 % of occupied voxels crossed with no margin, 5 % with 1 m)")
    surface_margin: float = Field(
        4.0, gt=0, description="surface feature: points more than this (m) above the ground are raised; the ground's "
                               "own points smear 1-2 m above it from 50-130 m up")
    surface_window: float = Field(
        10.0, gt=0, description="surface feature: the square (m) of columns whose raised points are pooled; wide "
                               "enough to average a roof's many depth errors, narrower than a roof")
    soft_lambda: float = Field(0.3, gt=0)
    soft_gamma: float = Field(5.0, ge=0)
    camera: CameraInputConfig | None = Field(
        None, description="also give each sample the camera image (3, H, W), its intrinsics K at that size, "
                          "T_grid_cam and the true depth when the source has it: the input of a model with its "
                          "own depth network (model.depth); the voxel input above is still built")

    @field_validator("features")
    @classmethod
    def _offsets_together(cls, v: list[str]) -> list[str]:
        if ("offset_x" in v) != ("offset_y" in v):
            raise ValueError("offset_x and offset_y go together: a quarter turn of the grid (data.augment.rotate90) "
                             f"turns one into the other (got {v})")
        return v


class TargetConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["hard", "soft"] = "hard"
    use_visibility_mask: bool = False
    # where the mask comes from when use_visibility_mask is on: "auto" = the shipped grid's camera mask,
    # else its LiDAR mask, else ray casting from the sensor (occkit.geometry.visibility)
    mask_source: Literal["auto", "camera", "lidar", "raycast"] = "auto"


class AugmentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    flip: bool = True
    rotate90: bool = True
    crop: tuple[int, int] | None = Field(
        None, description="train on a random window of (x, y) cells of each grid (all height levels kept); "
                          "the network is convolutional, so it still validates and predicts on whole grids. A "
                          "window a quarter of the grid costs a quarter of the compute: four times the steps for "
                          "the same time, and samples that vary more. None = whole grids")

    @field_validator("crop")
    @classmethod
    def _positive_crop(cls, v: tuple[int, int] | None) -> tuple[int, int] | None:
        if v is not None and min(v) < 1:
            raise ValueError(f"expected two positive cell counts (x, y) (got {v})")
        return v


class DepthModelConfig(BaseModel):
    """Monocular depth for ``input.points = "pseudo"`` when frames carry images but no depth or pseudo points."""

    model_config = ConfigDict(extra="forbid")
    model: str | None = Field(None, description="DA3 hub name, e.g. depth-anything/DA3METRIC-LARGE; None = off")
    weights: str | None = Field(None, description="local DA3 weights folder (wins over the hub name)")
    device: str | None = None
    cache_dir: str | None = Field(None, description="depth cache: run depth once per image, reuse it")
    conf_percentile: float | None = Field(DEFAULT_CONF_PERCENTILE, ge=0, le=100)
    max_range: float | None = Field(None, gt=0)


class DataConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: SourceConfig = Field(default_factory=SyntheticSourceConfig)
    grid: GridSpec = Field(default_factory=lambda: GridSpec.preset("uav"))
    input: InputConfig = Field(default_factory=InputConfig)
    target: TargetConfig = Field(default_factory=TargetConfig)
    augment: AugmentConfig = Field(default_factory=AugmentConfig)
    depth: DepthModelConfig = Field(default_factory=DepthModelConfig)
    ego_frame: bool = True
    # use the grid frame a source states in frame.meta["T_grid_sensor"] (Occ3D ego, SemanticKITTI velodyne)
    # instead of choosing one; a shipped target grid is only aligned in that frame
    use_dataset_grid_frame: bool = True
    fallback_to_lidar_center: bool = True
    min_in_range_ratio: float = Field(0.01, ge=0, le=1)
    batch_size: int = Field(2, ge=1)
    num_workers: int = Field(0, ge=0)
    cache_dir: str | None = None
    memory_cache_mb: int = Field(
        2048, ge=0, description="decompressed preprocessing-cache entries kept in memory per loader process, so "
                                "that later epochs read no file (0 = off); training waited for data 32 % of the "
                                "time without it on the refinement config")

    @property
    def in_channels(self) -> int:
        """Model input channels: height levels x features."""
        return self.grid.shape[2] * len(self.input.features)
