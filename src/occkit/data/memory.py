"""MemorySource: a Source over Frames already in memory (tests, notebooks, frames built by a script)."""

from __future__ import annotations

import hashlib

import numpy as np

from occkit.frame import Frame


class MemorySource:
    """Implements the ``occkit.sources.base.Source`` protocol over a list of Frames.

    ``reads`` counts ``__getitem__`` calls, so callers can see whether a cache spared the source.
    The fingerprint hashes ids, poses and points, so editing a frame invalidates caches built from it.
    """

    def __init__(self, frames: list[Frame], name: str = "memory") -> None:
        self.frames = list(frames)
        self.name = name
        self.reads = 0

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index: int) -> Frame:
        if not -len(self.frames) <= index < len(self.frames):
            raise IndexError(f"{self.name}: index {index} out of range for {len(self.frames)} frames")
        self.reads += 1
        return self.frames[index]

    @property
    def frame_ids(self) -> list[str]:
        return [f.frame_id for f in self.frames]

    def fingerprint(self) -> str:
        h = hashlib.sha256(self.name.encode())
        for f in self.frames:
            h.update(f.frame_id.encode())
            for arr in (f.T_world_sensor, f.points, f.target_points, f.pseudo_points, f.pseudo_origins):
                if arr is not None:
                    h.update(np.ascontiguousarray(arr).tobytes())
            if f.target is not None:
                h.update(np.ascontiguousarray(f.target.semantics).tobytes())
        return h.hexdigest()[:16]
