"""Fault injection on real tiny trainings: each fault is named by its right cause, the control stays silent,
and the guard in stop mode ends a bad run with status stopped_by_guard and CLI exit code 3."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from occkit.cli import app
from occkit.config import ExperimentConfig
from occkit.experiments.faults import run_fault
from occkit.geometry.grid import GridSpec
from occkit.health.events import TrainingHealthError

TINY_GRID = GridSpec(pc_range=(-40.0, -40.0, -4.0, 40.0, 40.0, 47.2), voxel_size=(2.5, 2.5, 6.4))  # 32x32x8


def tiny_config(cache_dir: Path, runs: Path, **health) -> ExperimentConfig:
    return ExperimentConfig(
        name="tiny",
        data={"source": {"kind": "synthetic", "train_frames": 4, "val_frames": 2, "seed": 3}, "grid": TINY_GRID,
              "batch_size": 2, "cache_dir": str(cache_dir)},
        model={"unet_channels": [8, 16], "prior_occupancy": 0.13},
        optim={"lr": 3e-3, "warmup_steps": 2},
        trainer={"max_steps": 16, "max_epochs": 100, "accelerator": "cpu", "progress_bar": False,
                 "runs_root": str(runs), "log_every_n_steps": 1},
        health={"every_n_steps": 4, "collapse_patience": 2, "plateau_window": 12, **health},
    )


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> ExperimentConfig:
    from occkit.data.preprocessing import preprocess

    root = tmp_path_factory.mktemp("faults")
    cfg = tiny_config(root / "cache", root / "runs")
    preprocess(cfg.data, ["train", "val"], progress=False)
    return cfg


@pytest.mark.parametrize("fault", ["healthy", "nan_inputs", "empty_targets", "misaligned", "offset_6"])
def test_fault_is_named_by_its_cause(fault: str, base: ExperimentConfig, tmp_path: Path) -> None:
    result = run_fault(fault, base, run_root=tmp_path)
    assert result.correct, f"{fault}: detected {result.detected_kinds}, expected {result.spec.expected or 'nothing'}"
    assert result.false_alarms == [], f"{fault}: false alarms {result.false_alarms}"
    assert (result.run_dir / "health.jsonl").is_file()


def test_guard_stop_ends_the_run(base: ExperimentConfig, tmp_path: Path) -> None:
    cfg = base.model_copy(update={"health": base.health.model_copy(update={"guard": "stop"})})
    result = run_fault("empty_targets", cfg, run_root=tmp_path)
    assert result.stopped
    status = json.loads((result.run_dir / "status.json").read_text())
    assert status["state"] == "stopped_by_guard" and "empty targets" in status["message"]
    assert status["global_step"] < cfg.trainer.max_steps


def _train_with_guard(base: ExperimentConfig, tmp_path: Path, *overrides: str):  # noqa: ANN202 - click Result
    """`occkit train` on ``base`` with the guard in stop mode and ``overrides`` (each a --set value)."""
    config_file = tmp_path / "cfg.py"
    config_file.write_text(f"config = {base.model_dump(mode='json')!r}\n")
    sets = [arg for o in ("health.guard=\"stop\"", *overrides) for arg in ("--set", o)]
    return CliRunner().invoke(app, ["train", "--config", str(config_file), "--run-dir", str(tmp_path / "run"),
                                    *sets])


def test_guard_stop_exit_code_from_cli(base: ExperimentConfig, tmp_path: Path) -> None:
    # the grid floats 200 m above the ground and alignment has no fallback: every target is empty
    result = _train_with_guard(base, tmp_path, "data.fallback_to_lidar_center=false", "data.cache_dir=null",
                               "data.grid.pc_range=[-40, -40, 200, 40, 40, 251.2]")
    assert result.exit_code == 3, result.output
    assert "health guard" in result.output


def test_training_health_error_carries_event() -> None:
    from occkit.health.events import HealthEvent

    err = TrainingHealthError(HealthEvent(3, "collapse", "error", "collapsed", "use focal"))
    assert "collapse @ step 3" in str(err)


def test_guard_stops_a_partial_collapse_with_exit_code_3(base: ExperimentConfig, tmp_path: Path) -> None:
    """Weighted BCE with the class weight inverted: nothing reaches 0.5; the guard stops the run (exit 3)."""
    result = _train_with_guard(base, tmp_path, "health.collapse_grace_steps=4",
                               'loss.terms=[{"kind": "bce", "pos_weight": 0.002}]', "optim.lr=0.03",
                               "model.prior_occupancy=null")
    assert result.exit_code == 3, result.output
    status = json.loads((tmp_path / "run" / "status.json").read_text())
    assert status["state"] == "stopped_by_guard" and "collapse" in status["message"]


def test_the_doctor_reads_the_fix_of_the_first_finding(base: ExperimentConfig, tmp_path: Path) -> None:
    from occkit.health.doctor import diagnose

    result = run_fault("offset_6", base, run_root=tmp_path)
    first = diagnose(result.run_dir).findings[0]
    assert first.kind == "misaligned_target" and first.evidence["offset_voxels"][0] == 6
    assert "the input is offset by (+15.0 m" in first.title  # 6 voxels of 2.5 m
