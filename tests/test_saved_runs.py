"""Runs and checkpoints written by another occkit version: settings it no longer knows are left out with a warning
(a person's config keeps failing on them), and weights that do not fit are one line naming the checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from test_evaluate_support import train_tiny
from typer.testing import CliRunner

from occkit.cli import app
from occkit.config import SavedConfigWarning, load_config, validate_config
from occkit.errors import ConfigError, InputFileError
from occkit.train.checkpoint import load_module


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    return train_tiny(tmp_path_factory.mktemp("savedtiny"))


def _with_old_settings(cfg) -> dict:
    """The config as an older occkit wrote it: one setting since removed in a section and one in the source."""
    data = cfg.model_dump(mode="json")
    data["trainer"]["ema_decay"] = 0.995
    data["data"]["source"]["retired_option"] = 3
    return data


def test_unknown_settings_of_a_saved_config_are_left_out_only_when_saved(trained) -> None:
    cfg, _ = trained
    old = _with_old_settings(cfg)
    with pytest.raises(ConfigError, match=r"trainer\.ema_decay: Extra inputs are not permitted"):
        validate_config(old, origin="my_config.py")
    with pytest.warns(SavedConfigWarning, match=r"run/config\.json: left out .*settings this occkit version does "
                                                r"not know") as caught:
        back = validate_config(old, origin="run/config.json", saved=True)
    message = str(caught[0].message)
    assert "trainer.ema_decay=0.995" in message and "data.source.retired_option=3" in message
    assert back == cfg
    old["optim"]["lr"] = -1.0  # a value that is wrong, beside the unknown settings, still fails
    with pytest.raises(ConfigError, match=r"optim\.lr"):
        validate_config(old, origin="run/config.json", saved=True)


def test_a_run_of_another_version_evaluates_and_mismatched_weights_are_one_line(trained, tmp_path: Path) -> None:
    cfg, ckpt = trained
    saved = torch.load(ckpt, map_location="cpu", weights_only=True)
    saved["hyper_parameters"]["config"] = _with_old_settings(cfg)
    old_ckpt = tmp_path / "old.ckpt"
    torch.save(saved, old_ckpt)
    with pytest.warns(SavedConfigWarning, match="trainer.ema_decay"):
        module = load_module(old_ckpt)
    reference = load_module(ckpt)
    for name, weight in reference.state_dict().items():
        torch.testing.assert_close(module.state_dict()[name], weight)

    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    torch.save(saved, run / "checkpoints" / "last.ckpt")
    (run / "config.json").write_text(json.dumps(_with_old_settings(cfg)))
    with pytest.warns(SavedConfigWarning):
        assert load_config(run / "config.json", saved=True) == cfg
    with pytest.warns(SavedConfigWarning, match=r"config\.json: left out .*trainer\.ema_decay=0\.995"):
        result = CliRunner().invoke(app, ["eval", str(run), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "val split, 4 frames" in result.output

    other = cfg.model_dump(mode="json")
    other["model"]["unet_channels"] = [c * 2 for c in other["model"]["unet_channels"]]
    saved["hyper_parameters"]["config"] = other
    torch.save(saved, tmp_path / "wider.ckpt")
    with pytest.raises(InputFileError) as err:
        load_module(tmp_path / "wider.ckpt")
    assert str(err.value).startswith(f"{tmp_path / 'wider.ckpt'}: its weights do not fit the network its config "
                                     "builds") and "\n" not in str(err.value)
