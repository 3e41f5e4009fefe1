"""OccupancyDataset, its collate function, a seeded sampler and ``build_dataloader``.

Samples come from the preprocessing cache when ``cfg.cache_dir`` holds a valid one for the split, otherwise
from the source through ``FrameToGrids``. A cache built from other settings or source data raises
``CacheError`` (never silently reused); a missing or partial cache falls back to computing the missing
samples on the fly, with one warning.

Augmentation (train split only) is seeded per sample from ``(seed, epoch, index)``: ``SeededSampler`` hands
the dataset ``(index, epoch)`` pairs and advances the epoch on each pass, so a run draws the same
augmentations whatever the number of loader workers. Indexing with a plain int uses ``dataset.epoch``
(``set_epoch``).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from occkit.data import augment as A
from occkit.data import cache as C
from occkit.data.camera_inputs import CAMERA_KEYS, augment_camera
from occkit.data.config import DataConfig
from occkit.data.grids import FrameToGrids, check_model_arrays
from occkit.data.workers import worker_context
from occkit.sources.base import Source


class OccupancyDataset(Dataset):
    """Torch dataset of model-layout samples: ``input`` (F*Z, Y, X), ``target`` (Z, Y, X), ``mask``, ``frame_id``.

    ``source`` replaces ``cfg.source.build(split)`` (frames held in memory, tests). ``augment`` defaults to
    on for the train split when the config enables any augmentation.
    """

    def __init__(self, cfg: DataConfig, split: str, *, source: Source | None = None, seed: int = 0,
                 augment: bool | None = None) -> None:
        self.cfg = cfg
        self.split = split
        self.source = source if source is not None else cfg.source.build(split)
        self.frame_ids = list(self.source.frame_ids)
        self.to_grids = FrameToGrids(cfg)
        self.seed = int(seed)
        self.epoch = 0
        a = cfg.augment
        any_aug = a.flip or (a.rotate90 and A.can_rotate(cfg.grid)) or a.crop is not None
        self.augment = (split == "train" and any_aug) if augment is None else augment
        self.cache_dir = self._open_cache()
        self._memo = EntryMemo(int(cfg.memory_cache_mb) * 2**20)
        self._warned = False
        x, y, z = cfg.grid.shape
        self._shapes = {"input": (len(cfg.input.features) * z, y, x), "target": (z, y, x), "mask": (z, y, x)}

    def _open_cache(self) -> Path | None:
        if not self.cfg.cache_dir:
            return None
        manifest = C.read_manifest(self.cfg.cache_dir)
        if manifest is None:
            warnings.warn(f"{C.manifest_path(self.cfg.cache_dir)} not found: computing {self.split} samples on the "
                          "fly (run `occkit preprocess` to fill the cache)", stacklevel=3)
            return None
        C.check_manifest(manifest, self.cfg, self.cfg.cache_dir, self.split, self.source.fingerprint())
        if self.split not in manifest.get("splits", {}):
            warnings.warn(f"{self.cfg.cache_dir}: split {self.split!r} was not preprocessed: computing it on the fly",
                          stacklevel=3)
            return None
        return Path(self.cfg.cache_dir)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.frame_ids)

    def load(self, index: int) -> dict[str, Any]:
        """The un-augmented numpy sample: from the cache when it has it, else computed from the source."""
        if self.cache_dir is not None:
            path = C.entry_path(self.cache_dir, self.split, self.frame_ids[index])
            arrays = self._memo.get(index)
            if arrays is None and path.is_file():
                arrays = self._memo.keep(index, C.read_arrays(path))
            if arrays is not None:
                return C.decode_checked(path, arrays, self._shapes)
            if not self._warned:
                self._warned = True
                warnings.warn(f"{path} missing: the cache for {self.split!r} is incomplete, computing missing "
                              "samples on the fly (re-run `occkit preprocess` to finish it)", stacklevel=2)
        sample = self.to_grids(self.source[index])
        check_model_arrays(sample, self.cfg.grid, len(self.cfg.input.features))
        return sample

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        index, epoch = (int(key[0]), int(key[1])) if isinstance(key, tuple) else (int(key), self.epoch)
        if index < 0:
            index += len(self)
        sample = self.load(index)
        if self.augment:
            rng = np.random.default_rng([self.seed, epoch, index])
            d = A.draw(rng, self.cfg.augment, self.cfg.grid)
            if self.cfg.augment.crop is not None:  # crop first: the same arrays, a fraction of the work
                window = A.crop_window(rng, self.cfg.augment.crop, self.cfg.grid)
                sample = A.crop_sample(sample, A.source_window(d, window, self.cfg.grid))
            sample = augment_camera(A.apply_sample(sample, d, self.cfg.input.features), d, self.cfg.grid)
        out: dict[str, Any] = {
            "input": torch.from_numpy(np.ascontiguousarray(sample["input"], dtype=np.float32)),
            "target": torch.from_numpy(np.ascontiguousarray(sample["target"], dtype=np.float32)),
            "frame_id": sample["frame_id"],
            "alignment_path": sample["alignment_path"],
        }
        if sample.get("mask") is not None:
            out["mask"] = torch.from_numpy(np.ascontiguousarray(sample["mask"], dtype=bool))
        if sample.get("sensor_origins") is not None and not self.augment:  # a flipped grid has moved sensors
            out["sensor_origins"] = torch.from_numpy(np.asarray(sample["sensor_origins"], dtype=np.float32))
        for key in CAMERA_KEYS:
            if sample.get(key) is not None:
                out[key] = torch.from_numpy(np.ascontiguousarray(sample[key]))
        return out


class EntryMemo:
    """Decompressed cache entries kept in memory up to ``budget`` bytes, so that epochs after the first skip the
    decompression (most of a read: 30 of 45 ms per refinement sample). First come, first kept; one per loader
    process, so workers that restart each epoch start empty."""

    def __init__(self, budget: int) -> None:
        self.budget, self.used = int(budget), 0
        self._entries: dict[int, dict[str, np.ndarray]] = {}

    def get(self, index: int) -> dict[str, np.ndarray] | None:
        return self._entries.get(index)

    def keep(self, index: int, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        size = sum(a.nbytes for a in arrays.values())
        if self.used + size <= self.budget:
            self._entries[index] = arrays
            self.used += size
        return arrays


def collate(samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Stack tensors; ``frame_id`` and ``alignment_path`` become lists. All samples must agree on ``mask``."""
    has_mask = ["mask" in s for s in samples]
    if any(has_mask) and not all(has_mask):
        missing = [s["frame_id"] for s in samples if "mask" not in s]
        raise ValueError(f"batch mixes samples with and without a visibility mask (no mask: {missing[:3]})")
    batch: dict[str, Any] = {
        "input": torch.stack([s["input"] for s in samples]),
        "target": torch.stack([s["target"] for s in samples]),
        "frame_id": [s["frame_id"] for s in samples],
        "alignment_path": [s.get("alignment_path", "") for s in samples],
    }
    if all(has_mask) and samples:
        batch["mask"] = torch.stack([s["mask"] for s in samples])
    if samples and all("sensor_origins" in s for s in samples):  # (K, 3) each; K differs between frames
        batch["sensor_origins"] = [s["sensor_origins"] for s in samples]
    for key in CAMERA_KEYS:  # same-size images: one camera setting per dataset
        if samples and all(key in s for s in samples):
            batch[key] = torch.stack([s[key] for s in samples])
    return batch


class SeededSampler(Sampler):
    """Yields ``(index, epoch)``, shuffled from ``(seed, epoch)`` when ``shuffle``; each pass is a new epoch."""

    def __init__(self, n: int, seed: int = 0, shuffle: bool = True) -> None:
        self.n, self.seed, self.shuffle = n, int(seed), shuffle
        self.epoch = -1

    def set_epoch(self, epoch: int) -> None:
        """Make the NEXT pass use ``epoch`` (DistributedSampler-style hook)."""
        self.epoch = int(epoch) - 1

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[tuple[int, int]]:
        self.epoch += 1
        order = (np.random.default_rng([self.seed, self.epoch]).permutation(self.n) if self.shuffle
                 else np.arange(self.n))
        return iter([(int(i), self.epoch) for i in order])


def build_dataloader(cfg: DataConfig, split: str, seed: int = 0, *, source: Source | None = None,
                     shuffle: bool | None = None, drop_last: bool = False) -> DataLoader:
    """A DataLoader over ``OccupancyDataset(cfg, split)``: shuffled and augmented for train, fixed order otherwise."""
    dataset = OccupancyDataset(cfg, split, source=source, seed=seed)
    shuffle = split == "train" if shuffle is None else shuffle
    return DataLoader(dataset, batch_size=cfg.batch_size, sampler=SeededSampler(len(dataset), seed, shuffle),
                      num_workers=cfg.num_workers, collate_fn=collate, drop_last=drop_last,
                      persistent_workers=False, pin_memory=False,
                      multiprocessing_context=worker_context(cfg.num_workers, dataset))
