"""Fill the preprocessing cache: every frame of the chosen splits -> ``<cache_dir>/<split>/<frame_id>.npz``.

Parallel (``workers`` processes, started with "spawn" so a parent that already imported torch is safe),
resumable (valid entries are skipped; temp files of a killed run are removed) and atomic (each entry and
the manifest are written to a temp file and renamed). A cache built from other settings or other source
data is an error unless ``overwrite=True`` (see ``occkit.data.cache``), which rebuilds the requested splits
and drops every split built with other settings. Deleting is limited to the entries the manifest names; a
non-empty folder without an occkit manifest is refused, with or without ``overwrite``.
"""

from __future__ import annotations

import importlib
import multiprocessing as mp
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from occkit.data import cache as C
from occkit.data.config import DataConfig
from occkit.data.grids import FrameToGrids
from occkit.errors import ConfigError, OccKitError
from occkit.sources.base import Source


@dataclass
class SplitReport:
    """What one split's preprocessing did."""

    split: str
    total: int
    written: int
    skipped: int
    seconds: float
    paths: dict[str, int] = field(default_factory=dict)  # alignment path -> frame count


# ---- per-process state (one FrameToGrids and one Source per worker) ----------------------------------
_STATE: dict[str, Any] = {}


def _init_worker(cfg_json: str, split: str, source: Source | None) -> None:
    cfg = DataConfig.model_validate_json(cfg_json)
    _STATE.clear()
    _STATE.update(cfg=cfg, split=split, to_grids=FrameToGrids(cfg),
                  source=source if source is not None else cfg.source.build(split))


def _process_one(index: int, frame_id: str) -> dict[str, Any]:
    """Build and write one entry; errors come back as data (some occkit errors do not pickle)."""
    try:
        frame = _STATE["source"][index]
        if frame.frame_id != frame_id:
            raise ConfigError(f"source split {_STATE['split']!r}: frame_ids[{index}] is {frame_id!r} but the frame "
                              f"read at that index says {frame.frame_id!r}")
        sample = _STATE["to_grids"](frame)
        C.write_entry(C.entry_path(_STATE["cfg"].cache_dir, _STATE["split"], frame_id), sample)
        return {"frame_id": frame_id, "alignment_path": sample["alignment_path"],
                "in_range_ratio": sample["in_range_ratio"], "target_rate": sample["target_rate"]}
    except Exception as err:  # noqa: BLE001 - re-raised in the parent with its type
        return {"frame_id": frame_id, "error": str(err),
                "error_type": f"{type(err).__module__}:{type(err).__qualname__}"}


def _reraise(record: dict[str, Any]) -> None:
    module, _, name = record["error_type"].partition(":")
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        cls = RuntimeError
    msg = record["error"]
    if isinstance(cls, type) and issubclass(cls, OccKitError):
        err = cls.__new__(cls)
        Exception.__init__(err, msg)
        raise err
    raise RuntimeError(f"preprocessing frame {record['frame_id']!r} failed: {record['error_type']}: {msg}")


# ---- driver ---------------------------------------------------------------------------------------------
def _prepare_manifest(cfg: DataConfig, cache_dir: Path, overwrite: bool) -> dict[str, Any]:
    """The manifest to fill. occkit writes only into an empty folder or its own cache, and deletes only the
    entries its manifest names: a folder holding anything else is refused, even with ``overwrite``."""
    manifest = C.read_manifest(cache_dir)
    if manifest is None:
        foreign = sorted(p.name for p in cache_dir.iterdir()) if cache_dir.is_dir() else []
        if foreign:
            raise C.CacheError(f"{cache_dir}: data.cache_dir is not empty and holds no occkit {C.MANIFEST} (found "
                               f"{', '.join(foreign[:3])}{', ...' if len(foreign) > 3 else ''}); occkit will not "
                               "write into or delete from a folder it did not create: point data.cache_dir at "
                               "an empty or new folder")
        return C.new_manifest(cfg)
    if overwrite and C.stale_reasons(manifest, cfg):
        for split in list(manifest.get("splits", {})):  # every split was built with the old settings
            _remove_named_entries(cache_dir, split, manifest)
        return C.new_manifest(cfg)
    C.check_manifest(manifest, cfg, cache_dir)
    return manifest


def _remove_named_entries(cache_dir: Path, split: str, manifest: dict[str, Any]) -> None:
    """Delete the entries of ``split`` that the manifest lists (occkit's own files), then the folder if empty."""
    rec = manifest.get("splits", {}).pop(split, None) or {}
    for frame_id in rec.get("frames", {}):
        C.entry_path(cache_dir, split, frame_id).unlink(missing_ok=True)
    split_dir = cache_dir / split
    if split_dir.is_dir():
        C.remove_leftover_temp_files(split_dir)
        if not any(split_dir.iterdir()):
            split_dir.rmdir()


def preprocess(
    cfg: DataConfig,
    splits: Sequence[str] = ("train", "val"),
    *,
    workers: int = 1,
    overwrite: bool = False,
    sources: dict[str, Source] | None = None,
    progress: bool = True,
) -> list[SplitReport]:
    """Write every frame of ``splits`` into ``cfg.cache_dir``; returns one report per split.

    ``sources`` (split -> Source) replaces ``cfg.source.build(split)`` (frames held in memory, tests).
    """
    if not cfg.cache_dir:
        raise ConfigError("data.cache_dir is not set: preprocessing needs a folder to write the cache into "
                          "(e.g. --set data.cache_dir=cache/myrun)")
    if workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {workers}")
    cache_dir = Path(cfg.cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    manifest = _prepare_manifest(cfg, cache_dir, overwrite)
    reports = []
    for split in splits:
        source = (sources or {}).get(split) or cfg.source.build(split)
        reports.append(_preprocess_split(cfg, split, source, manifest, cache_dir, workers, overwrite, progress,
                                         pass_source=sources is not None and split in sources))
    return reports


def _preprocess_split(cfg: DataConfig, split: str, source: Source, manifest: dict[str, Any], cache_dir: Path,
                      workers: int, overwrite: bool, progress: bool, pass_source: bool) -> SplitReport:
    start = time.perf_counter()
    ids = list(source.frame_ids)
    dupes = [k for k, n in Counter(ids).items() if n > 1]
    if dupes:
        raise ConfigError(f"source split {split!r}: frame ids must be unique (cache keys), repeated: {dupes[:5]}")
    fingerprint = source.fingerprint()
    split_dir = cache_dir / split
    old = manifest["splits"].get(split)
    if old is not None and old.get("fingerprint") != fingerprint and not overwrite:
        C.check_manifest(manifest, cfg, cache_dir, split, fingerprint)
    if overwrite:  # rebuild the split: drop the entries the manifest names; every frame is written again
        _remove_named_entries(cache_dir, split, manifest)
        old = None
    split_dir.mkdir(parents=True, exist_ok=True)
    C.remove_leftover_temp_files(split_dir)
    frames: dict[str, Any] = dict((old or {}).get("frames", {}))
    manifest["splits"][split] = {"fingerprint": fingerprint, "complete": False, "num_frames": len(ids),
                                 "frames": frames}
    C.write_manifest(cache_dir, manifest)

    todo, skipped = [], 0
    for i, fid in enumerate(ids):
        path = C.entry_path(cache_dir, split, fid)
        if not overwrite and C.entry_is_valid(path):
            skipped += 1
            if fid not in frames:
                frames[fid] = _record(C.read_entry_meta(path))
        else:
            todo.append((i, fid))
            frames.pop(fid, None)

    for rec in _run(cfg, split, source if pass_source else None, todo, workers, progress):
        if "error" in rec:
            C.write_manifest(cache_dir, manifest)  # keep what was done; a re-run resumes
            _reraise(rec)
        frames[rec["frame_id"]] = _record(rec)

    manifest["splits"][split]["complete"] = True
    manifest["splits"][split]["paths"] = dict(Counter(r["path"] for r in frames.values()))
    C.write_manifest(cache_dir, manifest)
    return SplitReport(split, len(ids), len(todo), skipped, time.perf_counter() - start,
                       manifest["splits"][split]["paths"])


def _record(meta: dict[str, Any]) -> dict[str, Any]:
    return {"path": meta["alignment_path"], "in_range_ratio": round(float(meta["in_range_ratio"]), 6),
            "target_rate": float(meta["target_rate"])}


def _run(cfg: DataConfig, split: str, source: Source | None, todo: list[tuple[int, str]], workers: int,
         progress: bool):
    """Yield one record per frame in ``todo`` as it finishes, with a progress bar."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn(f"preprocess {split}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    cfg_json = cfg.model_dump_json()
    with Progress(*columns, disable=not progress or not todo, transient=False) as bar:
        task = bar.add_task(split, total=len(todo))
        if workers == 1 or len(todo) <= 1:
            _init_worker(cfg_json, split, source)
            for i, fid in todo:
                rec = _process_one(i, fid)
                bar.advance(task)
                yield rec
            return
        ctx = mp.get_context("spawn")
        with ProcessPoolExecutor(max_workers=min(workers, len(todo)), mp_context=ctx, initializer=_init_worker,
                                 initargs=(cfg_json, split, source)) as pool:
            pending = {pool.submit(_process_one, i, fid) for i, fid in todo}
            try:
                while pending:
                    done, pending = wait(pending, return_when=FIRST_EXCEPTION, timeout=0.5)
                    for fut in done:
                        bar.advance(task)
                        yield fut.result()
            finally:
                for fut in pending:
                    fut.cancel()
