"""occkit.models: the BEV height U-Net (logits out, ``(B, Z, Y, X)``)."""

from occkit.models.config import ModelConfig
from occkit.models.unet import BEVHeightOccupancy, build_model

__all__ = ["BEVHeightOccupancy", "ModelConfig", "build_model"]
