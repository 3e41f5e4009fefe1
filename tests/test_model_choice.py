"""Choosing the checkpoint and threshold on a split that is never reported, and finding that choice again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from occkit.config import ExperimentConfig, apply_overrides
from occkit.errors import ConfigError
from occkit.evaluation.model_choice import ModelChoice, scheduled_checkpoints
from occkit.train.run_lookup import THRESHOLD_FILE, find_checkpoint


def _checkpoint(path: Path, step: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"global_step": step, "state_dict": {}}, path)
    return path


def test_scheduled_checkpoints_are_the_periodic_ones_in_epoch_order_then_last(tmp_path: Path) -> None:
    folder = tmp_path / "checkpoints"
    for epoch, step in ((19, 40), (9, 20), (29, 60), (100, 30)):  # epoch=100 sorts before epoch=019 as text
        _checkpoint(folder / f"epoch={epoch:03d}.ckpt", step)
    _checkpoint(folder / "epoch=009-v1.ckpt", 5)  # not a name the periodic checkpoint writes
    _checkpoint(folder / "best.ckpt", 40)  # chosen on the reported validation frames: never a candidate
    last = _checkpoint(folder / "last.ckpt", 60)
    names = [p.name for p in scheduled_checkpoints(last)]
    # epoch=029 holds the same step as last.ckpt, so its weights are evaluated once, as last.ckpt
    assert names == ["epoch=009.ckpt", "epoch=019.ckpt", "epoch=100.ckpt", "last.ckpt"]
    alone = _checkpoint(tmp_path / "other" / "last.ckpt", 3)
    assert scheduled_checkpoints(alone) == [alone]


def test_a_run_directory_loads_the_checkpoint_its_report_chose(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "config.json").parent.mkdir(parents=True)
    (run / "config.json").write_text("{}")
    for name in ("best.ckpt", "last.ckpt", "epoch=009.ckpt"):
        _checkpoint(run / "checkpoints" / name, 1)
    assert find_checkpoint(run).checkpoint.name == "best.ckpt"  # no report yet
    (run / THRESHOLD_FILE).parent.mkdir()
    chosen = {"threshold": 0.3, "chosen_on": "test", "checkpoint": "epoch=009.ckpt"}
    (run / THRESHOLD_FILE).write_text(json.dumps(chosen))
    found = find_checkpoint(run)
    assert found.checkpoint.name == "epoch=009.ckpt" and found.chosen_threshold()["threshold"] == 0.3
    # the choice travels with that checkpoint only
    assert find_checkpoint(run / "checkpoints" / "last.ckpt").chosen_threshold() is None
    for odd in ("../../elsewhere.ckpt", "missing.ckpt", 7):  # a name outside the folder, a file that is gone
        (run / THRESHOLD_FILE).write_text(json.dumps({"threshold": 0.3, "checkpoint": odd}))
        assert find_checkpoint(run).checkpoint.name == "best.ckpt"
    (run / THRESHOLD_FILE).write_text("[1, 2]")  # not a mapping
    assert find_checkpoint(run).checkpoint.name == "best.ckpt"


def test_choosing_a_checkpoint_needs_a_split_that_is_not_reported() -> None:
    cfg = ExperimentConfig(name="x")
    with pytest.raises(ConfigError, match="select_checkpoint: needs select_threshold_on"):
        apply_overrides(cfg, ["eval.select_checkpoint=true"])
    chosen = apply_overrides(cfg, ['eval.select_threshold_on="test"', "eval.select_checkpoint=true"])
    assert chosen.eval.select_checkpoint


def test_the_note_names_the_checkpoint_only_when_there_was_a_choice() -> None:
    cfg = apply_overrides(ExperimentConfig(name="x"), ["eval.threshold=0.35"])
    assert ModelChoice(Path("last.ckpt"), cfg).note == "threshold 0.35 (eval.threshold)"
    one = ModelChoice(Path("last.ckpt"), cfg, "test", {"last.ckpt": 0.5})
    assert one.note == "threshold 0.35, chosen on the test split (held-out scenes, not reported)"
    two = ModelChoice(Path("epoch=019.ckpt"), cfg, "test", {"epoch=019.ckpt": 0.31, "last.ckpt": 0.29})
    assert two.note.endswith("; checkpoint epoch=019.ckpt, the best IoU there of epoch=019.ckpt 0.310, "
                             "last.ckpt 0.290")
