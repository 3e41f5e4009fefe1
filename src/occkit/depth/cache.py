"""Per-image depth cache: run the depth model once per image and settings, reuse the result afterwards.

Each entry is ``<root>/<slot>-<version>.npz`` holding ``depth``, ``conf``, ``K``, ``T_world_cam``,
``image_size`` and the key itself. The slot hashes the image's absolute path, the predictor's ``settings()``
(model name, resolution, scaling ...) and any K / pose passed in; the version hashes the image file's byte size
and mtime. A changed setting is another slot (both are kept, e.g. to compare models); an edited image is a new
version of its slot, so it misses instead of returning stale depth, and the stale version is deleted when the
new one is written.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from occkit.depth.da3 import DepthPrediction, broadcast_matrices
from occkit.errors import InputFileError
from occkit.utils.atomic import atomic_write

CACHE_VERSION = 1


class DepthPredictor(Protocol):
    """What the cache needs from a depth model (``DA3Depth`` is one)."""

    def settings(self) -> dict[str, Any]: ...

    def predict(self, images: Sequence[Any], K: Any = None, T_world_cam: Any = None) -> list[DepthPrediction]: ...


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class DepthCache:
    """A folder of cached depth predictions; ``stats`` counts hits, misses and stale entries removed."""

    def __init__(self, root: str | Path, *, store_images: bool = False) -> None:
        self.root = Path(root)
        self.store_images = store_images
        self.stats = {"hits": 0, "misses": 0, "stale_removed": 0, "unreadable": 0}

    # ---- keys -----------------------------------------------------------------------------------
    def key(self, image_path: str | Path, settings: dict[str, Any], K: np.ndarray | None = None,
            T_world_cam: np.ndarray | None = None) -> str:
        """``<slot>-<version>``: the slot hashes image path + settings + K/pose, the version the file's bytes/mtime.

        One slot holds one version: when the image changes on disk, the old version is stale and is replaced.
        Different settings (another model, another resolution) are different slots and coexist.
        """
        path = Path(image_path).resolve()
        if not path.is_file():
            raise InputFileError(path, "image not found")
        st = path.stat()
        slot = _hash(json.dumps({
            "v": CACHE_VERSION, "path": str(path), "settings": settings,
            "K": None if K is None else np.round(np.asarray(K, np.float64), 9).tolist(),
            "pose": None if T_world_cam is None else np.round(np.asarray(T_world_cam, np.float64), 9).tolist(),
        }, sort_keys=True, default=str))[:24]
        version = _hash(f"{slot}|{st.st_size}|{st.st_mtime_ns}")[:16]
        return f"{slot}-{version}"

    def entry_path(self, key: str) -> Path:
        return self.root / f"{key}.npz"

    # ---- storage --------------------------------------------------------------------------------
    def _load(self, path: Path, key: str) -> DepthPrediction | None:
        """The entry, or None when missing or unreadable (a broken entry is recomputed, with a warning)."""
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as z:
                if str(z["key"]) != key:
                    return None
                meta = json.loads(str(z["meta"]))
                return DepthPrediction(
                    depth=z["depth"], K=z["K"], conf=z["conf"] if "conf" in z.files else None,
                    T_world_cam=z["T_world_cam"] if "T_world_cam" in z.files else None,
                    image_size=tuple(int(v) for v in z["image_size"]) if "image_size" in z.files else None,
                    processed_image=z["image"] if "image" in z.files else None,
                    source=meta.get("source"), meta=meta.get("meta", {}),
                )
        except Exception as exc:  # zip/zlib/key/json errors: the cache is disposable, so recompute
            self.stats["unreadable"] += 1
            warnings.warn(f"{path}: unreadable depth cache entry ({exc}); recomputing", stacklevel=3)
            return None

    def _store(self, key: str, pred: DepthPrediction) -> None:
        path = self.entry_path(key)
        arrays: dict[str, np.ndarray] = {"key": np.array(key), "depth": np.asarray(pred.depth, np.float32),
                                         "K": np.asarray(pred.K, np.float64)}
        if pred.conf is not None:
            arrays["conf"] = np.asarray(pred.conf, np.float32)
        if pred.T_world_cam is not None:
            arrays["T_world_cam"] = np.asarray(pred.T_world_cam, np.float64)
        if pred.image_size is not None:
            arrays["image_size"] = np.asarray(pred.image_size, np.int64)
        if self.store_images and pred.processed_image is not None:
            arrays["image"] = np.asarray(pred.processed_image, np.uint8)
        arrays["meta"] = np.array(json.dumps({"source": pred.source, "meta": pred.meta}, default=str))

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as f:
                np.savez_compressed(f, **arrays)

        atomic_write(path, write)
        for old in self.root.glob(f"{key.split('-')[0]}-*.npz"):
            if old != path:
                old.unlink(missing_ok=True)
                self.stats["stale_removed"] += 1

    # ---- the one entry point --------------------------------------------------------------------
    def get_or_compute(self, image_paths: Sequence[str | Path], predictor: DepthPredictor, *, K: Any = None,
                       T_world_cam: Any = None, progress: bool = True) -> list[DepthPrediction]:
        """Depth for every image, in order: cached where the key matches, computed (and stored) otherwise.

        ``K`` / ``T_world_cam``: None, one matrix for all, or one per image (as for ``DA3Depth.predict``).
        """
        paths = [Path(p) for p in image_paths]
        n = len(paths)
        Ks = broadcast_matrices(K, n, (3, 3), "K")
        poses = broadcast_matrices(T_world_cam, n, (4, 4), "T_world_cam")
        settings = predictor.settings()
        keys = [self.key(p, settings, Ks[i], poses[i]) for i, p in enumerate(paths)]
        out: list[DepthPrediction | None] = [self._load(self.entry_path(k), k) for k in keys]
        todo = [i for i, r in enumerate(out) if r is None]
        self.stats["hits"] += n - len(todo)
        self.stats["misses"] += len(todo)
        if todo:
            self.root.mkdir(parents=True, exist_ok=True)
            group = max(1, int(getattr(predictor, "views_per_call", 1)))
            batches = [todo[i:i + group] for i in range(0, len(todo), group)]
            if progress:
                from rich.progress import track

                batches = track(batches, description=f"depth: {len(todo)} of {n} images not cached")
            for batch in batches:
                preds = predictor.predict([str(paths[i]) for i in batch], K=[Ks[i] for i in batch],
                                          T_world_cam=[poses[i] for i in batch])
                if len(preds) != len(batch):
                    raise ValueError(f"predictor returned {len(preds)} predictions for {len(batch)} images")
                for i, pred in zip(batch, preds, strict=True):
                    pred.source = str(paths[i].resolve())
                    self._store(keys[i], pred)
                    out[i] = pred
        return out  # type: ignore[return-value]
