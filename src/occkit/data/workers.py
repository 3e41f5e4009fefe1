"""Where DataLoader workers come from: a fork server, not a fork of the training process.

A worker forked from the training process inherits every lock another thread of it held at that instant (the
TensorBoard writer, W&B, an ONNX Runtime pool, a lazy import in flight) with no thread left to release it: the
worker then waits forever, and so does training. Seen here: a worker stuck seeding itself (``torch.manual_seed``
formats a stack trace, which reads source files under a lock) after a test process had run ONNX exports. Workers
forked from a fork server (a clean, single-threaded process started once) cannot inherit such a lock, and with
torch and occkit preloaded there each new worker starts in milliseconds; platforms without a fork server (Windows)
keep their default, spawn. Such a worker imports the ``__main__`` script again (as spawn does on macOS and Windows),
so a script without an ``if __name__ == "__main__":`` guard keeps the fork, and so does a dataset that does not
pickle.
"""

from __future__ import annotations

import multiprocessing
import pickle
import re
import sys
from multiprocessing.context import BaseContext
from pathlib import Path

PRELOAD = ["torch", "occkit.data.dataset"]


def worker_context(num_workers: int, dataset: object | None = None) -> BaseContext | None:
    """The multiprocessing context for ``num_workers`` DataLoader workers over ``dataset``. None (the platform's
    default) without workers, without a fork server, or for a dataset that does not pickle (a user's source holding
    an open handle): it keeps working as it did, forked."""
    if num_workers <= 0 or "forkserver" not in multiprocessing.get_all_start_methods() or not main_reimport_is_safe():
        return None
    if dataset is not None:
        try:
            pickle.dumps(dataset)
        except Exception:  # noqa: BLE001 - any reason it cannot travel to a fresh process
            return None
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context


def main_reimport_is_safe() -> bool:
    """Whether a worker may import the ``__main__`` script again, as every process that is not a fork does: yes
    for an interactive session or a notebook (nothing to import), and for a script that keeps its work under
    ``if __name__ == "__main__":`` (occkit's own command, pytest); not for a script without that guard, whose
    training would start again inside each worker, nor for code read from standard input (no file to import)."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if path is None:
        return True
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return False
    return re.search(r"""if\s+__name__\s*==\s*['"]__main__['"]""", text) is not None
