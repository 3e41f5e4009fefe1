"""Errors a user can cause are one `error:` line with exit code 2, never a traceback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from occkit.cli import app

BUNNY = Path(__file__).parent / "data" / "real" / "bunny.pcd"


def _one_line_error(result, *needles: str) -> None:
    assert result.exit_code == 2, result.output
    text = result.output.strip()
    assert "Traceback" not in text
    line = text.splitlines()[-1]
    for needle in needles:
        assert needle in line, text


@pytest.mark.parametrize("body, where, what", [
    ('config = dict(\n    name="x"\n    seed=1)\n', ":2:", "syntax error"),
    ('import math\nx = 1\nconfig = {"name": math.sqrt(-1)}\n', ":3:", "raised ValueError: math domain error"),
])
def test_broken_config_file_names_its_line(tmp_path: Path, body: str, where: str, what: str) -> None:
    cfg = tmp_path / "broken.py"
    cfg.write_text(body)
    for verb in (["train", "-c", str(cfg)], ["preprocess", "-c", str(cfg)]):
        _one_line_error(CliRunner().invoke(app, verb), f"broken.py{where}", what)


def test_a_grid_too_large_for_memory_is_named(tmp_path: Path) -> None:
    cfg = tmp_path / "huge.py"
    cfg.write_text(
        "config = {'name': 'huge', 'data': {'source': {'kind': 'synthetic', 'train_frames': 1, 'val_frames': 1},\n"
        "  'grid': {'pc_range': [-400, -400, -5, 400, 400, 55.5], 'voxel_size': [0.05, 0.05, 0.05]},\n"
        f"  'cache_dir': {str(tmp_path / 'cache')!r}}}}}\n")
    _one_line_error(CliRunner().invoke(app, ["preprocess", "-c", str(cfg)]), "16000x16000x1210", "GiB",
                    "larger voxel_size")


def test_voxelize_out_folder_gets_the_input_name(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["voxelize", str(BUNNY), "--grid", "uav", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "bunny.npz").is_file()


def test_synth_out_on_a_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "afile"
    target.write_text("mine")
    result = CliRunner().invoke(app, ["synth", "--out", str(target), "--frames", "1"])
    assert result.exit_code == 2 and "is a file" in result.output
    assert target.read_text() == "mine"


@pytest.mark.parametrize("name", ["noise.npy", "noise.npz", "noise.png"])
def test_viz_on_a_binary_file(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(np.random.default_rng(0).bytes(3000))
    _one_line_error(CliRunner().invoke(app, ["viz", str(path), "--out", str(tmp_path / "v")]), name)
