"""Folder source (stub: filled in by its owner)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class FolderSourceConfig(BaseModel):
    """Where and how to read folder frames."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["folder"] = "folder"

    def build(self, split: str = "train"):
        """Return a Source of Frames for split (train/val/test)."""
        raise NotImplementedError("folder source is not implemented yet")
