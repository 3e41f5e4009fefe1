"""A dataset that takes a module-level lock per sample: held by another thread of the parent process, it deadlocks
any DataLoader worker forked from that process (tests/test_data_workers.py)."""

from __future__ import annotations

import threading

import torch
from torch.utils.data import Dataset

LOCK = threading.Lock()


class NeedsTheLock(Dataset):
    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int) -> torch.Tensor:
        with LOCK:
            return torch.tensor(i)
