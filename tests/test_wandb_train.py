"""W&B as users run it, offline: the run's metrics, config and checkpoint artifacts, read back from its file."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from test_train_support import tiny_config, tiny_loaders
from test_wandb_support import read_offline_run

from occkit.commands.train import _wandb_overrides
from occkit.config import apply_overrides
from occkit.errors import ConfigError
from occkit.train.runner import fit


def test_offline_run_holds_metrics_config_and_artifacts(wandb_offline: Path) -> None:
    cfg = tiny_config(wandb_offline / "runs", trainer={"max_epochs": 2, "checkpoint_every_n_epochs": 1},
                      logging={"wandb_tags": ["smoke", "cpu"]})
    train, val = tiny_loaders(4, 2)
    result = fit(cfg, wandb=True, train_loader=train, val_loader=val, verbose=False)
    assert result.state == "finished"
    run = read_offline_run(result.run_dir / "wandb")
    from occkit.train.loggers import wandb_files_hint

    hint = wandb_files_hint(result.run_dir)  # W&B's banner is silenced; occkit says where the run is
    assert hint is not None and "wandb sync" in hint and str(result.run_dir / "wandb" / "offline-run-") in hint
    for name in ("train/loss", "train/grad_norm", "train/clipped", "train/lr", "pred/mean", "pred/occupancy_rate",
                 "target/occupancy_rate", "train/loss_focal", "epoch/train_loss", "epoch/val_loss", "epoch/lr",
                 "epoch/time_seconds", "val/iou", "val/precision", "val/recall", "val/f1"):
        assert name in run.metrics, name
    assert len(run.metrics["train/loss"]) == 4 and len(run.metrics["val/iou"]) == 2
    # W&B config keys are the config's own dotted paths, the same a --set override or a sweep uses
    from occkit.config import apply_overrides

    assert run.config["data.grid.voxel_size"] == [1.0, 1.0, 1.0] and run.config["data.grid_shape"] == [16, 16, 4]
    assert run.config["data.source.kind"] == cfg.data.source.kind and run.config["model.name"] == cfg.model.name
    assert run.config["model.parameter_count"] == result.parameter_count > 0
    assert run.config["optim.lr"] == cfg.optim.lr and run.config["loss.kind"] == cfg.loss.kind
    leaves = {k: v for k, v in run.config.items() if not k.startswith("_") and k not in
              ("model.parameter_count", "data.grid_shape", "data.in_channels")}
    assert len(leaves) > 50
    rebuilt = apply_overrides(cfg, [f"{k}={json.dumps(v)}" for k, v in leaves.items()])
    assert rebuilt == cfg  # every key is a path --set accepts, with the value the run used
    assert "model-best" in run.artifacts
    assert {"model-checkpoint-epoch0", "model-checkpoint-epoch1"} <= set(run.artifacts)
    assert run.tags == ["smoke", "cpu"] and run.name == result.run_dir.name  # auto name = run dir name


def test_cli_wandb_flags_become_config_fields(tmp_path: Path) -> None:
    cfg = apply_overrides(tiny_config(tmp_path), _wandb_overrides(True, "proj", "team", "my-run", "a, b,"))
    log = cfg.logging
    assert (log.wandb, log.wandb_project, log.wandb_entity, log.wandb_run_name, log.wandb_tags) == (
        True, "proj", "team", "my-run", ["a", "b"])
    assert apply_overrides(tiny_config(tmp_path), _wandb_overrides(None, None, None, None, None)).logging.wandb is False


def test_missing_wandb_package_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "wandb", None)  # what Python does when the package is not installed
    train, val = tiny_loaders(4, 2)
    with pytest.raises(ConfigError, match=r'pip install "occkit\[wandb\]"'):
        fit(tiny_config(tmp_path / "runs"), wandb=True, train_loader=train, val_loader=val, verbose=False)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())  # no run dir left behind
