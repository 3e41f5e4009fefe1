"""The built-in synthetic world as a Source: frames generated on demand, no download.

Each split draws its scenes from its own derived seed (no scene is shared between train and val),
and frame ``i`` is a pure function of (config, split, i), so caches keyed by ``fingerprint()`` stay valid.
"""

from __future__ import annotations

import hashlib
import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from occkit.errors import ConfigError
from occkit.frame import Frame
from occkit.geometry.grid import GridSpec
from occkit.synthetic.monodepth import DepthNoiseConfig
from occkit.synthetic.sensors import CameraConfig, LidarConfig

GENERATOR_VERSION = 2  # bump when generated frames change, so caches are invalidated


class SyntheticSourceConfig(BaseModel):
    """Which synthetic world to generate and how its sensors behave."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["synthetic"] = "synthetic"
    preset: Literal["uav_town", "uav_valley", "street"] = "uav_town"
    seed: int = 0
    train_frames: int = Field(32, ge=0)
    val_frames: int = Field(8, ge=0)
    test_frames: int = Field(8, ge=0)
    frames_per_scene: int = Field(16, ge=1, description="consecutive frames along one trajectory in one scene")
    accumulate_poses: int = Field(5, ge=1, description="LiDAR sweeps (this one included) merged into the target")
    accumulate_dt: float = Field(4.0, gt=0, description="trajectory time between accumulated sweeps")
    accumulate_pose_noise_m: float = Field(
        0.0, ge=0, description="registration error of each accumulated sweep: translation sigma (m) per axis, as "
                               "real pose estimates leave it (0 = perfect poses)")
    accumulate_pose_noise_deg: float = Field(0.0, ge=0, description="the same as a rotation sigma (degrees)")
    accumulation_seed: int = Field(
        0, ge=0, description="redraws the accumulated sweeps (scan pattern phase, range noise, registration noise) "
                             "of the same scenes and poses: two seeds give two realizations of one target, whose "
                             "agreement is the ceiling any predictor can reach (benchmarks/quality.py)")
    accumulate_region: tuple[float, float, float, float, float, float] | None = Field(
        None, description="(x_min, y_min, z_min, x_max, y_max, z_max) in each frame's ego frame, e.g. the target "
                          "grid's pc_range: the accumulated sweeps cast only the rays that cross this box (grown by "
                          "2 m for the registration noise), since no point outside it reaches the target (the main "
                          "job's 25-sweep frames: 1.50x faster, benchmarks/synth.py; more where the grid is a "
                          "smaller part of the sweep). The frame's own sweep stays whole. Rays that pass over every "
                          "surface in the box are not cast either, so the LiDAR visibility mask's free space above "
                          "the scene then comes from the frame's own sweep only. None = whole sweeps")
    camera_views: int = Field(
        1, ge=1, description="camera images merged into each frame's pseudo points: this frame's and its neighbours' "
                             "along the trajectory, accumulate_dt apart and centred on it like the LiDAR sweeps, as "
                             "multi-view depth (Depth Anything 3 run on a set of images) gives them: one scale and "
                             "shift for all views, each view its own noise. Frame.pseudo_origins says which camera "
                             "saw each point. 1 = the frame's own image")
    render_camera: bool = Field(
        True, description="render the camera (image, depth, semantics) and the monocular-depth stand-in with its "
                          "pseudo points; False for LiDAR-only configs saves about a sixth of a frame's generation "
                          "(the LiDAR and the target are the same; only the frame's timestamp jitter differs)")
    dem_noise_m: float = Field(
        0.1, ge=0, description="each frame's meta 'ground_dem' is the terrain (bare ground) around the drone as an "
                               "elevation model gives it, 150 m each way at 2.5 m cells, world frame: "
                               "data.input.pseudo_ground_z='dem' fixes the pseudo-LiDAR's scale against it. This "
                               "is the DEM's vertical error (sigma, m), one offset per frame")
    ship_target: Literal["none", "lidar", "solid"] = Field(
        "none", description="also ship a target grid in frame.target (Occ3D ids, 17 = free) with LiDAR and camera "
        "masks: 'lidar' = accumulated LiDAR (what Occ3D does), 'solid' = exact primitives. Costs ~1 s/frame")
    target_grid: str = Field("auto", description="GridSpec preset of the shipped target; auto = uav (UAV presets) "
                             "or occ3d_nuscenes (street)")
    lidar: LidarConfig = Field(default_factory=LidarConfig)
    camera: CameraConfig = Field(default_factory=CameraConfig)
    depth_noise: DepthNoiseConfig = Field(default_factory=DepthNoiseConfig)

    @field_validator("target_grid")
    @classmethod
    def _known_grid(cls, v: str) -> str:
        if v != "auto" and v not in GridSpec.PRESETS:
            raise ValueError(f"target_grid must be 'auto' or a GridSpec preset {sorted(GridSpec.PRESETS)}, got {v!r}")
        return v

    @model_validator(mode="after")
    def _shipped_masks_need_the_camera(self) -> SyntheticSourceConfig:
        if self.ship_target != "none" and not self.render_camera:
            raise ValueError("ship_target ships a camera visibility mask: it needs render_camera=True")
        if self.camera_views > 1 and not self.render_camera:
            raise ValueError("camera_views merges camera images: it needs render_camera=True")
        return self

    @field_validator("accumulate_region")
    @classmethod
    def _ordered_region(cls, v: tuple[float, ...] | None) -> tuple[float, ...] | None:
        if v is not None and not all(v[i] < v[i + 3] for i in range(3)):
            raise ValueError(f"expected (x_min, y_min, z_min, x_max, y_max, z_max) with each min below its max "
                             f"(got {v})")
        return v

    def target_spec(self) -> GridSpec:
        name = self.target_grid if self.target_grid != "auto" else ("occ3d_nuscenes" if self.preset == "street"
                                                                      else "uav")
        return GridSpec.preset(name)

    def num_frames(self, split: str) -> int:
        if split not in ("train", "val", "test"):
            raise ConfigError(f"synthetic source: split must be train, val or test, got {split!r}")
        return int(getattr(self, f"{split}_frames"))

    def build(self, split: str = "train") -> SyntheticSource:
        """Return a Source of Frames for split (train/val/test)."""
        return SyntheticSource(self, split)


class SyntheticSource:
    """Frames of one split of the synthetic world."""

    def __init__(self, cfg: SyntheticSourceConfig, split: str) -> None:
        self.cfg, self.split = cfg, split
        self._n = cfg.num_frames(split)

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, index: int) -> Frame:
        sample = self.sample(index)
        frame = sample.to_frame()
        if self.cfg.ship_target != "none":
            from occkit.synthetic.world import attach_target

            attach_target(frame, sample, self.cfg)
        return frame

    def sample(self, index: int):
        """The full SyntheticSample (writers need intensity, ring and target labels)."""
        from occkit.synthetic.world import generate_sample

        if not -self._n <= index < self._n:
            raise IndexError(f"synthetic {self.split} split has {self._n} frames, index {index} is out of range")
        return generate_sample(self.cfg, self.split, index % self._n)

    @property
    def frame_ids(self) -> list[str]:
        from occkit.synthetic.world import frame_id

        return [frame_id(self.cfg, self.split, i) for i in range(self._n)]

    def fingerprint(self) -> str:
        from occkit.utils.keys import dump_without_unset

        # a setting left at its default stays out, so caches made before it existed keep their fingerprint
        config = dump_without_unset(self.cfg, {"accumulate_region", "render_camera", "dem_noise_m", "camera_views"})
        config["depth_noise"] = self.cfg.depth_noise.key_dump()
        payload = {"config": config, "split": self.split, "version": GENERATOR_VERSION}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]
