"""Pictures: real matplotlib PNGs read back with pillow, RGB arrays, the plotly HTML, and `occkit viz`."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from occkit.cli import app
from occkit.errors import ConfigError, GridMismatchError, InputFileError
from occkit.geometry import GridSpec
from occkit.viz import (
    bev_height_figure,
    confusion_grids,
    figure_to_rgb,
    height_slices_figure,
    overlay_bev_figure,
    overlay_slices_figure,
    per_height_counts,
    per_height_iou_figure,
    save_png,
    top_height,
    write_grid_html,
)
from occkit.viz._common import FN_COLOR, FP_COLOR, TP_COLOR
from occkit.viz.gridfile import read_grid_file, resolve_spec

SPEC = GridSpec(pc_range=(-8.0, -6.0, -1.0, 8.0, 6.0, 2.2), voxel_size=(0.4, 0.4, 0.4))  # 40 x 30 x 8


def scene(shift: int = 0) -> np.ndarray:
    g = np.zeros(SPEC.shape, bool)
    g[:, :, 2] = True  # ground
    g[5 + shift:15 + shift, 18:26, 3:7] = True  # a building
    g[28:31, 5:8, 3:8] = True  # a tower up to the top level
    return g


def png_stats(path: Path) -> tuple[tuple[int, int], int]:
    img = Image.open(path).convert("RGB")
    colours = len(np.unique(np.asarray(img).reshape(-1, 3), axis=0))
    return img.size, colours


def hex_rgb(h: str) -> np.ndarray:
    return np.array([int(h[i:i + 2], 16) for i in (1, 3, 5)])


def has_colour(path: Path, colour: str, min_pixels: int = 50) -> bool:
    a = np.asarray(Image.open(path).convert("RGB")).reshape(-1, 3).astype(int)
    return int((np.abs(a - hex_rgb(colour)).sum(1) <= 3).sum()) >= min_pixels


def test_top_height_is_the_highest_occupied_centre() -> None:
    h = top_height(scene(), SPEC)
    assert h[29, 6] == pytest.approx(SPEC.z_centers()[7])  # tower
    assert h[0, 0] == pytest.approx(SPEC.z_centers()[2])  # ground
    empty = np.zeros(SPEC.shape, bool)
    assert np.isnan(top_height(empty, SPEC)).all()


def test_bev_and_slices_pngs_have_size_and_content(tmp_path: Path) -> None:
    bev = save_png(bev_height_figure(scene(), SPEC, title="gt"), tmp_path / "bev.png")
    size, colours = png_stats(bev)
    assert size == (730, 570) and colours > 50  # 16 m x 12 m grid: the plan keeps its 4:3 aspect (+ legend row)
    slices = save_png(height_slices_figure(torch.from_numpy(scene()), SPEC, max_panels=4), tmp_path / "s.png")
    size, colours = png_stats(slices)
    assert size == (800, 695) and colours > 10  # 2 x 2 panels
    one_level = save_png(height_slices_figure(scene(), SPEC, levels=[7]), tmp_path / "one.png")
    assert png_stats(one_level)[0] == (400, 377)
    with pytest.raises(ConfigError, match="levels"):
        height_slices_figure(scene(), SPEC, levels=[8])
    with pytest.raises(GridMismatchError, match="shape"):
        bev_height_figure(np.zeros((4, 4, 4), bool), SPEC)


def test_rgb_array_for_loggers() -> None:
    rgb = figure_to_rgb(bev_height_figure(scene().astype(np.float32) * 0.9, SPEC))
    assert rgb.shape == (570, 730, 3) and rgb.dtype == np.uint8
    assert len(np.unique(rgb.reshape(-1, 3), axis=0)) > 50 and rgb.std() > 10


def test_overlays_use_tp_fp_fn_colours_and_report_iou(tmp_path: Path) -> None:
    pred, gt = scene(shift=2), scene()
    tp, fp, fn = confusion_grids(pred, gt, SPEC)
    # Shifting the 10-wide building by 2: 2 columns x 8 y x 4 z voxels become FP, as many FN.
    assert int(fp.sum()) == int(fn.sum()) == 2 * 8 * 4
    fig = overlay_bev_figure(pred, gt, SPEC)
    iou = int(tp.sum()) / int(tp.sum() + fp.sum() + fn.sum())
    assert f"IoU {iou:.3f}" in fig.axes[0].get_title()
    path = save_png(fig, tmp_path / "ov.png")
    assert png_stats(path)[0] == (1000, 540)  # 10 in wide: the plan, its labels and the legend beside it
    assert has_colour(path, TP_COLOR)  # slices: wrong-height columns are MIXED in BEV, so check slices for FP/FN
    sl = save_png(overlay_slices_figure(pred, gt, SPEC, levels=[2, 4]), tmp_path / "ovs.png")
    assert has_colour(sl, TP_COLOR) and has_colour(sl, FP_COLOR) and has_colour(sl, FN_COLOR)
    mask = np.ones(SPEC.shape, bool)
    mask[:, :10] = False
    masked = overlay_bev_figure(pred, gt, SPEC, mask=mask)
    labels = [t.get_text() for t in masked.legends[0].get_texts()]
    assert any(t.startswith("not evaluated (mask): 400") for t in labels)  # 40 x 10 columns


def test_per_height_plot_and_counts(tmp_path: Path) -> None:
    c = per_height_counts(scene(shift=2), scene(), SPEC)
    iou = c["per_height_iou"]
    assert np.isnan(iou[0]) and iou[2] == 1.0 and iou[7] == pytest.approx(1.0)
    assert iou[4] == pytest.approx((80 - 16 + 9) / (80 + 16 + 9))
    assert c["target_count"][4] == 80 + 9
    fig = per_height_iou_figure(c["per_height_iou"], SPEC, c["target_count"], c["pred_count"], c["iou"])
    path = save_png(fig, tmp_path / "ph.png")
    size, colours = png_stats(path)
    assert size == (1000, 450) and colours > 20 and has_colour(path, TP_COLOR)
    with pytest.raises(GridMismatchError, match="levels"):
        per_height_iou_figure(np.zeros(3), SPEC)


def test_html_view_is_self_contained_and_holds_the_data(tmp_path: Path) -> None:
    g = np.zeros(SPEC.shape, bool)
    g[3, 4, 5] = True
    path = write_grid_html(tmp_path / "v.html", g, SPEC, title="one voxel")
    text = path.read_text()
    assert 'id="occkit-grid-view"' in text and "Plotly.newPlot" in text
    assert '<script src="http' not in text and len(text) > 1_000_000  # plotly.js is embedded
    assert "one voxel: 1 occupied voxels" in text
    centre = SPEC.indices_to_centers(np.array([[3, 4, 5]]))[0]
    for axis, want in zip("xyz", centre, strict=True):  # plotly stores arrays as base64 float64 "bdata"
        m = re.search(rf'"{axis}":{{"dtype":"f8","bdata":"([^"]+)"}}', text)
        assert m is not None, axis
        assert np.frombuffer(base64.b64decode(m.group(1)), np.float64).tolist() == pytest.approx([want])
    both = write_grid_html(tmp_path / "b.html", scene(shift=2), SPEC, gt=scene()).read_text()
    assert "FP (prediction only): 64" in both and "FN (ground truth only): 64" in both


def test_grid_file_reading_and_spec_resolution(tmp_path: Path) -> None:
    np.save(tmp_path / "p.npy", scene().astype(np.float32) * 0.7)
    assert read_grid_file(tmp_path / "p.npy").occupancy.dtype == np.float32
    np.save(tmp_path / "logits.npy", np.full(SPEC.shape, 3.0, np.float32))
    with pytest.raises(InputFileError, match="sigmoid"):
        read_grid_file(tmp_path / "logits.npy")
    sem = np.where(scene(), 4, 17).astype(np.uint8)
    np.savez(tmp_path / "l.npz", semantics=sem, grid_spec=np.array(SPEC.model_dump_json()))
    f = read_grid_file(tmp_path / "l.npz")
    assert np.array_equal(f.occupancy, scene()) and f.spec == SPEC
    assert resolve_spec(SPEC.shape, stored=f.spec) == SPEC
    assert resolve_spec((200, 200, 16)) == GridSpec.preset("occ3d_nuscenes")
    with pytest.raises(ConfigError, match="--grid"):
        resolve_spec(SPEC.shape)
    with pytest.raises(GridMismatchError):
        resolve_spec(SPEC.shape, preset="uav")
    np.savez(tmp_path / "bad.npz", foo=np.zeros(3))
    with pytest.raises(InputFileError, match="expected one of"):
        read_grid_file(tmp_path / "bad.npz")


def test_an_occ3d_waymo_label_file_draws_with_its_own_free_label_masks_and_classes(tmp_path: Path) -> None:
    """Occ3D-Waymo's files hold ``voxel_label`` (15 classes, free = 23, as the Occ3D README says), ``infov``,
    ``origin_voxel_state`` (LiDAR) and ``final_voxel_state`` (camera); the 0.4 m files are 200 x 200 x 16."""
    from occkit.viz.semantic import guess_palette

    labels = np.full((200, 200, 16), 23, np.uint8)
    labels[:, :, 4] = 13  # road
    labels[90:110, 90:110, 5:9] = 1  # a vehicle
    seen = np.zeros(labels.shape, np.uint8)
    seen[:, 100:] = 1
    np.savez_compressed(tmp_path / "000_04.npz", voxel_label=labels, infov=np.ones(labels.shape, bool),
                        origin_voxel_state=seen, final_voxel_state=seen)
    read = read_grid_file(tmp_path / "000_04.npz")
    assert read.free_label == 23 and int(read.occupancy.sum()) == 200 * 200 + 20 * 20 * 4
    assert sorted(read.masks) == ["mask_camera", "mask_lidar"] and int(read.masks["mask_camera"].sum()) == seen.sum()
    assert guess_palette(read.free_label, int(read.semantics.max())) == "occ3d_waymo"
    result = CliRunner().invoke(app, ["viz", str(tmp_path / "000_04.npz"), "--gt", str(tmp_path / "000_04.npz"),
                                      "--mask", "camera", "--no-html", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "occ3d_waymo colours" in " ".join(result.output.split())
    assert has_colour(tmp_path / "out" / "semantic_bev.png", "#ff00ff", min_pixels=1000)  # the road's magenta
    # the full-resolution files (0.1 m x 0.1 m x 0.2 m) are a grid preset of their own
    assert GridSpec.preset("occ3d_waymo").shape == (1600, 1600, 64)


def test_viz_draws_probabilities_at_the_threshold_their_file_stores(tmp_path: Path) -> None:
    """A run's report keeps its grids with the threshold it chose; redrawn at viz's 0.5 instead, the pictures
    would show other voxels and another IoU than the report's."""
    from occkit.viz.gridfile import write_grid_npz

    prob = np.where(scene(), 0.85, 0.0).astype(np.float32)
    prob[scene(shift=2) & ~scene()] = 0.6  # drawn at 0.5, never at 0.8
    write_grid_npz(tmp_path / "p.npz", SPEC, probability=prob, threshold=np.float32(0.8))
    write_grid_npz(tmp_path / "gt.npz", SPEC, occupancy=scene())
    assert read_grid_file(tmp_path / "p.npz").threshold == pytest.approx(0.8)
    common = ["--gt", str(tmp_path / "gt.npz"), "--no-html", "--out"]
    stored = CliRunner().invoke(app, ["viz", str(tmp_path / "p.npz"), *common, str(tmp_path / "a")])
    assert stored.exit_code == 0 and "drawn at threshold 0.8 (stored in the file)" in stored.output
    given = CliRunner().invoke(app, ["viz", str(tmp_path / "p.npz"), "--threshold", "0.5", *common,
                                     str(tmp_path / "b")])
    assert given.exit_code == 0 and "drawn at threshold" not in given.output
    # the stored threshold finds no false positive (its colour is in the legend alone), 0.5 the shifted building's
    assert has_colour(tmp_path / "b" / "overlay_slices.png", FP_COLOR, min_pixels=3000)
    assert not has_colour(tmp_path / "a" / "overlay_slices.png", FP_COLOR, min_pixels=1000)
    write_grid_npz(tmp_path / "bad.npz", SPEC, probability=prob, threshold=np.float32(1.5))
    bad = CliRunner().invoke(app, ["viz", str(tmp_path / "bad.npz"), "--no-html"])
    assert bad.exit_code == 2 and "'threshold'" in bad.output and "Traceback" not in bad.output


@pytest.mark.slow
def test_cli_writes_every_picture(tmp_path: Path) -> None:
    spec_json = tmp_path / "spec.json"
    spec_json.write_text(SPEC.model_dump_json())
    np.save(tmp_path / "pred.npy", scene(shift=1))
    mask = np.ones(SPEC.shape, np.uint8)
    np.savez(tmp_path / "gt.npz", semantics=np.where(scene(), 4, 17).astype(np.uint8), mask_camera=mask)
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["viz", str(tmp_path / "pred.npy"), "--gt", str(tmp_path / "gt.npz"),
                                   "--spec-json", str(spec_json), "--out", str(out), "--mask", "camera"])
    assert res.exit_code == 0, res.output
    for name in ("bev.png", "slices.png", "gt_bev.png", "overlay_bev.png", "overlay_slices.png",
                 "per_height_iou.png"):
        size, colours = png_stats(out / name)
        assert size[0] >= 400 and colours > 5, name
    assert "Plotly.newPlot" in (out / "view.html").read_text()
    res = CliRunner().invoke(app, ["viz", str(tmp_path / "pred.npy"), "--out", str(out)])
    assert res.exit_code == 2 and "--grid" in res.output
    res = CliRunner().invoke(app, ["viz", str(tmp_path / "pred.npy"), "--spec-json", str(spec_json),
                                   "--out", str(out), "--mask", "lidar", "--gt", str(tmp_path / "gt.npz")])
    assert res.exit_code == 2 and "mask_lidar" in res.output


def test_validation_images_for_loggers() -> None:
    from occkit.geometry import channels_to_grid, grid_to_channels
    from occkit.viz import validation_images

    probs = torch.from_numpy(scene(shift=1).astype(np.float32) * 0.9)
    model_layout = torch.from_numpy(grid_to_channels(scene())).float()  # what a batch target looks like
    images = validation_images(probs, channels_to_grid(model_layout), SPEC)
    assert set(images) == {"bev", "overlay_bev", "per_height_iou"}
    for img in images.values():
        assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3 and img.std() > 5
    assert set(validation_images(probs, None, SPEC)) == {"bev"}


def test_zoom_crops_plan_views_to_the_occupied_area() -> None:
    g = np.zeros(SPEC.shape, bool)
    g[10:14, 10:12, 3] = True  # x in [-4, -2.4), y in [-2, -1.2)
    ax = bev_height_figure(g, SPEC, zoom=True).axes[0]
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    assert -4.5 < x0 < -4.0 and -2.4 < x1 < -1.8 and -2.5 < y0 < -2.0 and -1.2 < y1 < -0.6
    full = bev_height_figure(g, SPEC).axes[0]
    assert full.get_xlim() == (-8.0, 8.0)
    ov = overlay_slices_figure(g, g, SPEC, zoom=True).axes[0]
    assert ov.get_xlim()[1] - ov.get_xlim()[0] < 3


def test_semantic_occ3d_grid_is_drawn_in_its_class_colours(tmp_path) -> None:
    import numpy as np
    from PIL import Image
    from typer.testing import CliRunner

    from occkit.cli import app
    from occkit.geometry.grid import GridSpec
    from occkit.io.occ3d import write_occ3d_labels

    spec = GridSpec(pc_range=(0.0, 0.0, 0.0, 16.0, 16.0, 4.0), voxel_size=(1.0, 1.0, 1.0))
    sem = np.full(spec.shape, 17, np.uint8)
    sem[:, :, 0] = 11  # driveable surface
    sem[4:8, 4:8, 1:3] = 4  # a car on it
    ones = np.ones(spec.shape, np.uint8)
    path = write_occ3d_labels(tmp_path / "labels.npz", sem, ones, ones, spec=spec)
    result = CliRunner().invoke(app, ["viz", str(path), "--out", str(tmp_path / "v"), "--no-html"])
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "v" / "semantic_bev.png") as im:
        colours = set(im.convert("RGB").getdata())
    assert (0, 150, 245) in colours and (255, 0, 255) in colours  # Occ3D's car blue and driveable magenta


def test_cloud_bev_draws_every_cloud_without_layout_warnings(tmp_path: Path) -> None:
    """Raw, refined (coloured by origin, with its legend) and LiDAR side by side, on one constrained layout."""
    import warnings

    from occkit.viz.clouds import write_clouds_bev

    rng = np.random.default_rng(0)
    cloud = rng.uniform(-5, 5, (500, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "The figure layout has changed to tight" once came from every call
        path = write_clouds_bev(tmp_path / "clouds.png", {"raw": cloud, "refined": cloud, "lidar": cloud},
                                origin=rng.integers(0, 3, 500), title="frame 0")
    with Image.open(path) as im:
        assert im.width > 2 * im.height  # three panels in a row


def test_training_curves_place_each_validation_at_its_training_step(tmp_path: Path) -> None:
    """Validation every fifth epoch of 32 steps: the IoU points sit at steps 160 and 320 on the loss panel's axis,
    not at 'epochs' 1 and 2; a non-finite value is left out rather than shifting the rest."""
    from occkit.health.rundir import RunRecord
    from occkit.viz.curves import training_curves_figure

    run = RunRecord(run_dir=tmp_path, config={"name": "r"},
                    steps={"train/loss": [(s, 1.0 / s) for s in range(1, 321)]},
                    epochs={"val/iou": [(160, 0.5), (240, float("nan")), (320, 0.6)],
                            "val/iou_best_baseline": [(160, 0.4), (240, 0.4), (320, 0.4)]})
    fig = training_curves_figure(run)
    iou_ax = fig.axes[1]
    model, baseline = iou_ax.get_lines()
    assert list(model.get_xdata()) == [160, 320] and list(model.get_ydata()) == [0.5, 0.6]
    assert list(baseline.get_xdata()) == [160, 240, 320]
    assert iou_ax.get_xlabel() == "step"


def test_a_grid_saved_in_the_models_layout_is_named_as_such(tmp_path: Path) -> None:
    """A network's output saved as it comes out, (Z, Y, X): the error says so instead of only 'no preset'."""
    np.save(tmp_path / "pred.npy", np.zeros((16, 200, 200), np.float32))
    result = CliRunner().invoke(app, ["viz", str(tmp_path / "pred.npy"), "--no-html"])
    assert result.exit_code == 2 and "it looks like (Z, Y, X)" in " ".join(result.output.split())
    with pytest.raises(GridMismatchError, match=r"looks like \(Z, Y, X\)"):
        GridSpec.preset("occ3d_nuscenes").check_array(np.zeros((16, 200, 200)), "pred.npy")
    with pytest.raises(GridMismatchError) as info:  # any other wrong shape gets no such guess
        GridSpec.preset("occ3d_nuscenes").check_array(np.zeros((200, 100, 16)), "pred.npy")
    assert "looks like" not in str(info.value)
