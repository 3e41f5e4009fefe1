"""Shipped configs validate; bad configs and overrides fail naming the field; `occkit train` exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from occkit.cli import app
from occkit.config import apply_overrides, load_config
from occkit.errors import ConfigError

CONFIGS = sorted(p for p in (Path(__file__).resolve().parents[1] / "configs").glob("*.py") if p.name != "__init__.py")


def test_the_documented_configs_are_shipped() -> None:
    names = {p.stem for p in CONFIGS}
    assert {"synthetic_uav", "uavscenes", "occ3d_nuscenes", "finetune_tokyo", "da3_refinement"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_every_shipped_config_validates(path: Path) -> None:
    cfg = load_config(path)
    assert cfg.name == path.stem
    assert cfg.data.in_channels == cfg.data.grid.shape[2] * len(cfg.data.input.features)


def test_the_200_grid_config_is_the_main_job_on_the_users_grid() -> None:
    """synthetic_uav_200 changes the grid and what a GPU host needs, nothing else of the main job."""
    main, full = load_config("synthetic_uav"), load_config("synthetic_uav_200")
    assert full.data.grid.shape == (200, 200, 121) and full.data.grid.voxel_size == main.data.grid.voxel_size
    assert full.data.source.accumulate_region == full.data.grid.pc_range
    assert (full.data.augment.crop, full.data.batch_size, full.trainer.accelerator) == ((96, 96), 8, "auto")
    changed = {"name": None, "data": {"grid", "augment", "batch_size", "num_workers"},
               "trainer": {"accelerator", "preprocess_workers"}}
    a, b = main.model_dump(), full.model_dump()
    for section, keys in changed.items():
        for key in keys or ():
            a[section].pop(key), b[section].pop(key)
        if keys is None:
            a.pop(section), b.pop(section)
    a["data"]["source"].pop("accumulate_region"), b["data"]["source"].pop("accumulate_region")
    assert a == b


def test_seed_user_settings_in_finetune_tokyo() -> None:
    cfg = load_config(CONFIGS[0].parent / "finetune_tokyo.py")
    assert cfg.data.grid.shape == (200, 200, 121) and cfg.data.batch_size == 3
    assert cfg.data.source.kind == "folder"
    assert (cfg.optim.lr, cfg.optim.schedule) == (1e-4, "cosine")
    assert (cfg.loss.focal_alpha, cfg.loss.focal_gamma, cfg.loss.dice_weight, cfg.loss.mean_weight) == (
        0.99, 2.0, 1.0, 10.0)


def test_da3_refinement_reads_pseudo_points_on_the_bev_height_grid() -> None:
    cfg = load_config(CONFIGS[0].parent / "da3_refinement.py")
    assert cfg.data.input.points == "pseudo" and cfg.data.grid.shape == (180, 180, 32)


def test_the_main_job_is_in_the_users_regime_and_validates_on_held_out_scenes() -> None:
    """The users' voxel size and 121 height levels on a smaller plan extent, a CPU, and validation scenes that
    training never saw (different scenes drawn from different seeds)."""
    from occkit.evaluation.scenes import scene_of

    cfg = load_config(CONFIGS[0].parent / "synthetic_uav.py")
    assert cfg.data.source.kind == "synthetic" and cfg.trainer.accelerator == "cpu"
    assert cfg.data.grid.size.tolist() == [0.4, 0.4, 0.5] and cfg.data.grid.shape[2] == 121
    x, y, z = cfg.data.grid.shape
    assert x * y <= 100 * 100
    src = cfg.data.source
    train = {scene_of(f) for f in src.build("train").frame_ids}
    val = {scene_of(f) for f in src.build("val").frame_ids}
    assert len(val) >= 4 and len(train) >= 24
    from occkit.synthetic.world import SPLIT_CODES, derive_seed  # what generate_sample seeds each scene with

    seeds = {s: {derive_seed(src.seed, SPLIT_CODES[s], i // src.frames_per_scene) for i in range(src.num_frames(s))}
             for s in ("train", "val")}
    assert not seeds["train"] & seeds["val"]


def test_overrides_apply_and_revalidate(tmp_path: Path) -> None:
    cfg = load_config(CONFIGS[0].parent / "synthetic_uav.py",
                      ["optim.lr=1e-4", "trainer.max_epochs=3", "loss.kind=bce", "logging.wandb_tags=[\"x\"]"])
    assert (cfg.optim.lr, cfg.trainer.max_epochs, cfg.loss.kind, cfg.logging.wandb_tags) == (1e-4, 3, "bce", ["x"])
    with pytest.raises(ConfigError, match=r"optim\.lr"):
        apply_overrides(cfg, ["optim.lr=-1"])
    with pytest.raises(ConfigError, match=r"optim\.lrr"):
        apply_overrides(cfg, ["optim.lrr=1"])
    with pytest.raises(ConfigError, match=r"trainer\.precision"):
        apply_overrides(cfg, ["trainer.precision=fp8"])


def test_a_bad_config_file_names_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("config = {'name': 'x', 'optim': {'lr': 'fast'}, 'trainer': {'max_epochs': 0}}\n")
    with pytest.raises(ConfigError) as err:
        load_config(bad)
    assert "optim.lr" in str(err.value) and "trainer.max_epochs" in str(err.value) and str(bad) in str(err.value)


def test_a_data_file_given_as_config_is_refused_not_run(tmp_path: Path) -> None:
    """Only .py configs run as code: a point cloud (or any other file) passed by mistake is never executed."""
    marker = tmp_path / "ran"
    scan = tmp_path / "scan.ply"
    scan.write_text(f"import pathlib; pathlib.Path({str(marker)!r}).write_text('x'); config = {{}}\n")
    with pytest.raises(ConfigError, match=r"scan\.ply: expected a python config file \(\.py\)"):
        load_config(scan)
    assert not marker.exists()


def test_cli_config_errors_exit_2_naming_the_field(tmp_path: Path) -> None:
    runner = CliRunner()
    cfg = str(CONFIGS[0].parent / "synthetic_uav.py")
    result = runner.invoke(app, ["train", "--config", cfg, "--set", "optim.grad_clip=-3"])
    assert result.exit_code == 2 and "optim.grad_clip" in result.output
    result = runner.invoke(app, ["train", "--config", cfg, "--set", "model.unet_channelz=[8]"])
    assert result.exit_code == 2 and "model.unet_channelz" in result.output
    result = runner.invoke(app, ["train", "--config", str(tmp_path / "nope.py")])
    assert result.exit_code == 2 and "nope.py" in result.output
    result = runner.invoke(app, ["train", "--config", cfg, "--set", "trainer.strategy=warp_drive",
                                 "--set", f"trainer.runs_root={tmp_path}", "--set", "data.source.train_frames=1",
                                 "--set", "data.source.val_frames=1"])
    assert result.exit_code == 2 and "strategy" in result.output


def test_a_check_across_sections_names_the_fields_without_dumping_the_config() -> None:
    with pytest.raises(ConfigError) as err:
        apply_overrides(load_config(CONFIGS[0].parent / "synthetic_uav.py"), ['data.input.features=["mean_height"]'])
    text = str(err.value)
    assert "model.input_skip" in text and "data.input.features" in text and "'mean_height'" in text
    assert "unet_channels" not in text and len(text.splitlines()) == 2  # the origin line and the reason


def test_a_check_across_one_sections_fields_names_them_without_dumping_the_section() -> None:
    """A section's own model validator (the synthetic source's) gets the section as its input: the error names
    the section and the reason, not every setting of it."""
    with pytest.raises(ConfigError) as err:
        apply_overrides(load_config(CONFIGS[0].parent / "synthetic_uav.py"), ['data.source.ship_target="lidar"'])
    text = str(err.value)
    assert "data.source" in text and "render_camera=True" in text
    assert "accumulate_poses" not in text and len(text.splitlines()) == 2
    with pytest.raises(ConfigError, match=r"data\.source\..*train_frames.*got -1"):  # a field's own error keeps it
        apply_overrides(load_config(CONFIGS[0].parent / "synthetic_uav.py"), ["data.source.train_frames=-1"])
