"""Find what a verb should load when it is given a run directory, a checkpoints/ folder or a .ckpt file.

Every verb that reads a trained model (eval, predict, export, ``occkit.load_model``) takes any of the three:
a run directory gives the checkpoint the main job reported (``report/threshold.json`` names it, with the decision
threshold it chose on a split it does not report), else ``checkpoints/best.ckpt``, else ``last.ckpt``, and its
``config.json`` (which records the cache path actually used).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from occkit.errors import InputFileError

PREFERRED = ("best.ckpt", "last.ckpt")
THRESHOLD_FILE = Path("report") / "threshold.json"


@dataclass(frozen=True)
class RunCheckpoint:
    """A checkpoint file and, when it lives in a run directory, that directory."""

    checkpoint: Path
    run_dir: Path | None

    @property
    def config_json(self) -> Path | None:
        p = self.run_dir / "config.json" if self.run_dir else None
        return p if p is not None and p.is_file() else None

    def chosen_threshold(self) -> dict[str, Any] | None:
        """``{"threshold": t, "chosen_on": split, "checkpoint": name}`` written by the main job for this
        checkpoint, or None (a threshold chosen for last.ckpt does not carry over to best.ckpt)."""
        data = _read_choice(self.run_dir) if self.run_dir else None
        if data is None or not isinstance(data.get("threshold"), int | float):
            return None
        return data if data.get("checkpoint", self.checkpoint.name) == self.checkpoint.name else None


def _read_choice(run_dir: Path) -> dict[str, Any] | None:
    """report/threshold.json as a mapping, or None where it is missing or not a JSON object."""
    p = run_dir / THRESHOLD_FILE
    if not p.is_file():
        return None
    try:
        data = json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _reported(run_dir: Path) -> list[str]:
    """The checkpoint name report/threshold.json records (the main job's choice), or none."""
    name = (_read_choice(run_dir) or {}).get("checkpoint")
    return [name] if isinstance(name, str) and Path(name).name == name and name.endswith(".ckpt") else []


def find_checkpoint(path: str | Path) -> RunCheckpoint:
    """Resolve a run directory, its checkpoints/ folder or a .ckpt file (InputFileError naming what is missing)."""
    path = Path(path)
    if path.is_file():
        parent = path.resolve().parent
        run_dir = parent.parent if parent.name == "checkpoints" else None
        return RunCheckpoint(path, run_dir if run_dir is not None and (run_dir / "config.json").is_file() else None)
    if path.is_dir():
        for folder, run_dir in ((path / "checkpoints", path), (path, path.parent)):
            for name in (*_reported(run_dir), *PREFERRED):
                if (folder / name).is_file():
                    has_run = (run_dir / "config.json").is_file()
                    return RunCheckpoint(folder / name, run_dir if has_run else None)
        raise InputFileError(path, "holds no checkpoints/best.ckpt or checkpoints/last.ckpt; pass a run directory "
                                   "written by `occkit train` or a .ckpt file")
    what = "checkpoint" if path.suffix == ".ckpt" else "run directory or checkpoint"
    raise InputFileError(path, f"{what} not found (expected a run directory written by `occkit train` or a .ckpt "
                               "file)")
