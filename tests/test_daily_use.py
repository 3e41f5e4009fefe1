"""Daily use: verbs that take a run directory, --version, the Python API against `occkit predict`, export with
parity, and `occkit viz` on predict's own output without naming the grid."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from test_evaluate_support import crafted_scan, train_tiny
from typer.testing import CliRunner

import occkit
from occkit.cli import app


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, ckpt = train_tiny(tmp_path_factory.mktemp("daily"))
    return ckpt.parent.parent


@pytest.fixture(scope="module")
def scan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("scan") / "s0.npy"
    np.save(path, crafted_scan(np.random.default_rng(11)))
    return path


def test_version_flag() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"occkit {occkit.__version__}"


def test_eval_and_predict_take_a_run_directory(run_dir: Path, scan: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["eval", str(run_dir), "--no-progress", "--out", str(tmp_path / "ev")])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert metrics["overall"]["iou"] > 0
    result = CliRunner().invoke(app, ["predict", "--checkpoint", str(run_dir), "--inputs", str(scan), "--out",
                                      str(tmp_path / "pr"), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "pr" / "grids" / "s0" / "labels.npz").is_file()
    empty = tmp_path / "empty_run"
    empty.mkdir()
    result = CliRunner().invoke(app, ["eval", str(empty)])
    assert result.exit_code == 2 and "no checkpoints/best.ckpt or checkpoints/last.ckpt" in result.output


def test_predict_takes_the_run_and_its_inputs_as_arguments(run_dir: Path, scan: Path, tmp_path: Path) -> None:
    """`occkit predict RUN SCAN -o OUT`, as `occkit eval RUN` takes its run: the same grid as the option form."""
    by_option = CliRunner().invoke(app, ["predict", "--checkpoint", str(run_dir), "--inputs", str(scan), "--out",
                                         str(tmp_path / "opt"), "--format", "npy", "--no-progress"])
    by_argument = CliRunner().invoke(app, ["predict", str(run_dir), str(scan), "-o", str(tmp_path / "arg"),
                                           "--format", "npy", "--no-progress"])
    assert by_option.exit_code == 0 and by_argument.exit_code == 0, by_argument.output
    np.testing.assert_array_equal(np.load(tmp_path / "arg" / "grids" / "s0.npy"),
                                  np.load(tmp_path / "opt" / "grids" / "s0.npy"))
    mixed = CliRunner().invoke(app, ["predict", "-k", str(run_dir), str(scan), "-o", str(tmp_path / "mix"),
                                     "--format", "npy", "--no-progress"])  # with -k every argument is an input
    assert mixed.exit_code == 0 and (tmp_path / "mix" / "grids" / "s0.npy").is_file()
    no_inputs = CliRunner().invoke(app, ["predict", str(run_dir), "-o", str(tmp_path / "none")])
    assert no_inputs.exit_code == 2 and "error: give what to predict" in no_inputs.output
    nothing = CliRunner().invoke(app, ["predict", "-o", str(tmp_path / "none")])
    assert nothing.exit_code == 2 and "error: give the run directory" in nothing.output
    assert not (tmp_path / "none").exists()


def test_run_config_records_the_absolute_cache_path(run_dir: Path) -> None:
    saved = json.loads((run_dir / "config.json").read_text())
    cache = saved["data"]["cache_dir"]
    assert cache is None or Path(cache).is_absolute()


def test_python_api_matches_occkit_predict(run_dir: Path, scan: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["predict", "--checkpoint", str(run_dir), "--inputs", str(scan), "--out",
                                      str(tmp_path), "--format", "npy", "--no-progress"])
    assert result.exit_code == 0, result.output
    from_cli = np.load(tmp_path / "grids" / "s0.npy")
    model = occkit.load_model(run_dir)
    grid = model.predict(occkit.read_points(scan).xyz)
    assert grid.probability.shape == grid.spec.shape == from_cli.shape
    np.testing.assert_allclose(grid.probability, from_cli, atol=1e-6)
    refined = model.refine(np.load(scan))
    assert refined.xyz.shape[1] == 3 and len(refined.xyz) > 0
    with pytest.raises(occkit.errors.ConfigError, match=r"points: expected a finite \(N, >=3\) array"):
        model.predict(np.zeros((5, 2)))


def test_viz_redraws_predict_output_without_grid(run_dir: Path, scan: Path, tmp_path: Path) -> None:
    for fmt, name in (("npz", "s0/labels.npz"), ("npy", "s0.npy")):
        out = tmp_path / fmt
        assert CliRunner().invoke(app, ["predict", "--checkpoint", str(run_dir), "--inputs", str(scan), "--out",
                                        str(out), "--format", fmt, "--no-progress"]).exit_code == 0
        result = CliRunner().invoke(app, ["viz", str(out / "grids" / name), "--out", str(out / "viz"),
                                          "--no-html"])
        assert result.exit_code == 0, result.output
        assert list((out / "viz").glob("*.png"))
    # without --out the pictures go beside the grid, in a folder named after it
    result = CliRunner().invoke(app, ["viz", str(tmp_path / "npy" / "grids" / "s0.npy"), "--no-html"])
    assert result.exit_code == 0, result.output
    assert list((tmp_path / "npy" / "grids" / "s0_viz").glob("*.png"))


def test_export_without_out_writes_into_the_run(run_dir: Path, tmp_path: Path) -> None:
    import shutil

    run = shutil.copytree(run_dir, tmp_path / "run")
    result = CliRunner().invoke(app, ["export", str(run)])
    assert result.exit_code == 0, result.output
    assert (run / "export" / "model.pt").is_file() and (run / "export" / "model.json").is_file()
    ckpt = next((run / "checkpoints").glob("*.ckpt"))
    result = CliRunner().invoke(app, ["export", str(ckpt)])
    assert result.exit_code == 0, result.output
    assert (ckpt.parent / f"{ckpt.stem}_export" / "model.pt").is_file()


def test_torchscript_export_matches_the_module(run_dir: Path, tmp_path: Path) -> None:
    import torch

    result = CliRunner().invoke(app, ["export", str(run_dir), "--format", "torchscript", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    sidecar = json.loads((tmp_path / "model.json").read_text())
    assert sidecar["parity_max_abs_diff"] <= 1e-5 and sidecar["occkit_version"] == occkit.__version__
    assert occkit.GridSpec.model_validate(sidecar["grid_spec"]).shape == tuple(sidecar["grid_shape_xyz"])
    settings = occkit.load_model(run_dir).module.cfg.data.input
    assert sidecar["input"]["settings"]["soft_lambda"] == settings.soft_lambda  # how to rebuild the features
    assert sidecar["input"]["settings"]["free_margin"] == settings.free_margin
    example = torch.from_numpy(np.load(tmp_path / "example_input.npy"))
    module = occkit.load_model(run_dir).module
    with torch.no_grad():
        diff = (torch.jit.load(str(tmp_path / "model.pt"))(example) - module(example)).abs().max()
    assert float(diff) <= 1e-5


def test_onnx_export_matches_where_installed(run_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    result = CliRunner().invoke(app, ["export", str(run_dir), "--format", "onnx", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "model.json").read_text())["parity_max_abs_diff"] <= 1e-4
    import onnxruntime

    session = onnxruntime.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    logits = session.run(None, {"input": np.load(tmp_path / "example_input.npy")})[0]
    assert logits.shape[0] == 1 and logits.shape[1:] == tuple(reversed(occkit.load_model(run_dir).spec.shape))


@pytest.mark.slow
def test_train_console_is_a_summary_without_third_party_noise(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from test_train_cli import TINY_SYNTHETIC

    cfg = tmp_path / "tiny.py"
    cfg.write_text(TINY_SYNTHETIC)
    env = {**os.environ, "WANDB_MODE": "offline", "COLUMNS": "200"}
    proc = subprocess.run([sys.executable, "-c", "from occkit.cli import main; main()", "train", "-c", str(cfg),
                           "--run-dir", str(tmp_path / "run")], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout + proc.stderr
    assert "grid: 20 x 20 x 8 voxels of 4 x 4 x 6.4 m" in text and "full config:" in text
    assert "precision: " in text  # which precision the steps run in (auto says what it chose)
    for noise in ("Tip:", "GPU available", "TPU available", "LeafSpec", "estimate number of stepping batches"):
        assert noise not in text, noise
    health = [ln for ln in text.splitlines() if "HEALTH" in ln]
    assert health and all(ln.lstrip().startswith("HEALTH") for ln in health)  # never glued to the bar


def test_readme_sweep_parameters_are_config_paths() -> None:
    """The W&B sweep in the README names fields `occkit train KEY=VALUE` accepts."""
    import re

    from occkit.config import apply_overrides, load_config

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = readme.split("# sweep.yaml", 1)[1].split("```", 1)[0]
    params = re.findall(r"^  ([a-z_.]+): \{", block, flags=re.M)
    assert params == ["optim.lr", "loss.kind"]
    cfg = load_config("synthetic_uav")
    apply_overrides(cfg, ["optim.lr=0.001", 'loss.kind="bce"', 'loss.kind="focal_dice"'])


def test_an_export_that_computes_something_else_is_refused(run_dir: Path, tmp_path: Path) -> None:
    """A network whose forward takes a Python decision on its input traces into a graph frozen to the example:
    the parity check on a second input catches it, the export fails in one line and leaves no model behind."""
    import torch

    from occkit.export import ExportParityError, export_model

    class DecidesInPython(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            logits = x[:, : x.shape[1] // 2] - 3.0
            return logits * 2.0 if float(x.mean()) > 0.25 else logits  # frozen by a trace

    module = occkit.load_model(run_dir).module
    module.net = DecidesInPython()
    with pytest.raises(ExportParityError, match="differ from the network's by up to .* not written") as info:
        export_model(module, tmp_path, "torchscript")
    assert "\n" not in str(info.value) and not (tmp_path / "model.pt").exists()
