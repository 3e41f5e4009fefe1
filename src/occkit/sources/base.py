"""The Source protocol: an indexable collection of Frames read from disk (or generated)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from occkit.frame import Frame

SPLITS = ("train", "val", "test")


@runtime_checkable
class Source(Protocol):
    """Indexable frames. ``frame_ids`` lists stable ids (used for cache keys and reports)."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> Frame: ...

    @property
    def frame_ids(self) -> list[str]: ...

    def fingerprint(self) -> str:
        """A hash of what the frames depend on (files + settings); a changed source invalidates caches."""
        ...
