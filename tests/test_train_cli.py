"""`occkit train` end to end on the built-in synthetic world at a tiny grid (real data pipeline, model, loss)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_train_support import column, read_metrics_csv
from typer.testing import CliRunner

from occkit.cli import app

TINY_SYNTHETIC = '''
from occkit.config import ExperimentConfig
from occkit.geometry.grid import GridSpec

config = ExperimentConfig(
    name="tinysyn",
    data={"source": {"kind": "synthetic", "preset": "uav_town", "train_frames": 2, "val_frames": 1},
          "grid": GridSpec(pc_range=(-40.0, -40.0, -4.0, 40.0, 40.0, 47.2), voxel_size=(4.0, 4.0, 6.4)),
          "batch_size": 1},
    model={"unet_channels": [4, 8]},
    trainer={"max_epochs": 1, "accelerator": "cpu", "progress_bar": False, "model_summary": False,
             "log_every_n_steps": 1, "num_sanity_val_steps": 0},
    health={"every_n_steps": 1},
)
'''


@pytest.fixture()
def tiny_config_file(tmp_path: Path) -> Path:
    path = tmp_path / "tinysyn.py"
    path.write_text(TINY_SYNTHETIC)
    return path


@pytest.mark.slow
def test_cli_trains_on_synthetic_frames_and_prints_the_summary(tiny_config_file: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", "--config", str(tiny_config_file), "--run-dir", str(run_dir),
                                      "--set", "trainer.max_epochs=2"])
    assert result.exit_code == 0, result.output
    assert f"run dir: {run_dir}" in result.output
    assert "parameters:" in result.output and "validation IoU: " in result.output
    status = json.loads((run_dir / "status.json").read_text())
    assert status["state"] == "finished" and status["global_step"] == 4
    assert json.loads((run_dir / "config.json").read_text())["trainer"]["max_epochs"] == 2  # --set applied
    rows = read_metrics_csv(run_dir)
    assert len(column(rows, "train/loss")) == 4 and len(column(rows, "val/iou")) == 2
    assert (run_dir / "checkpoints" / "best.ckpt").is_file()


@pytest.mark.slow
def test_cli_exits_3_when_the_health_guard_stops_the_run(tiny_config_file: Path, tmp_path: Path) -> None:
    # A head that predicts nothing and a learning rate too small to change it: a collapse from step 1 (without the
    # copy path, which would start at the copied input instead).
    result = CliRunner().invoke(app, [
        "train", "--config", str(tiny_config_file), "--set", f"trainer.runs_root={tmp_path / 'runs'}",
        "--set", "optim.lr=1e-9", "--set", "optim.warmup_steps=0", "--set", "model.prior_occupancy=1e-6",
        "--set", "model.input_skip=false",
        "--set", "health.guard=stop", "--set", "health.collapse_patience=1", "--set", "health.collapse_grace_steps=0"])
    assert result.exit_code == 3, result.output
    assert "health guard" in result.output
    (run,) = (tmp_path / "runs").iterdir()
    status = json.loads((run / "status.json").read_text())
    assert status["state"] == "stopped_by_guard" and "collapse" in status["message"]
    assert (run / "events.jsonl").read_text().count('"collapse"') >= 1
