"""Where DataLoader workers come from: a fork server, not a fork of the training process.

A worker forked from the training process inherits every lock another thread of it held at that instant (the
TensorBoard writer, W&B, an ONNX Runtime pool, a lazy import in flight) with no thread left to release it: the
worker then waits forever, and so does training. Seen here: a worker stuck seeding itself (``torch.manual_seed``
formats a stack trace, which reads source files under a lock) after a test process had run ONNX exports. Workers
forked from a fork server (a clean, single-threaded process started once) cannot inherit such a lock, and with
torch and occkit preloaded there each new worker starts in milliseconds; platforms without a fork server (Windows)
keep their default, spawn. A dataset that does not pickle (as it must on macOS and Windows anyway) keeps the fork.
"""

from __future__ import annotations

import multiprocessing
import pickle
from multiprocessing.context import BaseContext

PRELOAD = ["torch", "occkit.data.dataset"]


def worker_context(num_workers: int, dataset: object | None = None) -> BaseContext | None:
    """The multiprocessing context for ``num_workers`` DataLoader workers over ``dataset``. None (the platform's
    default) without workers, without a fork server, or for a dataset that does not pickle (a user's source holding
    an open handle): it keeps working as it did, forked."""
    if num_workers <= 0 or "forkserver" not in multiprocessing.get_all_start_methods():
        return None
    if dataset is not None:
        try:
            pickle.dumps(dataset)
        except Exception:  # noqa: BLE001 - any reason it cannot travel to a fresh process
            return None
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context
