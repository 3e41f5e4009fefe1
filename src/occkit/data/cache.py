"""The preprocessing cache: one compact .npz per sample plus a manifest that says what it was built from.

Layout::

    <cache_dir>/manifest.json            format version, grid, input/target/alignment settings, per split:
                                         the source's fingerprint, complete flag, per-frame alignment path
    <cache_dir>/<split>/<frame_id>.npz   one sample (frame ids with unsafe characters are sanitised)

Entry encoding (exact, not lossy, except a dense input which is float16):
- ``target``: flat indices (int32, into the (Z, Y, X) array) of the non-zero voxels, plus their float32 values
  for soft targets.
- ``input``: flat indices + float32 values when fewer than 1/4 of the channels' voxels are non-zero (the
  usual case), else the dense array as float16.
- ``mask``: ``np.packbits`` of the (Z, Y, X) bool array.

Rule for a stale cache: when the grid, the input/target/alignment settings, the format or pipeline version
(``occkit.data.grids.PIPELINE_VERSION``) or a split's source fingerprint differ from what the manifest
records, the cache is never reused: ``check_manifest`` raises ``CacheError`` telling the user to re-run
``occkit preprocess --overwrite``.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from occkit.data.config import DataConfig
from occkit.data.grids import PIPELINE_VERSION
from occkit.errors import OccKitError
from occkit.utils.atomic import atomic_write, atomic_write_text
from occkit.utils.npz import savez_fast

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
_SPARSE_BELOW = 0.25
# the camera arrays of a sample (occkit.data.camera_inputs), stored as they are
CAMERA_DTYPES = {"image": np.uint8, "K": np.float32, "T_grid_cam": np.float32, "depth_gt": np.float32}


class CacheError(OccKitError, ValueError):
    """The preprocessing cache is stale, corrupt or built with other settings."""


# ---- names and settings --------------------------------------------------------------------------
def entry_name(frame_id: str) -> str:
    """A file name for a frame id: unsafe characters become '_' and a short hash keeps names unique."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", frame_id)
    if safe != frame_id or safe.startswith("."):
        safe = f"{safe.lstrip('.') or '_'}-{hashlib.sha1(frame_id.encode()).hexdigest()[:8]}"
    return f"{safe}.npz"


def entry_path(cache_dir: str | Path, split: str, frame_id: str) -> Path:
    return Path(cache_dir) / split / entry_name(frame_id)


def cache_settings(cfg: DataConfig) -> dict[str, Any]:
    """Everything a cached sample depends on besides the source itself."""
    return {
        "format_version": FORMAT_VERSION,
        "pipeline_version": PIPELINE_VERSION,
        "grid": cfg.grid.model_dump(mode="json"),
        "input": _input_settings(cfg),
        "target": cfg.target.model_dump(mode="json"),
        "alignment": {"ego_frame": cfg.ego_frame, "fallback_to_lidar_center": cfg.fallback_to_lidar_center,
                      "min_in_range_ratio": cfg.min_in_range_ratio,
                      "use_dataset_grid_frame": cfg.use_dataset_grid_frame},
    }  # the source is covered by its fingerprint, recorded per split


def _input_settings(cfg: DataConfig) -> dict[str, Any]:
    """The input config as the cache key sees it; no camera is left out, so caches made before the camera
    option existed stay valid."""
    from occkit.utils.keys import dump_without_unset

    return _without_unused_margin(cfg, dump_without_unset(cfg.input, {"camera"}))


def _without_unused_margin(cfg: DataConfig, settings: dict[str, Any]) -> dict[str, Any]:
    """Input settings minus a feature's settings unless that feature is read (``free_margin``, ``surface_*``), so
    keys made before they existed match."""
    if "free" not in cfg.input.features:
        settings.pop("free_margin", None)
    if "surface" not in cfg.input.features:
        settings.pop("surface_margin", None)
        settings.pop("surface_window", None)
    return settings


def _norm(obj: Any) -> Any:
    """JSON round trip so tuples/lists and floats compare the way they are stored."""
    return json.loads(json.dumps(obj))


# ---- manifest --------------------------------------------------------------------------------------
def manifest_path(cache_dir: str | Path) -> Path:
    return Path(cache_dir) / MANIFEST


def read_manifest(cache_dir: str | Path) -> dict[str, Any] | None:
    path = manifest_path(cache_dir)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise CacheError(f"{path}: unreadable cache manifest ({err}); re-run `occkit preprocess --overwrite`") from None
    if not isinstance(data, dict) or "settings" not in data:
        raise CacheError(f"{path}: not an occkit cache manifest; re-run `occkit preprocess --overwrite`")
    return data


def write_manifest(cache_dir: str | Path, manifest: dict[str, Any]) -> None:
    atomic_write_text(manifest_path(cache_dir), json.dumps(manifest, indent=1, sort_keys=True))


def new_manifest(cfg: DataConfig) -> dict[str, Any]:
    return {"format_version": FORMAT_VERSION, "settings": _norm(cache_settings(cfg)), "splits": {}}


def stale_reasons(manifest: dict[str, Any], cfg: DataConfig, split: str | None = None,
                  fingerprint: str | None = None) -> list[str]:
    """What differs between the cache and the current config/source (empty = the cache is usable)."""
    reasons = []
    want = _norm(cache_settings(cfg))
    have = manifest.get("settings", {})
    for key in want:
        if have.get(key) != want[key]:
            reasons.append(f"{key}: cache has {have.get(key)!r}, config has {want[key]!r}")
    if split is not None and fingerprint is not None:
        rec = manifest.get("splits", {}).get(split)
        if rec is not None and rec.get("fingerprint") != fingerprint:
            reasons.append(f"split {split!r} source fingerprint: cache has {rec.get('fingerprint')!r}, "
                           f"source now has {fingerprint!r} (the data on disk changed)")
    return reasons


def check_manifest(manifest: dict[str, Any], cfg: DataConfig, cache_dir: str | Path, split: str | None = None,
                   fingerprint: str | None = None) -> None:
    """Raise CacheError listing the differences when the cache was built from something else."""
    reasons = stale_reasons(manifest, cfg, split, fingerprint)
    if reasons:
        raise CacheError(f"{manifest_path(cache_dir)}: the preprocessing cache is stale:\n  " + "\n  ".join(reasons)
                         + "\nre-run `occkit preprocess --config ... --overwrite` (or point data.cache_dir elsewhere)")


# ---- entries ---------------------------------------------------------------------------------------
def _sparse(prefix: str, arr: np.ndarray, out: dict[str, np.ndarray], keep_values: bool) -> None:
    flat = arr.reshape(-1)
    idx = np.flatnonzero(flat)
    out[f"{prefix}_idx"] = idx.astype(np.int32 if flat.size < 2**31 else np.int64)
    if keep_values:
        out[f"{prefix}_val"] = flat[idx].astype(np.float32)
    out[f"{prefix}_shape"] = np.asarray(arr.shape, np.int64)


def encode(sample: dict[str, Any]) -> dict[str, np.ndarray]:
    """A FrameToGrids sample -> arrays for np.savez."""
    out: dict[str, np.ndarray] = {"format_version": np.asarray(FORMAT_VERSION)}
    inp = sample["input"]
    if np.count_nonzero(inp) < _SPARSE_BELOW * inp.size:
        _sparse("input", inp, out, keep_values=True)
    else:
        out["input_dense"] = inp.astype(np.float16)
    tgt = sample["target"]
    _sparse("target", tgt, out, keep_values=not np.all((tgt == 0) | (tgt == 1)))
    if sample.get("mask") is not None:
        out["mask_bits"] = np.packbits(sample["mask"].reshape(-1))
        out["mask_shape"] = np.asarray(sample["mask"].shape, np.int64)
    for key in ("frame_id", "alignment_path", "alignment_message"):
        out[key] = np.asarray(str(sample[key]))
    for key in ("in_range_ratio", "target_rate"):
        out[key] = np.asarray(float(sample[key]))
    if sample.get("sensor_origins") is not None:
        out["sensor_origins"] = np.asarray(sample["sensor_origins"], np.float32).reshape(-1, 3)
    for key, dtype in CAMERA_DTYPES.items():
        if sample.get(key) is not None:
            out[key] = np.asarray(sample[key], dtype)
    return out


def _dense(data: Any, prefix: str) -> np.ndarray:
    shape = tuple(int(s) for s in data[f"{prefix}_shape"])
    arr = np.zeros(int(np.prod(shape)), np.float32)
    idx = data[f"{prefix}_idx"]
    arr[idx] = data[f"{prefix}_val"] if f"{prefix}_val" in data else 1.0
    return arr.reshape(shape)


def decode(data: Any) -> dict[str, Any]:
    """Arrays from np.load -> the FrameToGrids sample dict (float32 input/target, bool mask)."""
    out: dict[str, Any] = {}
    out["input"] = (data["input_dense"].astype(np.float32) if "input_dense" in data else _dense(data, "input"))
    out["target"] = _dense(data, "target")
    if "mask_bits" in data:
        shape = tuple(int(s) for s in data["mask_shape"])
        out["mask"] = np.unpackbits(data["mask_bits"], count=int(np.prod(shape))).astype(bool).reshape(shape)
    for key in ("frame_id", "alignment_path", "alignment_message"):
        out[key] = str(data[key])
    for key in ("in_range_ratio", "target_rate"):
        out[key] = float(data[key])
    # copies: the arrays may be the ones a loader keeps in memory (read_arrays), which a batch must not share
    if "sensor_origins" in data:
        out["sensor_origins"] = np.array(data["sensor_origins"], np.float32).reshape(-1, 3)
    for key, dtype in CAMERA_DTYPES.items():
        if key in data:
            out[key] = np.array(data[key], dtype)
    return out


def write_entry(path: Path, sample: dict[str, Any]) -> None:
    """Write one sample atomically (a crash leaves either the old file or none, never half a file)."""
    arrays = encode(sample)

    def _write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:  # a file object: np.savez would append ".npz" to a bare path
            savez_fast(fh, **arrays)

    atomic_write(path, _write)


def read_entry(path: Path, expect_shapes: dict[str, tuple[int, ...]] | None = None) -> dict[str, Any]:
    """Read one cached sample; CacheError (naming the file) when it is corrupt or has other shapes."""
    return decode_checked(path, read_arrays(path), expect_shapes)


def read_arrays(path: Path) -> dict[str, np.ndarray]:
    """The stored arrays of one entry, decompressed but not yet made dense: what a loader keeps in memory
    (``OccupancyDataset``), since decompressing is most of a read. CacheError (naming the file) when corrupt."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except Exception as err:  # zip/npz errors come in many types
        raise CacheError(f"{path}: corrupt cache entry ({type(err).__name__}: {err}); "
                         "re-run `occkit preprocess` to rebuild it") from None
    version = int(arrays["format_version"]) if "format_version" in arrays else None
    if version != FORMAT_VERSION:
        raise CacheError(f"{path}: cache entry has format {version}, expected {FORMAT_VERSION}; "
                         "re-run `occkit preprocess --overwrite`")
    return arrays


def decode_checked(path: Path, arrays: dict[str, np.ndarray],
                   expect_shapes: dict[str, tuple[int, ...]] | None = None) -> dict[str, Any]:
    """``decode`` with one line naming ``path`` when the entry is incomplete or has other shapes."""
    try:
        sample = decode(arrays)
    except Exception as err:
        raise CacheError(f"{path}: corrupt cache entry ({type(err).__name__}: {err}); "
                         "re-run `occkit preprocess` to rebuild it") from None
    for key, shape in (expect_shapes or {}).items():
        if key in sample and tuple(sample[key].shape) != tuple(shape):
            raise CacheError(f"{path}: {key} has shape {tuple(sample[key].shape)}, expected {tuple(shape)}; "
                             "re-run `occkit preprocess --overwrite`")
    return sample


def entry_is_valid(path: Path) -> bool:
    """Cheap check used to resume: the file opens as an npz of this format (writes are atomic, so a file
    under its final name is complete unless something outside occkit damaged it)."""
    if not path.is_file():
        return False
    try:
        with np.load(path, allow_pickle=False) as data:
            return "format_version" in data.files and int(data["format_version"]) == FORMAT_VERSION
    except Exception:
        return False


def read_entry_meta(path: Path) -> dict[str, Any]:
    """The small per-sample record the manifest keeps (alignment path and rates) without decoding grids."""
    with np.load(path, allow_pickle=False) as data:
        return {"frame_id": str(data["frame_id"]), "alignment_path": str(data["alignment_path"]),
                "in_range_ratio": float(data["in_range_ratio"]), "target_rate": float(data["target_rate"])}


def remove_leftover_temp_files(split_dir: Path) -> int:
    """Delete temporary files a killed run left behind; returns how many."""
    n = 0
    for tmp in split_dir.glob(".*.tmp"):
        tmp.unlink(missing_ok=True)
        n += 1
    return n


def default_cache_dir(cfg: DataConfig, root: str | Path, name: str) -> Path:
    """``<root>/cache/<name>-<key>`` (absolute): the key hashes every data setting the cached grids depend on,
    so a changed config (another grid, more frames, other features) gets its own cache, not a stale-cache error."""
    import hashlib

    from occkit.data.grids import PIPELINE_VERSION

    data = cfg.model_dump(mode="json", exclude={"batch_size", "num_workers", "cache_dir", "augment",
                                                 "memory_cache_mb"})
    data["input"] = _without_unused_margin(cfg, data["input"])
    # settings added later, left at their default: a folder name made before they existed stays the same
    if getattr(cfg.source, "camera_views", None) == 1:
        data["source"].pop("camera_views")
    if hasattr(cfg.source, "depth_noise"):
        data["source"]["depth_noise"] = cfg.source.depth_noise.key_dump()
    data["pipeline_version"] = PIPELINE_VERSION  # a new pipeline gets a new cache, not a stale-cache error
    key = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]
    return Path(root).resolve() / "cache" / f"{name}-{key}"  # absolute: the same cache from any folder
