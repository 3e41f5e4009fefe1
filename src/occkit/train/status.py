"""status.json: the one-line truth about a run (running / finished / crashed / interrupted / stopped_by_guard)."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Any, Literal

from occkit.utils.atomic import atomic_write_text

State = Literal["running", "finished", "crashed", "interrupted", "stopped_by_guard"]


def write_status(run_dir: Path, state: State, global_step: int, message: str = "", **extra: Any) -> None:
    """Write status.json atomically so a reader never sees half a file; pid, host and time are the heartbeat
    that lets ``occkit doctor`` tell a live run from a killed one."""
    data = {"state": state, "global_step": int(global_step), "message": message,
            "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "pid": os.getpid(), "host": socket.gethostname(),
            **extra}
    atomic_write_text(Path(run_dir) / "status.json", json.dumps(data, indent=2, default=str))


def read_status(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / "status.json"
    return json.loads(path.read_text()) if path.is_file() else {}
