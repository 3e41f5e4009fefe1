"""occkit.losses: OccupancyLoss on logits ``(B, Z, Y, X)``."""

from occkit.losses.config import LossConfig
from occkit.losses.occupancy import LossInputError, LossOutput, OccupancyLoss

__all__ = ["LossConfig", "LossInputError", "LossOutput", "OccupancyLoss"]
