"""`occkit verify` on hand-made UAVScenes runs: a healthy set passes, a misaligned pose fires the fallback,
and with the fallback off the command fails with the reason."""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest
from fixtures_uavscenes import write_uavscenes
from rich.console import Console
from typer.testing import CliRunner

from occkit.cli import app
from occkit.commands.verify import pick_indices, run_verify, verify_source
from occkit.geometry import GridSpec
from occkit.sources.config import UAVScenesSourceConfig

REPO = Path(__file__).resolve().parents[1]


def _console() -> Console:
    return Console(width=200, record=True, force_terminal=False)


def test_aligned_runs_pass_with_the_ego_frame(tmp_path: Path) -> None:
    write_uavscenes(tmp_path)
    out = tmp_path / "report.json"
    console = _console()
    code = run_verify(tmp_path, scenes=["AMtown"], samples=10, json_out=out, console=console)
    text = console.export_text()
    assert code == 0, text
    assert "OK: every scene" in text and "AMtown" in text
    report = json.loads(out.read_text())
    (scene,) = report["scenes"]
    assert scene["samples"] == 6 and scene["empty"] == 0 and scene["paths"] == {"ego": 6}
    assert scene["fallback_fired"] == 0 and scene["in_range"]["min"] > 0.99
    # ground at world z = 0 sits at z = 0 of the ego grid frame: the 2nd percentile height is ~0
    assert abs(scene["floor_z"]["median"]) < 0.05
    assert 0 < scene["occupancy"]["min"] <= scene["occupancy"]["median"] <= scene["occupancy"]["max"] < 0.01


def test_misaligned_pose_fires_the_fallback_and_is_reported(tmp_path: Path) -> None:
    write_uavscenes(tmp_path, pose_shift=(0.0, 0.0, 500.0), layout="flat")
    console = _console()
    code = run_verify(tmp_path, samples=4, console=console)
    text = console.export_text()
    assert code == 0, text  # the fallback rescues every grid ...
    assert "fallback fired on 100% of AMtown samples" in text  # ... and says so

    spec = GridSpec.preset("uav")
    cfg = UAVScenesSourceConfig(root=str(tmp_path))
    (st,) = verify_source(cfg.build("train"), spec, samples=2)
    assert st.fallback_fired == 2 and st.paths == {"lidar_center": 2} and st.empty == 0

    console = _console()
    code = run_verify(tmp_path, samples=4, fallback_to_lidar_center=False, console=console)
    text = console.export_text()
    assert code == 1
    assert "100% of AMtown grids are empty with ego_frame=True: the pose puts the points outside the grid; " \
           "try fallback_to_lidar_center=True" in text


def test_threshold_counts_empty_grids_per_scene(tmp_path: Path) -> None:
    """One of three frames without a usable scan: 33% empty fails at max_empty=0.1, passes at 0.5."""
    fx = write_uavscenes(tmp_path, runs=("AMtown01",))
    scan = sorted((fx.run_dirs["AMtown01"] / "interval5_LIDAR").glob("*.txt"))[1]
    pts = np.loadtxt(scan)
    np.savetxt(scan, pts[:1] + [0.0, 0.0, 9000.0], fmt="%.6f")  # one point far outside any grid frame
    label = next((tmp_path / "interval5_LIDAR_label").rglob(scan.name))
    label.write_text("13\n")
    assert run_verify(tmp_path, samples=10, max_empty=0.5, fallback_to_lidar_center=False, console=_console()) == 0
    console = _console()
    assert run_verify(tmp_path, samples=10, max_empty=0.1, fallback_to_lidar_center=False, console=console) == 1
    assert "33% of AMtown grids are empty" in console.export_text()


def test_unreadable_scans_are_counted_and_named(tmp_path: Path) -> None:
    fx = write_uavscenes(tmp_path, runs=("AMtown01",))
    scan = sorted((fx.run_dirs["AMtown01"] / "interval5_LIDAR").glob("*.txt"))[2]
    scan.write_text("1.0 2.0\n3.0 oops 4.0\n")
    console = _console()
    assert run_verify(tmp_path, samples=10, console=console) == 1
    text = " ".join(console.export_text().split())
    assert "2/3 (1 bad)" in text and f"1 sampled AMtown frames could not be read (first: {scan}" in text


def test_cli_and_script_share_the_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_uavscenes(tmp_path, pose_shift=(0.0, 0.0, 500.0))
    runner = CliRunner()
    ok = runner.invoke(app, ["verify", "--data", str(tmp_path), "--scenes", "AMtown01", "--samples", "2"])
    assert ok.exit_code == 0, ok.output
    bad = runner.invoke(app, ["verify", "--data", str(tmp_path), "--samples", "2", "--no-fallback"])
    assert bad.exit_code == 1 and "try fallback_to_lidar_center=True" in bad.output
    missing = runner.invoke(app, ["verify", "--data", str(tmp_path / "nope")])
    assert missing.exit_code == 2 and "root folder not found" in missing.output

    script = REPO / "scripts" / "verify_uavscenes_occupancy.py"
    main = runpy.run_path(str(script))["main"]
    assert main(["--data", str(tmp_path), "--samples", "2", "--no-fallback"]) == 1
    assert main(["--data", str(tmp_path), "--samples", "2"]) == 0
    monkeypatch.setattr(sys, "argv", ["verify_uavscenes_occupancy.py", "--data", str(tmp_path), "--samples", "1"])
    assert main() == 0


def test_config_mode_takes_source_grid_and_alignment_from_the_experiment_config(tmp_path: Path, capsys) -> None:
    write_uavscenes(tmp_path, pose_shift=(0.0, 0.0, 500.0))
    cfg = REPO / "configs" / "uavscenes.py"
    console = _console()
    assert run_verify(tmp_path, config=cfg, split="val", samples=2, console=console) == 0
    text = " ".join(console.export_text().split())
    assert "2/3" in text and "fallback fired on 100%" in text  # val = AMtown02 only; accumulate=5 from the config
    console = _console()
    assert run_verify(tmp_path, config=cfg, overrides=["data.fallback_to_lidar_center=false"], samples=2,
                      console=console) == 1
    assert "try fallback_to_lidar_center=True" in " ".join(console.export_text().split())
    console = _console()
    assert run_verify(None, console=console) == 2 and "--data" in capsys.readouterr().err  # one error: line


def test_folder_format_and_index_picking(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    (tmp_path / "scans").mkdir()
    for i in range(3):
        np.save(tmp_path / "scans" / f"{i:03d}.npy", np.c_[rng.uniform(-20, 20, (400, 2)), rng.uniform(0, 5, 400)])
    (tmp_path / "poses.json").write_text(json.dumps({f"{i:03d}": np.eye(4).tolist() for i in range(3)}))
    console = _console()
    assert run_verify(tmp_path, source_format="folder", samples=3, console=console) == 0, console.export_text()
    assert pick_indices(10, 3) == [0, 4, 9] and pick_indices(2, 5) == [0, 1] and pick_indices(0, 3) == []


def test_reads_a_run_written_by_the_synthetic_writer(tmp_path: Path) -> None:
    runner = CliRunner()
    help_text = runner.invoke(app, ["synth", "--help"]).output
    if "--format" not in help_text or "uavscenes" not in help_text:
        pytest.skip("`occkit synth --format uavscenes` (src/occkit/synthetic writer) is not there yet")
    res = runner.invoke(app, ["synth", "--format", "uavscenes", "--out", str(tmp_path / "syn"), "--frames", "2"])
    assert res.exit_code == 0, res.output
    src = UAVScenesSourceConfig(root=str(tmp_path / "syn"), val_runs=[], load_images=True).build("train")
    assert len(src) == 2
    frame = src[0]
    assert frame.points.shape[1] == 3 and frame.point_labels is not None
    assert len(frame.point_labels) == len(frame.points)
    assert frame.cameras[0].semantics is not None  # the writer also writes camera label pngs
    assert frame.cameras[0].image is not None and frame.cameras[0].image.shape[:2] == (frame.cameras[0].height,
                                                                                        frame.cameras[0].width)
    # the writer's ground sits at the map datum: in the world, the lowest points are near z = 0
    from occkit.geometry import apply_transform

    world = apply_transform(frame.T_world_sensor, frame.points.astype(np.float64))
    assert abs(np.percentile(world[:, 2], 2)) < 2.0
    console = _console()
    assert run_verify(tmp_path / "syn", samples=2, console=console) == 0, console.export_text()
    assert "ego=2" in console.export_text()


REAL = REPO.parent / "shared" / "data" / "real" / "aerial_classified.las"


@pytest.mark.skipif(not REAL.is_file(), reason=f"real LAS scan not found at {REAL}")
def test_real_survey_at_its_true_elevation_needs_the_fallback(tmp_path: Path) -> None:
    """A real airborne scan 1350 m above the datum: the ego frame misses the uav grid, the fallback saves it."""
    (tmp_path / "scans").mkdir()
    (tmp_path / "scans" / "survey.las").symlink_to(REAL)
    console = _console()
    with pytest.warns(UserWarning, match="identity pose"):
        assert run_verify(tmp_path, source_format="folder", samples=1, fallback_to_lidar_center=False,
                          console=console) == 1
    assert "100% of" in console.export_text()
    console = _console()
    with pytest.warns(UserWarning, match="identity pose"):
        assert run_verify(tmp_path, source_format="folder", samples=1, console=console) == 0
    assert "fallback fired on 100%" in console.export_text()


@pytest.mark.parametrize(("mixup", "hint", "code"), [
    # every point misses the grid: empty grids (exit 1), and the reason names the mix-up
    ({"points_in_world": True}, "the scan files are already in the world frame (UAVScenes: points_frame='world')", 1),
    # a nadir rotation is its own inverse, so only an oblique camera shows the mix-up; a third of the points
    # (the building) still lands in the grid, so the grids are not empty (exit 0) but the warning names it
    ({"invert_pose": True, "tilt_deg": 30.0}, "the pose file holds world->camera, not camera->world", 0),
])
def test_pose_mixups_are_named(tmp_path: Path, mixup: dict, hint: str, code: int) -> None:
    write_uavscenes(tmp_path, runs=("AMtown01",), **mixup)
    console = _console()
    assert run_verify(tmp_path, samples=3, fallback_to_lidar_center=False, console=console) == code
    text = console.export_text()
    assert f"3 of 3 misaligned samples line up if {hint}" in " ".join(text.split()), text


def test_points_frame_world_reads_world_frame_exports(tmp_path: Path) -> None:
    fx = write_uavscenes(tmp_path, runs=("AMtown01",), points_in_world=True)
    f = UAVScenesSourceConfig(root=str(tmp_path), points_frame="world").build()[1]
    from occkit.geometry import apply_transform

    np.testing.assert_allclose(apply_transform(f.T_world_sensor, f.points), fx.world_points, atol=1e-3)
    console = _console()
    assert run_verify(tmp_path, samples=3, console=console) == 0
    assert "fallback fired on 100%" in console.export_text()
