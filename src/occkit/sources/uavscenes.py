"""UAVScenes source (stub: filled in by its owner)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class UAVScenesSourceConfig(BaseModel):
    """Where and how to read uavscenes frames."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["uavscenes"] = "uavscenes"

    def build(self, split: str = "train"):
        """Return a Source of Frames for split (train/val/test)."""
        raise NotImplementedError("uavscenes source is not implemented yet")
