"""Atomic writes leave either the old file or the new one, with normal permissions."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from occkit.utils.atomic import atomic_write, atomic_write_text


def test_replaces_and_keeps_readable_permissions(tmp_path: Path) -> None:
    path = tmp_path / "report.md"
    path.write_text("old")
    atomic_write_text(path, "new")
    assert path.read_text() == "new"
    mode = stat.S_IMODE(path.stat().st_mode)
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask


def test_failed_write_keeps_the_old_file_and_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "model.ckpt"
    path.write_text("good")

    def crash(tmp: Path) -> None:
        tmp.write_text("half")
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError):
        atomic_write(path, crash)
    assert path.read_text() == "good"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.ckpt"]
