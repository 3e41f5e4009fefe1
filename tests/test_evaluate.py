"""evaluate() and `occkit eval` on a real tiny checkpoint trained with occkit.train.runner on crafted scans."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch
from test_evaluate_support import TINY_GRID, train_tiny
from typer.testing import CliRunner

from occkit.cli import app
from occkit.data.dataset import OccupancyDataset
from occkit.errors import GridMismatchError
from occkit.evaluation import evaluate, scene_of
from occkit.geometry.grid import GridSpec
from occkit.train.checkpoint import load_module

RATES = ("iou", "precision", "recall", "f1")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    return train_tiny(tmp_path_factory.mktemp("evaltiny"))


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # identity-pose warnings of the folder source
        yield


def hand_counts(cfg, ckpt: Path, frames: str | None = None, threshold: float = 0.5) -> tuple[int, int, int]:
    """TP/FP/FN recomputed here, one frame at a time, from the loaded model and the dataset."""
    module = load_module(ckpt)
    ds = OccupancyDataset(cfg.data, "val", augment=False)
    tp = fp = fn = 0
    for i in range(len(ds)):
        s = ds[i]
        if frames is not None and not s["frame_id"].startswith(frames):
            continue
        with torch.no_grad():
            p = torch.sigmoid(module(s["input"][None]))[0].numpy() > threshold
        g = s["target"].numpy() >= 0.5
        tp, fp, fn = tp + int((p & g).sum()), fp + int((p & ~g).sum()), fn + int((~p & g).sum())
    return tp, fp, fn


def test_evaluate_writes_metrics_json_and_md(trained, tmp_path: Path) -> None:
    cfg, ckpt = trained
    result = evaluate(ckpt, cfg, "val", tmp_path / "report", progress=False)
    data = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert data == json.loads(json.dumps(result.report))
    for key in ("split", "checkpoint", "grid", "num_frames", "threshold", "overall", "best", "sweep", "per_height",
                "per_scene", "ray_iou", "use_visibility_mask"):
        assert key in data, key
    assert data["num_frames"] == 4 and data["split"] == "val" and data["threshold"] == 0.5
    assert all(0.0 <= data["overall"][k] <= 1.0 for k in RATES)
    assert [s["threshold"] for s in data["sweep"]] == cfg.eval.sweep_thresholds
    f1s = [s["f1"] for s in data["sweep"]]
    assert all(0.0 <= f <= 1.0 for f in f1s) and data["best"]["f1"] == pytest.approx(max(f1s))
    assert data["best"]["threshold"] in cfg.eval.sweep_thresholds and 0 <= data["best"]["iou"] <= 1
    assert sorted(data["per_scene"]) == ["sceneA", "sceneB"]
    assert all(s["frames"] == 2 and all(0 <= s[k] <= 1 for k in RATES) for s in data["per_scene"].values())
    assert [h["z"] for h in data["per_height"]] == [0.5, 1.5, 2.5, 3.5]
    assert all(h["iou"] is None or 0 <= h["iou"] <= 1 for h in data["per_height"])
    c = data["counts"]
    assert sum(h["gt_voxels"] for h in data["per_height"]) == c["tp"] + c["fn"]
    md = (tmp_path / "report" / "metrics.md").read_text()
    assert "## Per scene" in md and "| sceneA | 2 |" in md and "## Per height" in md and "## Threshold sweep" in md
    assert f"{data['overall']['iou']:.4f}" in md
    # the model beside its baselines, on the same frames
    b = data["baselines"]
    assert set(b["predictors"]) >= {"model", "copy", "dilate", "ground_lowest", "ground_plane"}
    assert b["predictors"]["model"]["iou"] == pytest.approx(data["overall"]["iou"])
    assert b["summary"]["iou"]["best_baseline"] in b["predictors"]
    assert "## Beside the baselines" in md and "| copy the input |" in md and "gap closed" in md


def test_evaluate_numbers_match_a_hand_count(trained) -> None:
    cfg, ckpt = trained
    report = evaluate(ckpt, cfg, "val", progress=False).report
    tp, fp, fn = hand_counts(cfg, ckpt)
    assert tp + fn > 0 and tp + fp > 0
    assert report["overall"]["iou"] == pytest.approx(tp / (tp + fp + fn))
    assert report["overall"]["precision"] == pytest.approx(tp / (tp + fp))
    assert report["overall"]["recall"] == pytest.approx(tp / (tp + fn))
    tp, fp, fn = hand_counts(cfg, ckpt, frames="sceneB/")
    assert report["per_scene"]["sceneB"]["iou"] == pytest.approx(tp / (tp + fp + fn))
    tp4, fp4, fn4 = hand_counts(cfg, ckpt, threshold=0.4)
    sweep = {s["threshold"]: s for s in report["sweep"]}
    assert sweep[0.4]["iou"] == pytest.approx(tp4 / (tp4 + fp4 + fn4))


def test_copy_baseline_matches_a_hand_count(trained) -> None:
    from occkit.data.grids import input_occupancy

    cfg, ckpt = trained
    report = evaluate(ckpt, cfg, "val", progress=False).report
    ds = OccupancyDataset(cfg.data, "val", augment=False)
    tp = fp = fn = 0
    for i in range(len(ds)):
        s = ds[i]
        p = input_occupancy(s["input"], cfg.data.input.features, cfg.data.grid.shape[2]).numpy()
        g = s["target"].numpy() >= 0.5
        tp, fp, fn = tp + int((p & g).sum()), fp + int((p & ~g).sum()), fn + int((~p & g).sum())
    copy = report["baselines"]["predictors"]["copy"]
    assert copy["iou"] == pytest.approx(tp / (tp + fp + fn))
    assert copy["precision"] == pytest.approx(tp / (tp + fp))


def test_visibility_mask_and_ray_iou(trained) -> None:
    cfg, ckpt = trained
    plain = evaluate(ckpt, cfg, "val", progress=False).report
    masked_cfg = cfg.model_copy(update={"eval": cfg.eval.model_copy(update={"use_visibility_mask": True,
                                                                            "ray_iou": True})})
    masked = evaluate(ckpt, masked_cfg, "val", progress=False).report
    assert masked["use_visibility_mask"] and not plain["use_visibility_mask"]
    n_plain = sum(plain["counts"][k] for k in ("tp", "fp", "fn"))
    n_masked = sum(masked["counts"][k] for k in ("tp", "fp", "fn"))
    assert 0 < n_masked <= n_plain
    from occkit.evaluation.split_eval import _dataset_config

    ds = OccupancyDataset(_dataset_config(masked_cfg), "val", augment=False)
    masks = torch.stack([ds[i]["mask"] for i in range(len(ds))])
    assert 0 < masks.float().mean() < 1  # ray-cast visibility leaves voxels out ...
    assert masked["baselines"]["predictors"]["copy"]["iou"] is not None  # ... of the baselines' counts too
    ray = masked["ray_iou"]
    assert ray is not None and ray["num_rays"] > 0 and 0 <= ray["rayiou"] <= 1
    assert plain["ray_iou"] is None  # eval.ray_iou is off in the tiny config


def test_grid_mismatch_names_both_grids(trained) -> None:
    cfg, ckpt = trained
    other = GridSpec(pc_range=(0.0, 0.0, 0.0, 16.0, 16.0, 8.0), voxel_size=(1.0, 1.0, 1.0))
    bad = cfg.model_copy(update={"data": cfg.data.model_copy(update={"grid": other})})
    with pytest.raises(GridMismatchError) as err:
        evaluate(ckpt, bad, "val", progress=False)
    msg = str(err.value)
    assert TINY_GRID.describe() in msg and other.describe() in msg and str(ckpt) in msg


def test_scene_of_reads_every_source_naming() -> None:
    assert scene_of("synthetic/uav_town/val/AMtown01/0003") == "AMtown01"
    assert scene_of("scene-0001/3e8750f331d7499e9b5123e9eb70f2e2") == "scene-0001"
    assert scene_of("AMtown01/1658137057.641204937") == "AMtown01"
    assert scene_of("lonely") == "all"


def test_cli_eval_writes_the_run_report(trained) -> None:
    cfg, ckpt = trained
    res = CliRunner().invoke(app, ["eval", "--checkpoint", str(ckpt), "--set", "eval.threshold=0.4", "--no-progress"])
    assert res.exit_code == 0, res.output
    report_dir = ckpt.parent.parent / "report"  # runs/<run>/report
    data = json.loads((report_dir / "metrics.json").read_text())
    assert data["threshold"] == 0.4 and (report_dir / "metrics.md").is_file()
    assert "sceneA" in res.output and f"{data['overall']['iou']:.4f}" in res.output


def test_cli_eval_missing_checkpoint_and_bad_override_exit_2(trained, tmp_path: Path) -> None:
    missing = tmp_path / "nope.ckpt"
    res = CliRunner().invoke(app, ["eval", "--checkpoint", str(missing)])
    assert res.exit_code == 2
    assert str(missing) in res.output and "checkpoint not found" in res.output
    _, ckpt = trained
    res = CliRunner().invoke(app, ["eval", "--checkpoint", str(ckpt), "--set", "eval.nope=1"])
    assert res.exit_code == 2 and "eval.nope" in res.output
