"""Read an offline W&B run back from its ``run-*.wandb`` transaction log, with wandb's own protobufs.

The file is a LevelDB-style log (a 7-byte ``:W&B`` header, then 32 KiB blocks of CRC-checked chunks);
each assembled record is a ``wandb_internal_pb2.Record``. wandb >= 0.19 no longer ships a Python reader.
"""

from __future__ import annotations

import json
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path

BLOCK = 32768
HEADER = 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def iter_records(path: Path):
    from wandb.proto import wandb_internal_pb2

    data = Path(path).read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B transaction log"
    pos, pending = HEADER, b""
    while pos + HEADER <= len(data):
        left_in_block = BLOCK - pos % BLOCK
        if left_in_block < HEADER:
            pos += left_in_block
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + HEADER])
        chunk = data[pos + HEADER:pos + HEADER + length]
        pos += HEADER + length
        if kind == 0 and length == 0:
            pos += BLOCK - pos % BLOCK if pos % BLOCK else 0
            continue
        pending = chunk if kind in (FULL, FIRST) else pending + chunk
        if kind in (FULL, LAST):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            yield record
            pending = b""


@dataclass
class OfflineRun:
    metrics: dict[str, list[float]] = field(default_factory=dict)
    config: dict[str, object] = field(default_factory=dict)
    artifacts: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    name: str = ""


def _key(item) -> str:
    return "/".join(item.nested_key) if item.nested_key else item.key


def _complete_records(wandb_dir: Path, timeout: float) -> list:
    """The records once the ``exit`` record is there (wandb-core writes the log in the background)."""
    deadline = time.monotonic() + timeout
    while True:
        paths = sorted(Path(wandb_dir).glob("offline-run-*/run-*.wandb"))
        assert len(paths) <= 1, f"expected one offline run in {wandb_dir}, found {paths}"
        records = list(iter_records(paths[0])) if paths else []
        if any(r.WhichOneof("record_type") == "exit" for r in records) or time.monotonic() > deadline:
            return records
        time.sleep(0.5)


def read_offline_run(wandb_dir: Path, timeout: float = 60.0) -> OfflineRun:
    run = OfflineRun()
    for rec in _complete_records(wandb_dir, timeout):
        kind = rec.WhichOneof("record_type")
        items = []
        if kind == "history":
            items = rec.history.item
        elif kind == "request" and rec.request.WhichOneof("request_type") == "partial_history":
            items = rec.request.partial_history.item
        elif kind == "config":
            for item in rec.config.update:
                run.config[_key(item)] = json.loads(item.value_json)
        elif kind == "run":
            run.name = rec.run.display_name
            run.tags = list(rec.run.tags)
            for item in rec.run.config.update:
                run.config[_key(item)] = json.loads(item.value_json)
        elif kind == "artifact":
            run.artifacts.append(rec.artifact.name)
        for item in items:
            value = json.loads(item.value_json)
            if isinstance(value, int | float):
                run.metrics.setdefault(_key(item), []).append(float(value))
    return run
