"""Silence third-party console noise that says nothing about the user's run.

Lightning's INFO lines (the LitLogger tip, "GPU available", "Loading `train_dataloader` to estimate ...",
"`Trainer.fit` stopped"), known deprecation warnings from inside Lightning and torch, and W&B's banner are
turned down; occkit prints its own one-line summary of the run instead. Real warnings stay.
"""

from __future__ import annotations

import logging
import os
import warnings

_LOGGERS = ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero",
            "lightning.pytorch.accelerators.cuda", "lightning.fabric.utilities.seed")
_KNOWN_DEPRECATIONS = (r".*isinstance\(treespec, LeafSpec\).*", r".*torch\.jit\..* is deprecated.*",
                       r".*`torch\.jit\.trace.*deprecated.*")


def quiet_third_party() -> None:
    """Idempotent; called once per CLI invocation."""
    for name in _LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    for pattern in _KNOWN_DEPRECATIONS:
        warnings.filterwarnings("ignore", message=pattern)
    warnings.filterwarnings("ignore", category=UserWarning, message=r".*does not have many workers.*")
    # `occkit train` and `occkit run` print where the W&B run is and how to sync it instead
    os.environ.setdefault("WANDB_SILENT", "true")
