"""Simulated sensors: a spinning multi-beam LiDAR, a Livox-Avia-like rosette scanner, a pinhole camera.

Ray patterns live in the sensor frame (LiDAR: x forward, z up; camera: OpenCV x right, y down,
z forward). Each sensor casts its rays from its pose in the world and returns data in its own frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from occkit.synthetic import classes as C
from occkit.synthetic.raycast import RayHits, cast_rays, rays_crossing_box
from occkit.synthetic.scene import Scene

SUN = np.array([0.35, 0.25, 0.90]) / np.linalg.norm([0.35, 0.25, 0.90])


class LidarConfig(BaseModel):
    """LiDAR model. ``pattern="auto"`` picks the rosette for UAV presets and the spinning scanner for street."""

    model_config = ConfigDict(extra="forbid")
    pattern: Literal["auto", "spinning", "rosette"] = "auto"
    # spinning multi-beam (nuScenes-like HDL-32E)
    beams: int = Field(32, ge=1)
    vfov_deg: tuple[float, float] = (-30.67, 10.67)
    h_step_deg: float = Field(0.33, gt=0)
    # rosette (Livox Avia-like, non-repetitive)
    points_per_frame: int = Field(24000, ge=1)
    rosette_fov_deg: tuple[float, float] = (70.4, 77.2)
    rosette_lines: int = Field(6, ge=1)
    # both
    max_range: float | None = Field(None, gt=0, description="metres; None = 300 (rosette) or 80 (spinning)")
    min_range: float = Field(0.5, ge=0)
    range_noise_m: float = Field(0.02, ge=0)
    dropout: float = Field(0.02, ge=0, lt=1)

    @model_validator(mode="after")
    def _check_angles(self) -> LidarConfig:
        lo, hi = self.vfov_deg
        if not -90.0 <= lo < hi <= 90.0:
            raise ValueError(f"vfov_deg must be (lower, upper) degrees with -90 <= lower < upper <= 90, "
                             f"got {self.vfov_deg}")
        if not all(0.0 < a < 180.0 for a in self.rosette_fov_deg):
            raise ValueError(f"rosette_fov_deg must be two angles in (0, 180) degrees, got {self.rosette_fov_deg}")
        if self.max_range is not None and self.max_range <= self.min_range:
            raise ValueError(f"max_range ({self.max_range} m) must exceed min_range ({self.min_range} m)")
        return self


class CameraConfig(BaseModel):
    """Pinhole camera rendering z-depth, semantics and a shaded RGB image."""

    model_config = ConfigDict(extra="forbid")
    width: int = Field(320, ge=8)
    height: int = Field(256, ge=8)
    hfov_deg: float = Field(70.0, gt=1, lt=170)
    pitch_deg: float | None = Field(None, ge=-90, le=90,
                                    description="optical axis below the horizon; None = 90 (UAV nadir) or 0 (street)")


@dataclass
class LidarScan:
    """One sweep in the sensor frame: points float32 (N, 3), internal class, intensity, ring/line."""

    points: np.ndarray
    cls: np.ndarray
    intensity: np.ndarray
    ring: np.ndarray


@dataclass
class CameraRender:
    depth: np.ndarray  # (H, W) float32 z-depth, 0 = no hit
    cls: np.ndarray  # (H, W) int16 internal class, NO_HIT = sky
    image: np.ndarray  # (H, W, 3) uint8


def spinning_pattern(cfg: LidarConfig) -> tuple[np.ndarray, np.ndarray]:
    """Unit directions (N, 3) and ring ids of a spinning scanner: beams x azimuth steps."""
    el = np.deg2rad(np.linspace(cfg.vfov_deg[0], cfg.vfov_deg[1], cfg.beams))
    az = np.deg2rad(np.arange(0.0, 360.0, cfg.h_step_deg))
    e, a = np.meshgrid(el, az, indexing="ij")
    dirs = np.stack([np.cos(e) * np.cos(a), np.cos(e) * np.sin(a), np.sin(e)], axis=-1).reshape(-1, 3)
    return dirs, np.repeat(np.arange(cfg.beams), len(az))


def rosette_pattern(cfg: LidarConfig, t0: float) -> tuple[np.ndarray, np.ndarray]:
    """Livox-like rosette: each line traces ``(cos f1 t + cos f2 t, sin f1 t - sin f2 t) / 2`` (a rose curve
    filling a disc), lines rotated apart; ``t0`` continues the pattern so frames never repeat."""
    n, lines = cfg.points_per_frame, cfg.rosette_lines
    per = int(np.ceil(n / lines))
    t = t0 + np.arange(per) * 1e-4
    f1, f2 = 2 * np.pi * 97.0, 2 * np.pi * 61.0
    u = 0.5 * (np.cos(f1 * t) + np.cos(f2 * t))
    v = 0.5 * (np.sin(f1 * t) - np.sin(f2 * t))
    rot = np.arange(lines)[:, None] * (2 * np.pi / lines)
    uu = (u * np.cos(rot) - v * np.sin(rot)).reshape(-1)[:n]
    vv = (u * np.sin(rot) + v * np.cos(rot)).reshape(-1)[:n]
    hx, hy = np.deg2rad(cfg.rosette_fov_deg[0]) / 2, np.deg2rad(cfg.rosette_fov_deg[1]) / 2
    dirs = np.column_stack([np.ones(n), np.tan(uu * hx), np.tan(vv * hy)])
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    return dirs, np.repeat(np.arange(lines), per)[:n]


@dataclass(frozen=True)
class Region:
    """A box in the world (centre, half extents, yaw about z): only the rays that cross it are cast."""

    centre: np.ndarray
    half: np.ndarray
    yaw: float


def scan_lidar(scene: Scene, T_world_sensor: np.ndarray, cfg: LidarConfig, pattern: str, max_range: float,
               rng: np.random.Generator, t0: float = 0.0, region: Region | None = None) -> LidarScan:
    """Cast the pattern from the pose; add range noise and dropout; return points in the sensor frame.

    With ``region`` only the rays that cross that box are cast; the others return nothing, as if they had hit
    nothing. Inside the box the sweep is the same kind of sweep (same pattern, noise and dropout), at a fraction
    of the cost when the box is a small part of the footprint (a target grid under a UAV)."""
    dirs, ring = spinning_pattern(cfg) if pattern == "spinning" else rosette_pattern(cfg, t0)
    R, o = T_world_sensor[:3, :3], T_world_sensor[:3, 3]
    dirs_world = dirs @ R.T
    if region is None:
        hits = cast_rays(scene, o, dirs_world, max_range)
    else:
        crossing = rays_crossing_box(o, dirs_world, region.centre, region.half, region.yaw, max_range)
        hits = _hits_of_subset(cast_rays(scene, o, dirs_world[crossing], max_range), crossing)
    keep = hits.hit & (hits.t >= cfg.min_range) & (rng.random(len(dirs)) >= cfg.dropout)
    t = hits.t[keep] + rng.normal(0.0, cfg.range_noise_m, int(keep.sum())) if cfg.range_noise_m else hits.t[keep]
    pts = dirs[keep] * t[:, None]
    cls = hits.cls[keep]
    cos_inc = np.abs(np.einsum("ij,ij->i", hits.normal[keep], dirs[keep] @ R.T))
    intensity = np.clip(255.0 * C.REFLECTIVITY[cls] * cos_inc * np.minimum(1.0, 30.0 / np.maximum(t, 1.0)) ** 0.5,
                        0, 255)
    return LidarScan(pts.astype(np.float32), cls, intensity.astype(np.float32), ring[keep].astype(np.float32))


def _hits_of_subset(sub: RayHits, cast: np.ndarray) -> RayHits:
    """Spread the hits of the rays ``cast`` selects back over all rays; the rest hit nothing."""
    t = np.full(len(cast), np.inf)
    cls = np.full(len(cast), C.NO_HIT, dtype=sub.cls.dtype)
    normal = np.zeros((len(cast), 3))
    t[cast], cls[cast], normal[cast] = sub.t, sub.cls, sub.normal
    return RayHits(t, cls, normal)


def intrinsics(cfg: CameraConfig) -> np.ndarray:
    """K for the configured field of view (square pixels, principal point at the image centre)."""
    f = (cfg.width / 2) / np.tan(np.deg2rad(cfg.hfov_deg) / 2)
    return np.array([[f, 0.0, (cfg.width - 1) / 2], [0.0, f, (cfg.height - 1) / 2], [0.0, 0.0, 1.0]])


def render_camera(scene: Scene, T_world_cam: np.ndarray, K: np.ndarray, width: int, height: int,
                  rng: np.random.Generator, max_range: float = 1000.0) -> CameraRender:
    """Ray-cast every pixel centre: z-depth, internal class, Lambert-shaded class colour (sky where no hit)."""
    v, u = np.mgrid[0:height, 0:width]
    pix = np.stack([u.ravel(), v.ravel(), np.ones(u.size)], axis=1).astype(np.float64)
    rays_cam = pix @ np.linalg.inv(K).T  # z component is 1
    norm = np.linalg.norm(rays_cam, axis=1)
    R, o = T_world_cam[:3, :3], T_world_cam[:3, 3]
    hits = cast_rays(scene, o, (rays_cam / norm[:, None]) @ R.T, max_range)
    depth = np.where(hits.hit, hits.t / norm, 0.0).reshape(height, width).astype(np.float32)
    cls = hits.cls.reshape(height, width)
    shade = 0.35 + 0.65 * np.clip(hits.normal @ SUN, 0.0, 1.0)
    rgb = np.where(hits.hit[:, None], C.COLORS[np.maximum(hits.cls, 0)] * shade[:, None], C.SKY_RGB)
    rgb = rgb * (1.0 + 0.04 * rng.standard_normal((len(rgb), 1)))  # a little texture for image models
    image = (np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8).reshape(height, width, 3)
    return CameraRender(depth=depth, cls=cls, image=image)
