"""A stand-in for monocular depth (Depth Anything 3): true depth degraded the way DA3 degrades it.

DA3-like errors: one global scale and shift per image, noise that grows with distance, depth edges
blurred so that unprojected points smear between foreground and background ("flying pixels"), and no
depth where nothing was hit (sky). Unprojecting the result gives noisy pseudo-LiDAR.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy import ndimage


class DepthNoiseConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scale_sigma: float = Field(0.05, ge=0, description="std of log global scale")
    shift_sigma_m: float = Field(0.3, ge=0, description="std of the global shift (m)")
    noise_rel: float = Field(0.01, ge=0, description="noise std as a fraction of depth")
    noise_quad: float = Field(5e-5, ge=0, description="extra noise std per metre^2 (grows with distance)")
    noise_smooth_px: float = Field(3.0, ge=0, description="spatial correlation (px) of the noise: monocular errors "
                                   "are smooth wobbles, not per-pixel speckle")
    edge_blur_px: float = Field(1.5, ge=0, description="gaussian sigma (px) of the blur across depth edges")
    edge_threshold: float = Field(0.08, gt=0, description="relative depth jump that counts as an edge")
    max_range: float | None = Field(None, gt=0, description="drop pseudo points beyond this distance (m)")
    conf_percentile: float | None = Field(
        None, ge=0, le=100, description="drop the least confident pixels before unprojecting, as occkit's DA3 path "
        "does (data.depth.conf_percentile, 40 there): the blurred depth edges, whose points fly between a roof "
        "and the ground, have the lowest confidence; None keeps every pixel")

    def key_dump(self) -> dict:
        """What cache keys and fingerprints hash: the settings added later stay out while left at their default,
        so keys made before they existed still match."""
        from occkit.utils.keys import dump_without_unset

        return dump_without_unset(self, {"conf_percentile"})


def degrade_depth(depth: np.ndarray, cfg: DepthNoiseConfig, rng: np.random.Generator,
                  scale_shift: tuple[float, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """True z-depth (0 = no hit) -> (noisy depth float32, confidence float32 in (0, 1]).

    ``scale_shift``: this image's global scale and shift, when several views share them (multi-view depth, as
    DA3 gives it for a set of images, is consistent across views; ``draw_scale_shift``); None = drawn here."""
    z = np.asarray(depth, dtype=np.float64)
    valid = z > 0
    out = z.copy()
    conf = np.ones_like(z)
    if cfg.edge_blur_px > 0 and valid.any():
        w = ndimage.gaussian_filter(valid.astype(np.float64), cfg.edge_blur_px)
        blurred = ndimage.gaussian_filter(z * valid, cfg.edge_blur_px) / np.maximum(w, 1e-6)
        zmax = ndimage.maximum_filter(np.where(valid, z, 0.0), size=3)
        zmin = ndimage.minimum_filter(np.where(valid, z, np.inf), size=3)
        edge = valid & ((zmax - zmin) > cfg.edge_threshold * np.maximum(zmin, 1e-6))
        zone = ndimage.binary_dilation(edge, iterations=max(1, int(np.ceil(cfg.edge_blur_px)))) & valid
        out = np.where(zone, blurred, out)
        conf = np.where(zone, 0.3, conf)
    scale, shift = draw_scale_shift(cfg, rng) if scale_shift is None else scale_shift
    sigma = cfg.noise_rel * out + cfg.noise_quad * out ** 2
    out = scale * out + shift + sigma * _unit_noise(out.shape, cfg.noise_smooth_px, rng)
    conf = conf / (1.0 + sigma)
    out = np.where(valid & (out > 0), out, 0.0)
    return out.astype(np.float32), np.where(out > 0, conf, 0.0).astype(np.float32)


def draw_scale_shift(cfg: DepthNoiseConfig, rng: np.random.Generator) -> tuple[float, float]:
    """One image's (or one set of views') global scale and shift error."""
    scale = float(np.exp(rng.normal(0.0, cfg.scale_sigma)))
    return scale, float(rng.normal(0.0, cfg.shift_sigma_m))


def _unit_noise(shape: tuple[int, ...], smooth_px: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise with unit std, blurred over ``smooth_px`` pixels first when > 0."""
    n = rng.standard_normal(shape)
    if smooth_px > 0:
        n = ndimage.gaussian_filter(n, smooth_px)
        n /= max(float(n.std()), 1e-12)
    return n


def pseudo_points_of(depth: np.ndarray, conf: np.ndarray, K: np.ndarray, T_frame_cam: np.ndarray,
                     cfg: DepthNoiseConfig) -> np.ndarray:
    """The degraded depth's pseudo-LiDAR (N, 3) float32 in the frame ``T_frame_cam`` maps to, kept the way occkit's
    DA3 path keeps a prediction's pixels: the least confident ``cfg.conf_percentile`` dropped, and beyond
    ``cfg.max_range``."""
    from occkit.depth.unproject import confidence_floor, unproject_depth

    floor = confidence_floor(depth, conf, cfg.conf_percentile)
    return unproject_depth(depth, K, T_frame_cam, conf=conf, conf_threshold=floor, max_range=cfg.max_range)
