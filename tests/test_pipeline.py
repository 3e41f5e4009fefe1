"""The main job end to end on a tiny synthetic config: one run directory with metrics, pictures, doctor, report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from occkit.cli import app
from occkit.config import ExperimentConfig, apply_overrides
from occkit.data.cache import default_cache_dir
from occkit.geometry.grid import GridSpec

GRID = GridSpec(pc_range=(-40.0, -40.0, -4.0, 40.0, 40.0, 47.2), voxel_size=(2.5, 2.5, 6.4))  # 32 x 32 x 8


def tiny(tmp_path: Path) -> ExperimentConfig:
    return ExperimentConfig(
        name="tinyjob",
        data={"source": {"kind": "synthetic", "train_frames": 4, "val_frames": 2, "test_frames": 2, "seed": 4},
              "grid": GRID,
              "batch_size": 2},
        model={"unet_channels": [8, 16], "prior_occupancy": 0.13},
        eval={"ray_num_azimuth": 36, "select_threshold_on": "test"},
        trainer={"max_epochs": 2, "accelerator": "cpu", "progress_bar": False, "runs_root": str(tmp_path / "runs"),
                 "log_every_n_steps": 1},
        health={"every_n_steps": 2},
    )


def test_cache_dir_is_keyed_by_the_data_settings(tmp_path: Path) -> None:
    cfg = tiny(tmp_path)
    same = default_cache_dir(cfg.data, "runs", cfg.name)
    assert same == default_cache_dir(tiny(tmp_path).data, "runs", cfg.name)
    more = apply_overrides(cfg, ["data.source.train_frames=5"])
    assert default_cache_dir(more.data, "runs", cfg.name) != same
    bigger_batch = apply_overrides(cfg, ["data.batch_size=4"])  # batching does not change the cached grids
    assert default_cache_dir(bigger_batch.data, "runs", cfg.name) == same
    # the free feature's margin moves the cache only where the free feature is computed
    assert default_cache_dir(apply_overrides(cfg, ["data.input.free_margin=2.0"]).data, "runs", cfg.name) == same
    free = apply_overrides(cfg, ['data.input.features=["soft","free"]'])
    wider = apply_overrides(free, ["data.input.free_margin=2.0"])
    keys = {same, default_cache_dir(free.data, "runs", cfg.name), default_cache_dir(wider.data, "runs", cfg.name)}
    assert len(keys) == 3


def test_occkit_run_writes_the_whole_report(tmp_path: Path) -> None:
    config_file = tmp_path / "tiny.py"
    # the checkpoint too is chosen on the test split: epoch=000.ckpt or last.ckpt (epoch=001.ckpt, the same step)
    cfg = apply_overrides(tiny(tmp_path), ["eval.select_checkpoint=true"])
    config_file.write_text(f"config = {cfg.model_dump(mode='json')!r}\n")
    result = CliRunner().invoke(app, ["run", "--config", str(config_file), "--run-dir", str(tmp_path / "run"),
                                      "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "validation IoU: iou " in result.output and "REPORT.md" in result.output
    report = tmp_path / "run" / "report"
    text = (report / "REPORT.md").read_text()
    assert "## Validation metrics" in text and "![val00_overlay_bev.png](val00_overlay_bev.png)" in text
    # ground truth, prediction and errors side by side per sample, with captions, and the training curves
    assert "| ground truth: height of the highest occupied voxel | prediction: the same view" in text
    assert "![training curves](training_curves.png)" in text
    with Image.open(report / "training_curves.png") as im:
        assert im.width > 600 and len(set(im.convert("RGB").getdata())) > 5
    # the grids behind the pictures are kept and redraw without naming their grid
    redraw = CliRunner().invoke(app, ["viz", str(report / "val00_prediction.npz"), "--gt",
                                      str(report / "val00_ground_truth.npz"), "--out", str(tmp_path / "redraw"),
                                      "--no-html"])
    assert redraw.exit_code == 0, redraw.output
    assert (tmp_path / "redraw" / "overlay_bev.png").is_file()
    # at the threshold the report chose and drew them at, not viz's default 0.5
    chosen = json.loads((report / "threshold.json").read_text())["threshold"]
    assert f"probabilities drawn at threshold {chosen:g} (stored in the file)" in " ".join(redraw.output.split())
    assert (report / "val01_view.html").is_file()  # a 3D view for every pictured sample
    samples_view = (report / "val_samples_view.html").read_text()
    assert "updatemenus" in samples_view and "scene2" in samples_view  # a menu over samples, two scenes
    n_val = tiny(tmp_path).data.source.val_frames
    assert all(f"val{i:02d} (" in samples_view for i in range(n_val))
    assert "[val_samples_view.html](val_samples_view.html)" in text
    assert "## The model beside the baselines" in text and "| input dilated 1 voxel (x/y) |" in text
    assert "gap closed" in text and "RayIoU (rays from each frame's sensor positions)" in text
    # the threshold was chosen on the test split, never on the reported validation frames
    assert "chosen on the test split (held-out scenes, not reported)" in text
    assert "selected on the test split" in result.output
    choice = json.loads((tmp_path / "run" / "report" / "threshold.json").read_text())
    assert sorted(choice["candidates"]) == ["epoch=000.ckpt", "last.ckpt"] and choice["chosen_on"] == "test"
    best = max(sorted(choice["candidates"], reverse=True), key=choice["candidates"].get)  # a tie goes to last
    assert choice["checkpoint"] == best and f"checkpoint {best}, the best IoU there of" in text
    assert f"checkpoint evaluated: `{tmp_path / 'run' / 'checkpoints' / best}`" in text
    # `occkit eval RUN_DIR` loads the checkpoint and threshold the report used, and gets its figures
    again = CliRunner().invoke(app, ["eval", str(tmp_path / "run"), "--out", str(tmp_path / "again"),
                                     "--no-progress", "--set", "eval.ray_iou=false"])
    assert again.exit_code == 0, again.output
    replay = json.loads((tmp_path / "again" / "metrics.json").read_text())
    assert Path(replay["checkpoint"]).name == best and replay["threshold"] == choice["threshold"]
    assert "Training waited for data" in text
    metrics = json.loads((report / "metrics.json").read_text())
    assert 0.0 <= metrics["overall"]["iou"] <= 1.0
    bands = metrics["baselines"]["by_sensor_height"]  # every frame in one band of sensor height over the ground
    assert sum(b["frames"] for b in bands) == metrics["num_frames"] and all(b["iou"]["model"] is not None
                                                                           for b in bands)
    assert metrics["threshold"] in tiny(tmp_path).eval.sweep_thresholds and metrics["split"] == "val"
    assert metrics["overall"]["iou"] == pytest.approx(replay["overall"]["iou"])
    for name in ("val00_gt_bev", "val00_bev", "val00_slices", "val00_overlay_bev", "val00_per_height_iou",
                 "doctor_loss"):
        with Image.open(report / f"{name}.png") as im:
            assert im.width > 300 and len(set(im.convert("RGB").getdata())) > 5
    assert "plotly" in (report / "val00_view.html").read_text()[:200000].lower()
    assert (report / "doctor.md").read_text().startswith("# occkit doctor")
    assert json.loads((tmp_path / "run" / "status.json").read_text())["state"] == "finished"
    assert sorted((tmp_path / "run" / "images").glob("epoch*_overlay_bev.png"))  # validation pictures


def test_validation_pictures_reach_tensorboard(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from occkit.train.runner import fit

    result = fit(tiny(tmp_path), run_dir=tmp_path / "run", verbose=False)
    acc = EventAccumulator(str(result.run_dir / "tensorboard"), size_guidance={"images": 0})
    acc.Reload()
    tags = acc.Tags()["images"]
    assert {"val/bev", "val/overlay_bev", "val/per_height_iou"} <= set(tags)
    image = acc.Images("val/overlay_bev")[0]
    assert image.width > 300 and image.height > 200


def test_validation_pictures_count_validation_passes_not_epochs(tmp_path: Path) -> None:
    """Validating every second epoch runs on epoch indices 1, 3, 5; pictures every 2 passes are drawn on the first
    and the third pass (epochs 1 and 5), where counting epochs drew none."""
    from occkit.train.runner import fit

    cfg = apply_overrides(tiny(tmp_path), ["trainer.max_epochs=6", "trainer.check_val_every_n_epoch=2",
                                           "logging.images_every_n_epochs=2"])
    fit(cfg, run_dir=tmp_path / "run", verbose=False)
    drawn = sorted(p.name.split("_")[0] for p in (tmp_path / "run" / "images").glob("epoch*_overlay_bev.png"))
    assert drawn == ["epoch001", "epoch005"]


def test_a_pseudo_lidar_run_reports_raw_refined_and_lidar_clouds(tmp_path: Path) -> None:
    cfg = apply_overrides(tiny(tmp_path), ['data.input.points="pseudo"', "data.input.pseudo_ground_align=true",
                                           "trainer.max_epochs=1", 'eval.select_threshold_on=null'])
    config_file = tmp_path / "tiny_pseudo.py"
    config_file.write_text(f"config = {cfg.model_dump(mode='json')!r}\n")
    result = CliRunner().invoke(app, ["run", "--config", str(config_file), "--run-dir", str(tmp_path / "run"),
                                      "--workers", "1"])
    assert result.exit_code == 0, result.output
    report = tmp_path / "run" / "report"
    text = (report / "REPORT.md").read_text()
    assert "## Refined point cloud" in text and "| raw |" in text and "| refined |" in text
    assert "snapped along their rays" in text and "![val00_clouds](val00_clouds.png)" in text
    with Image.open(report / "val00_clouds.png") as im:
        assert im.width > 600 and len(set(im.convert("RGB").getdata())) > 5
    assert "plotly" in (report / "val00_clouds.html").read_text()[:300000].lower()
    # drawn in the grid frame, measured against the LiDAR in that same frame: the sensor frame's distances
    from occkit.data.grids import FrameToGrids
    from occkit.evaluation.frame_refine import refine_frame
    from occkit.evaluation.refine import chamfer_distance
    from occkit.pipeline import write_refined_cloud_pictures
    from occkit.train.checkpoint import load_module

    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    figures = write_refined_cloud_pictures(ckpt, cfg, tmp_path / "again")
    fc = refine_frame(load_module(ckpt, cfg).eval(), cfg.data.source.build("val")[0], FrameToGrids(cfg.data),
                      cfg.eval.refine_threshold)
    assert figures["raw"]["chamfer"] == pytest.approx(chamfer_distance(fc.raw, fc.lidar).chamfer, rel=1e-6)
