"""Occ3D source (stub: filled in by its owner)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class Occ3DSourceConfig(BaseModel):
    """Where and how to read occ3d frames."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["occ3d"] = "occ3d"

    def build(self, split: str = "train"):
        """Return a Source of Frames for split (train/val/test)."""
        raise NotImplementedError("occ3d source is not implemented yet")
