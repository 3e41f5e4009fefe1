"""occkit.metrics: torchmetrics metrics for occupancy (IoU family, Occ3D mIoU, RayIoU), DDP-safe sums.

Names are imported lazily: ``occkit.config`` imports ``occkit.metrics.config`` and must not pull in torch.
"""

from __future__ import annotations

from occkit.utils.lazy import lazy_getattr

_EXPORTS = {
    "MetricInputError": "occkit.metrics._checks",
    "build_occupancy_metrics": "occkit.metrics.build",
    "build_ray_iou": "occkit.metrics.build",
    "build_quality_metrics": "occkit.metrics.build",
    "QualityMetrics": "occkit.metrics.quality",
    "baseline_predictions": "occkit.metrics.baselines",
    "most_common_level": "occkit.metrics.baselines",
    "train_split_plane_level": "occkit.metrics.baselines",
    "default_ray_origin": "occkit.metrics.build",
    "EvalConfig": "occkit.metrics.config",
    "OccupancyMetrics": "occkit.metrics.occupancy",
    "SCALAR_KEYS": "occkit.metrics.occupancy",
    "RayIoU": "occkit.metrics.rayiou",
    "ray_directions": "occkit.metrics.rays",
    "sparseocc_elevations_deg": "occkit.metrics.rays",
    "SemanticMIoU": "occkit.metrics.semantic",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_getattr(__name__, _EXPORTS)
