"""`occkit score PRED GT`: any network's predicted grid files against ground truth, on hand-made grids with known
counts and on Occ3D ground truth written in the real layout by occkit's synthetic writer."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from occkit.cli import app
from occkit.errors import GridMismatchError, InputFileError
from occkit.evaluation.score import grid_key, match_pairs, score
from occkit.geometry import GridSpec
from occkit.viz.gridfile import write_grid_npz

SPEC = GridSpec(pc_range=(0.0, 0.0, 0.0, 8.0, 8.0, 4.0), voxel_size=(1.0, 1.0, 1.0))  # 8 x 8 x 4


def occ3d_gts(tmp_path: Path) -> Path:
    """Two street frames as Occ3D writes them: gts/<scene>/<token>/labels.npz (semantics, masks)."""
    from occkit.sources.config import SyntheticSourceConfig
    from occkit.synthetic.writers import write_occ3d

    small = {"accumulate_poses": 2, "lidar": {"points_per_frame": 2000, "beams": 8, "h_step_deg": 2.0},
             "camera": {"width": 64, "height": 48}}
    source = SyntheticSourceConfig(preset="street", seed=0, train_frames=2, val_frames=0, test_frames=0,
                                   **small).build("train")
    write_occ3d([source.sample(i) for i in range(2)], tmp_path / "occ3d", GridSpec.preset("occ3d_nuscenes"),
                split="train")
    return tmp_path / "occ3d" / "gts"


def test_occ3d_ground_truth_scores_itself_perfectly_on_its_camera_mask(tmp_path: Path) -> None:
    gts = occ3d_gts(tmp_path)
    tokens = sorted(p.parent.name for p in gts.rglob("labels.npz"))
    preds = tmp_path / "preds"  # predictions saved as <token>.npz, as occupancy codebases dump them
    preds.mkdir()
    for path in gts.rglob("labels.npz"):
        with np.load(path) as z:
            np.savez_compressed(preds / f"{path.parent.name}.npz", semantics=z["semantics"])
    result = score(preds, gts, out_dir=tmp_path / "out", progress=False)
    report = result.report
    assert report["num_frames"] == 2 and report["mask"] == "mask_camera"
    assert report["overall"]["iou"] == 1.0 and report["semantic"]["miou"] == 1.0
    assert list(report["per_scene"]) == [p.name for p in gts.iterdir()]  # the Occ3D scene folder
    assert report["baselines"]["predictors"]["model"]["iou_ground"] == 1.0
    assert "no baselines" in report["baselines"]["note"]
    text = (tmp_path / "out" / "metrics.md").read_text()
    assert "# Evaluation: predicted grid files" in text and "Occ3D mIoU" in text
    assert "visibility mask: mask_camera" in text
    assert sorted(grid_key(p) for p in gts.rglob("labels.npz")) == tokens


def _frame(tmp_path: Path, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ground truth: a floor (64 voxels) and a 2 x 2 x 3 block; input: the floor's first half; prediction: the
    floor at 0.8, the block's top at 0.6 (occupied only below the stored threshold 0.7 ... above 0.5) and one
    false voxel at 0.9."""
    gt = np.zeros(SPEC.shape, bool)
    gt[:, :, 0] = True
    gt[2:4, 2:4, 1:4] = True
    given = np.zeros(SPEC.shape, bool)
    given[:4, :, 0] = True
    prob = np.zeros(SPEC.shape, np.float32)
    prob[:, :, 0] = 0.8
    prob[2:4, 2:4, 1:3] = 0.8
    prob[2:4, 2:4, 3] = 0.6
    prob[7, 7, 3] = 0.9
    for folder, arrays in (("gt", {"occupancy": gt}), ("pred", {"probability": prob, "threshold": np.float32(0.7)}),
                           ("inputs", {"occupancy": given})):
        (tmp_path / folder).mkdir(exist_ok=True)
        write_grid_npz(tmp_path / folder / f"{name}.npz", SPEC, **arrays)
    return gt, given, prob


def test_hand_made_frames_give_the_counted_figures_beside_the_baselines(tmp_path: Path) -> None:
    _frame(tmp_path, "a")
    _frame(tmp_path, "b")
    report = score(tmp_path / "pred", tmp_path / "gt", tmp_path / "inputs", progress=False).report
    # at the stored threshold 0.7: TP = 64 + 8, FP = 1, FN = 4 per frame
    assert report["threshold"] == pytest.approx(0.7)
    assert report["overall"]["iou"] == pytest.approx(72 / 77)
    assert report["overall"]["precision"] == pytest.approx(72 / 73)
    rows = report["baselines"]["predictors"]
    assert rows["copy"]["iou"] == pytest.approx(32 / 76) and rows["copy"]["precision"] == 1.0
    assert rows["ground_lowest"]["iou"] == pytest.approx(32 / 76)  # the input's lowest level is its own floor
    # the dilated input fills the floor's next column in x: 40 of the 76
    assert rows["dilate"]["iou"] == pytest.approx(40 / 76)
    summary = report["baselines"]["summary"]["iou"]
    assert summary["best_baseline"] == "dilate"
    assert summary["gap_closed"] == pytest.approx((72 / 77 - 40 / 76) / (1 - 40 / 76))
    # unseen: 44 target voxels without input per frame, 40 of them predicted; added: 41 predicted, 40 right
    assert rows["model"]["recall_unseen"] == pytest.approx(40 / 44)
    assert rows["model"]["precision_added"] == pytest.approx(40 / 41)
    at_half = score(tmp_path / "pred", tmp_path / "gt", threshold=0.5, progress=False).report
    assert at_half["overall"]["iou"] == pytest.approx(76 / 77)  # the block's top comes in


def test_names_shapes_and_masks_are_checked(tmp_path: Path) -> None:
    _frame(tmp_path, "a")
    _frame(tmp_path, "b")
    (tmp_path / "pred" / "b.npz").unlink()
    with pytest.raises(InputFileError, match=r"no prediction for 1 of 2 ground-truth grids \(first: 'b'"):
        match_pairs(tmp_path / "pred", tmp_path / "gt")
    (tmp_path / "pred" / "sub").mkdir()
    write_grid_npz(tmp_path / "pred" / "sub" / "a.npz", SPEC, occupancy=np.zeros(SPEC.shape, bool))
    with pytest.raises(InputFileError, match="same name 'a'"):
        match_pairs(tmp_path / "pred", tmp_path / "gt")
    other = GridSpec(pc_range=(0.0, 0.0, 0.0, 8.0, 8.0, 2.0), voxel_size=(1.0, 1.0, 1.0))
    write_grid_npz(tmp_path / "small.npz", other, occupancy=np.zeros(other.shape, bool))
    with pytest.raises(GridMismatchError, match="small.npz"):
        score(tmp_path / "small.npz", tmp_path / "gt" / "a.npz", progress=False)
    with pytest.raises(GridMismatchError, match="holds no mask_lidar"):
        score(tmp_path / "gt" / "a.npz", tmp_path / "gt" / "a.npz", mask="lidar", progress=False)
    result = CliRunner().invoke(app, ["score", str(tmp_path / "pred" / "sub"), str(tmp_path / "gt"), "--out",
                                      str(tmp_path / "o"), "--no-progress"])
    assert result.exit_code == 2 and "error: " in result.output and "Traceback" not in result.output


def test_cli_writes_the_report_and_pictures_of_the_worst_frame_beside_the_predictions(tmp_path: Path) -> None:
    _frame(tmp_path, "a")
    _frame(tmp_path, "b")
    _frame(tmp_path, "c")
    write_grid_npz(tmp_path / "pred" / "b.npz", SPEC, probability=np.full(SPEC.shape, 0.9, np.float32))
    result = CliRunner().invoke(app, ["score", str(tmp_path / "pred"), str(tmp_path / "gt"), "--inputs",
                                      str(tmp_path / "inputs"), "--threshold", "0.7", "--no-progress"])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "pred_score" / "metrics.json").read_text())
    assert [(f["name"], round(f["iou"], 4)) for f in report["frames"]] == [("b", round(76 / 256, 4)),
                                                                          ("a", round(72 / 77, 4)),
                                                                          ("c", round(72 / 77, 4))]
    assert report["overall"]["iou"] == pytest.approx((72 + 72 + 76) / (77 + 77 + 256))
    pictures = {(p["role"], p["frame"]) for p in report["pictures"]}
    assert pictures == {("worst", "b"), ("median", "a")}
    assert (tmp_path / "pred_score" / "pictures" / "worst_overlay_slices.png").is_file()
    assert "![worst TP/FP/FN height slices](pictures/worst_overlay_slices.png)" in \
        (tmp_path / "pred_score" / "metrics.md").read_text()
    text = " ".join(result.output.split())
    assert "beside the baselines" in text and "input dilated 1 voxel" in text and "gap closed" in text
    assert not (tmp_path / "pred" / "metrics.json").exists()  # nothing written into the user's folders


def test_info_pickles_beside_the_ground_truth_are_not_grids(tmp_path: Path) -> None:
    """An Occ3D root holds info pickles and LiDAR files beside gts/: only .npz / .npy grids are read."""
    gts = occ3d_gts(tmp_path)
    assert (gts.parent / "occ_infos_train.pkl").is_file()
    pairs = match_pairs(gts, gts.parent)
    # the scene is the token folder's parent, whichever folder above it the ground truth is given as
    assert len(pairs) == 2 and {p.scene for p in pairs} == {p.name for p in gts.iterdir()}


def test_a_mask_on_some_frames_only_is_said(tmp_path: Path) -> None:
    gt, _, _ = _frame(tmp_path, "a")
    _frame(tmp_path, "b")
    seen = np.zeros(SPEC.shape, bool)
    seen[:4] = True
    write_grid_npz(tmp_path / "gt" / "a.npz", SPEC, occupancy=gt, mask_camera=seen)
    report = score(tmp_path / "pred", tmp_path / "gt", pictures=False, progress=False).report
    assert report["mask"] == "mask_camera (1 of 2 frames have one; the others are scored whole)"
    # frame a on its camera half: the floor's 32 voxels and the block's 8 of 12 at 0.7; b whole: 72 of 77
    assert report["overall"]["iou"] == pytest.approx((40 + 72) / (44 + 77))


def test_rayiou_from_the_info_files_origins(tmp_path: Path) -> None:
    """With the Occ3D info file, RayIoU is scored from SparseOcc's origins: 1 for the ground truth itself, lower
    for a prediction with floaters, which stop the rays short of the true surface."""
    gts = occ3d_gts(tmp_path)
    infos = gts.parent / "occ_infos_train.pkl"
    perfect = score(gts, gts, infos=infos, pictures=False, progress=False).report["ray_iou"]
    assert perfect["rayiou"] == 1.0 and perfect["semantic_rayiou"] == 1.0 and perfect["num_rays"] > 1000
    preds = tmp_path / "preds"
    preds.mkdir()
    rng = np.random.default_rng(0)
    for path in gts.rglob("labels.npz"):
        with np.load(path) as z:
            semantics = z["semantics"].copy()
        semantics[(rng.random(semantics.shape) < 0.002) & (semantics == 17)] = 4  # floating "cars"
        np.savez_compressed(preds / f"{path.parent.name}.npz", semantics=semantics)
    report = score(preds, gts, infos=infos, pictures=False, progress=False).report
    assert report["ray_iou"]["rayiou"] < 0.95 and report["ray_iou"]["semantic_rayiou"] < 0.95
    other = tmp_path / "other.pkl"
    other.write_bytes(pickle.dumps({"infos": {"scene-x": [{"token": "elsewhere", "T_world_ego": np.eye(4)}]}}))
    with pytest.raises(InputFileError, match=r"lists no frame for 2 of 2 scored grids"):
        score(gts, gts, infos=other, pictures=False, progress=False)
