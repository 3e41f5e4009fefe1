"""Synthetic source (stub: filled in by its owner)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class SyntheticSourceConfig(BaseModel):
    """Where and how to read synthetic frames."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["synthetic"] = "synthetic"

    def build(self, split: str = "train"):
        """Return a Source of Frames for split (train/val/test)."""
        raise NotImplementedError("synthetic source is not implemented yet")
