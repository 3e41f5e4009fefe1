"""`occkit preprocess` end to end on the built-in synthetic world: cache written, stale cache refused, overwrite."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from occkit.cli import app
from occkit.config import load_config
from occkit.data.dataset import OccupancyDataset
from occkit.data.grids import FrameToGrids

CONFIG = '''
from occkit.config import ExperimentConfig
config = ExperimentConfig(data={
    "source": {"kind": "synthetic", "train_frames": 2, "val_frames": 1, "test_frames": 0},
    "grid": {"pc_range": [-40.0, -40.0, -4.0, 40.0, 40.0, 47.2], "voxel_size": [1.6, 1.6, 3.2]},
    "input": {"features": ["soft", "max_height"]},
    "target": {"kind": "hard", "use_visibility_mask": True},
})
'''


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    pytest.importorskip("occkit.synthetic.world")  # the synthetic world (another engineer's module)
    path = tmp_path / "synthetic_small.py"
    path.write_text(CONFIG)
    return path


def test_preprocess_cli_on_synthetic_world(tmp_path: Path, config_file: Path) -> None:
    cache = tmp_path / "cache"
    runner = CliRunner()
    args = ["preprocess", "--config", str(config_file), "--split", "train,val", "--set", f"data.cache_dir={cache}"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    manifest = json.loads((cache / "manifest.json").read_text())
    assert set(manifest["splits"]) == {"train", "val"}
    assert all(rec["complete"] for rec in manifest["splits"].values())
    assert len(list((cache / "train").glob("*.npz"))) == 2 and len(list((cache / "val").glob("*.npz"))) == 1
    for rec in manifest["splits"]["train"]["frames"].values():
        assert rec["path"] == "ego" and 0 < rec["target_rate"] < 0.2

    # the dataset reads the cache and matches what FrameToGrids computes now
    cfg = load_config(config_file, [f"data.cache_dir={cache}"]).data
    ds = OccupancyDataset(cfg, "val")
    assert ds.cache_dir == cache
    cached = ds.load(0)
    fresh = FrameToGrids(cfg)(ds.source[0])
    for key in ("input", "target", "mask"):
        np.testing.assert_array_equal(cached[key], fresh[key], err_msg=key)
    batch = ds[0]
    assert batch["input"].shape == (2 * 16, 50, 50) and batch["mask"].shape == (16, 50, 50)

    # another grid: refused (exit 2, says what changed and what to do), then rebuilt with --overwrite
    other = args + ["--set", "data.grid.voxel_size=[1.6, 1.6, 1.6]", "--split", "val"]
    res = runner.invoke(app, other)
    assert res.exit_code == 2 and "stale" in res.output and "--overwrite" in res.output
    res = runner.invoke(app, other + ["--overwrite"])
    assert res.exit_code == 0, res.output
    manifest = json.loads((cache / "manifest.json").read_text())
    assert manifest["settings"]["grid"]["voxel_size"] == [1.6, 1.6, 1.6] and set(manifest["splits"]) == {"val"}
    assert not (cache / "train").exists()  # entries built with the old grid are gone, not left to be misread


def test_preprocess_cli_reports_bad_input(tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["preprocess", "--config", str(tmp_path / "nope.py")])
    assert res.exit_code == 2 and "nope.py" in res.output
    cfg = tmp_path / "c.py"
    cfg.write_text("config = {}\n")
    res = runner.invoke(app, ["preprocess", "--config", str(cfg), "--split", "train,dev"])
    assert res.exit_code == 2 and "--split" in res.output


def test_preprocess_accepts_a_train_config_without_cache_dir(tmp_path: Path) -> None:
    """No data.cache_dir: preprocess fills the folder `occkit train` will read, from any working folder."""
    from occkit.config import load_config, resolve_cache_dir

    cfg = tmp_path / "c.py"
    cfg.write_text(f"""config = {{"name": "nocache", "trainer": {{"runs_root": {str(tmp_path / 'runs')!r}}},
    "data": {{"source": {{"kind": "synthetic", "train_frames": 1, "val_frames": 1}},
             "grid": {{"pc_range": [-40, -40, -4, 40, 40, 47.2], "voxel_size": [4.0, 4.0, 6.4]}}}}}}
""")
    res = CliRunner().invoke(app, ["preprocess", "--config", str(cfg), "--no-progress", "-j", "1"])
    assert res.exit_code == 0, res.output
    expected = Path(resolve_cache_dir(load_config(cfg), always=True).data.cache_dir)
    assert expected.is_absolute() and expected.parent == (tmp_path / "runs" / "cache").resolve()
    assert (expected / "manifest.json").is_file() and len(list((expected / "train").glob("*.npz"))) == 1
