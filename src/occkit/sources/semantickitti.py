"""SemanticKITTI source (stub: filled in by its owner)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class SemanticKITTISourceConfig(BaseModel):
    """Where and how to read semantickitti frames."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["semantickitti"] = "semantickitti"

    def build(self, split: str = "train"):
        """Return a Source of Frames for split (train/val/test)."""
        raise NotImplementedError("semantickitti source is not implemented yet")
