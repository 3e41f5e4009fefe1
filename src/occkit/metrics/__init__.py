"""occkit.metrics: torchmetrics metrics for occupancy (IoU family, Occ3D mIoU, RayIoU), DDP-safe sums."""

from occkit.metrics._checks import MetricInputError
from occkit.metrics.occupancy import SCALAR_KEYS, OccupancyMetrics
from occkit.metrics.rayiou import RayIoU
from occkit.metrics.rays import ray_directions, sparseocc_elevations_deg
from occkit.metrics.semantic import SemanticMIoU

__all__ = [
    "SCALAR_KEYS",
    "MetricInputError",
    "OccupancyMetrics",
    "RayIoU",
    "SemanticMIoU",
    "ray_directions",
    "sparseocc_elevations_deg",
]
