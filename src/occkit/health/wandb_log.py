"""Read a W&B run back from its local transaction log (``wandb/run-*/run-<id>.wandb``), online or offline.

Every W&B run, synced or not, keeps this log beside the training script: a LevelDB-style file (a 7-byte ``:W&B``
header, then 32 KiB blocks of chunks, each with a 7-byte header: CRC, length, kind) whose assembled records are
``wandb_internal_pb2.Record`` protobufs. wandb >= 0.19 ships no Python reader of it, so the framing is read here
and wandb's own protobuf classes parse the records. Parsing data never runs code.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BLOCK = 32768
CHUNK_HEADER = 7
MAGIC = b":W&B"
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4
# a step the user logged beats W&B's own row counter: Lightning's WandbLogger logs trainer/global_step
STEP_KEYS = ("trainer/global_step", "global_step", "step", "iteration", "iter")


class WandbLogError(ValueError):
    """The file is not a W&B transaction log."""


def iter_records(path: Path) -> Iterator[Any]:
    """Every complete record of one ``.wandb`` file, in order; a torn last record (a killed writer) ends it."""
    from google.protobuf.message import DecodeError
    from wandb.proto import wandb_internal_pb2

    data = Path(path).read_bytes()
    if data[:4] != MAGIC:
        raise WandbLogError(f"{path}: not a W&B transaction log (no ':W&B' header)")
    pos, pending = CHUNK_HEADER, b""
    while pos + CHUNK_HEADER <= len(data):
        left_in_block = BLOCK - pos % BLOCK
        if left_in_block < CHUNK_HEADER:  # a block's tail too short for a header is padding
            pos += left_in_block
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + CHUNK_HEADER])
        if kind == 0 and length == 0:  # zero padding to the block's end
            pos += left_in_block
            continue
        chunk = data[pos + CHUNK_HEADER:pos + CHUNK_HEADER + length]
        if len(chunk) < length:
            return
        pos += CHUNK_HEADER + length
        pending = chunk if kind in (FULL, FIRST) else pending + chunk
        if kind in (FULL, LAST):
            record = wandb_internal_pb2.Record()
            try:
                record.ParseFromString(pending)
            except DecodeError:
                return
            yield record
            pending = b""


@dataclass
class WandbRun:
    """What a transaction log holds: history rows as (step, {key: number}), the config, names and artifacts."""

    rows: list[tuple[int, dict[str, float]]] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    name: str = ""
    tags: list[str] = field(default_factory=list)
    artifacts: list[str] = field(default_factory=list)
    finished: bool = False


def _key(item: Any) -> str:
    return "/".join(item.nested_key) if item.nested_key else item.key


def _config_value(value: Any) -> Any:
    """W&B stores some config entries as {"value": v, "desc": …}; the value is what was set."""
    if isinstance(value, dict) and "value" in value and set(value) <= {"value", "desc"}:
        return value["value"]
    return value


def read_wandb_run(path: Path) -> WandbRun:
    """One ``.wandb`` file's history, config and artifacts."""
    run = WandbRun()
    partial: list[tuple[int, dict[str, float]]] = []
    for rec in iter_records(path):
        kind = rec.WhichOneof("record_type")
        if kind == "history":
            run.rows.append(_history_row(list(rec.history.item)))
        elif kind == "request" and rec.request.WhichOneof("request_type") == "partial_history":
            partial.append(_history_row(list(rec.request.partial_history.item)))
        elif kind == "config":
            run.config.update({_key(i): _config_value(json.loads(i.value_json)) for i in rec.config.update})
        elif kind == "run":
            run.name, run.tags = rec.run.display_name, list(rec.run.tags)
            run.config.update({_key(i): _config_value(json.loads(i.value_json)) for i in rec.run.config.update})
        elif kind == "artifact":
            run.artifacts.append(rec.artifact.name)
        elif kind == "exit":
            run.finished = True
    run.rows = run.rows or partial  # the internal process turns partial rows into history rows; a killed one may not
    run.config.pop("_wandb", None)
    return run


def _history_row(items: list[Any]) -> tuple[int, dict[str, float]]:
    values: dict[str, float] = {}
    for item in items:
        try:
            value = json.loads(item.value_json)
        except json.JSONDecodeError:
            continue
        if isinstance(value, int | float) and not isinstance(value, bool):
            values[_key(item)] = float(value)
    step_key = next((k for k in STEP_KEYS if k in values), "_step")
    step = int(values.get(step_key, 0))
    return step, {k: v for k, v in values.items() if not k.startswith("_") and k not in STEP_KEYS}
