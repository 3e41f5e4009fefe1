"""DataLoader workers come from a fork server: a lock another thread of the training process holds at the moment
the workers start (the TensorBoard writer, W&B, an ONNX Runtime pool) cannot freeze them."""

from __future__ import annotations

import threading

import pytest
from held_lock import LOCK, NeedsTheLock
from torch.utils.data import DataLoader

from occkit.data.workers import worker_context


@pytest.fixture()
def lock_held_by_another_thread():
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:
        with LOCK:
            taken.set()
            release.wait(60)

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    taken.wait(10)
    yield
    release.set()
    thread.join(10)


def test_workers_do_not_inherit_a_lock_held_elsewhere(lock_held_by_another_thread) -> None:
    loader = DataLoader(NeedsTheLock(), batch_size=2, num_workers=2, timeout=60,
                        multiprocessing_context=worker_context(2))
    assert [b.tolist() for b in loader] == [[0, 1], [2, 3]]


def test_a_plain_fork_would_wait_forever(lock_held_by_another_thread) -> None:
    """What the fork server prevents: the forked workers get the lock in its held state, and no batch comes."""
    loader = DataLoader(NeedsTheLock(), batch_size=2, num_workers=2, timeout=5, multiprocessing_context="fork")
    with pytest.raises(RuntimeError, match="timed out"):
        list(loader)


def test_no_workers_no_context() -> None:
    assert worker_context(0) is None


def test_a_dataset_that_does_not_pickle_keeps_the_fork(tmp_path) -> None:
    """A user's source holding an open file cannot travel to a fork server's worker: it is forked, as before."""
    with (tmp_path / "f.bin").open("wb") as handle:
        unpicklable = NeedsTheLock()
        unpicklable.handle = handle
        assert worker_context(2, unpicklable) is None
    assert worker_context(2, NeedsTheLock()) is not None


LOAD = """
import sys
sys.path.insert(0, {tests!r})
from held_lock import NeedsTheLock
from torch.utils.data import DataLoader
from occkit.data.workers import worker_context
"""
RUN = """
ctx = worker_context(2, NeedsTheLock())
batches = [b.tolist() for b in DataLoader(NeedsTheLock(), batch_size=2, num_workers=2, multiprocessing_context=ctx)]
print(type(ctx).__name__, batches)
"""


@pytest.mark.parametrize(("how", "expected"), [("guarded", "ForkServerContext"), ("unguarded", "NoneType"),
                                               ("stdin", "NoneType")])
def test_a_script_without_a_main_guard_keeps_the_fork(tmp_path, how: str, expected: str) -> None:
    """A fork server's worker imports __main__ again: a script whose training sits at its top level would start
    it again in every worker, and code from stdin has no file to import. Both keep the fork, and all three load."""
    import subprocess
    import sys
    from pathlib import Path

    head = LOAD.format(tests=str(Path(__file__).parent))
    body = RUN if how != "guarded" else "if __name__ == '__main__':\n" + "".join(
        f"    {line}\n" for line in RUN.strip().splitlines())
    script = tmp_path / "train.py"
    script.write_text(head + body)
    cmd = [sys.executable, "-"] if how == "stdin" else [sys.executable, str(script)]
    done = subprocess.run(cmd, input=(head + body) if how == "stdin" else None, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == f"{expected} [[0, 1], [2, 3]]"
