"""Build the metrics from an EvalConfig, so the trainer and ``occkit evaluate`` use the same settings."""

from __future__ import annotations

from occkit.geometry.grid import GridSpec
from occkit.metrics.config import EvalConfig
from occkit.metrics.occupancy import OccupancyMetrics
from occkit.metrics.quality import QualityMetrics
from occkit.metrics.rayiou import RayIoU
from occkit.metrics.regions import ground_filter_voxels


def build_occupancy_metrics(cfg: EvalConfig, spec: GridSpec | None = None) -> OccupancyMetrics:
    """IoU family at ``cfg.threshold`` with ``cfg.sweep_thresholds``; per-height states sized by ``spec``."""
    return OccupancyMetrics(threshold=cfg.threshold, sweep_thresholds=cfg.sweep_thresholds,
                            num_levels=None if spec is None else spec.shape[2])


def default_ray_origin(spec: GridSpec) -> tuple[float, float, float]:
    """The grid frame's origin (the ego / sensor position) when the box holds it, else the box centre."""
    lo, hi = spec.lower, spec.upper
    if bool(((lo <= 0) & (hi > 0)).all()):
        return (0.0, 0.0, 0.0)
    c = 0.5 * (lo + hi)
    return (float(c[0]), float(c[1]), float(c[2]))


def build_ray_iou(cfg: EvalConfig, spec: GridSpec, num_classes: int | None = None, free_label: int = 17) -> RayIoU:
    """Binary RayIoU (or semantic with ``num_classes``) on ``spec`` with the config's rays."""
    origins = cfg.ray_origins if cfg.ray_origins is not None else [default_ray_origin(spec)]
    return RayIoU(spec, origins=origins, num_azimuth=cfg.ray_num_azimuth,
                  elevations_deg=cfg.ray_elevations_deg, depth_thresholds=cfg.ray_depth_thresholds,
                  max_range=cfg.ray_max_range, threshold=cfg.threshold, num_classes=num_classes,
                  free_label=free_label, max_origins=cfg.ray_max_origins)


def build_quality_metrics(cfg: EvalConfig, spec: GridSpec, plane_level: int | None,
                          elevation_model: bool = False, smoothed_surface: bool = False) -> QualityMetrics:
    """Model vs baselines at ``cfg.threshold``; the ground filter's window and band converted to voxels;
    ``elevation_model``: the inputs carry the DEM, so its own ground is scored too; ``smoothed_surface``: they
    carry the surface feature, so is the surface."""
    window, band = ground_filter_voxels(cfg.ground_window_m, cfg.ground_band_m, spec.size)
    return QualityMetrics(threshold=cfg.threshold, plane_level=plane_level, ground_window=window, ground_band=band,
                          elevation_model=elevation_model, smoothed_surface=smoothed_surface)
