"""occkit.train: the Lightning module, ``fit`` and the callbacks around it.

Kept import-light (``occkit.config`` imports ``occkit.train.config``); the heavy names load on first use.
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "OccupancyModule": "occkit.train.module",
    "fit": "occkit.train.runner",
    "RunResult": "occkit.train.runner",
    "load_module": "occkit.train.checkpoint",
    "checkpoint_grid": "occkit.train.checkpoint",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'occkit.train' has no attribute {name!r}")
