"""Export a trained network as TorchScript or ONNX, with an input example and a JSON sidecar.

Written into the output folder:

- ``model.pt`` (TorchScript, ``torch.jit.load``) or ``model.onnx`` (ONNX, opset 18; ``onnxruntime``);
- ``example_input.npy``: a real model input, float32 ``(1, F*Z, Y, X)``, from the config's first validation frame
  when it can be read, else zeros;
- ``model.json``: what a deployment needs besides the weights: the GridSpec, the input features and their
  channel layout, the decision threshold, the output meaning (logits, ``(B, Z, Y, X)``), the occkit version and
  the parity figure measured here.

Parity is the largest absolute difference between the exported model's logits and the PyTorch module's on the
example input and on a second, random one (a graph recorded from one input must not have frozen anything about it).
Beyond ``parity_tolerance`` the export is refused and its model file removed: a model that computes something else
must not reach a deployment.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from occkit.errors import ConfigError, OccKitError

ExportFormat = Literal["torchscript", "onnx"]
ONNX_MISSING = 'ONNX export needs the onnx extra: pip install "occkit[onnx]" (onnx, onnxscript, onnxruntime)'


class ExportUnavailableError(OccKitError):
    """The optional packages an export format needs are not installed."""


class ExportParityError(OccKitError):
    """The exported model does not compute what the network computes; nothing is left behind."""


def parity_tolerance(reference: np.ndarray) -> float:
    """The largest logit difference an export may show: float32 rounding over a deep network, relative to the
    logits' own size (a wrong graph is off by whole logits)."""
    return 1e-3 * max(1.0, float(np.abs(reference).max()))


@dataclass
class ExportResult:
    model_path: Path
    example_path: Path
    sidecar_path: Path
    max_abs_diff: float


def example_input(module: Any) -> np.ndarray:
    """A real input from the first validation frame, else zeros of the right shape."""
    cfg = module.cfg
    try:
        from occkit.data.dataset import OccupancyDataset

        sample = OccupancyDataset(cfg.data, "val", seed=cfg.seed, augment=False)[0]
        return np.asarray(sample["input"][None], np.float32)
    except Exception:  # noqa: BLE001 - no data at hand (a checkpoint moved to another machine): shape is enough
        x, y, z = cfg.data.grid.shape
        return np.zeros((1, cfg.data.in_channels, y, x), np.float32)


def export_model(module: Any, out_dir: str | Path, fmt: ExportFormat = "torchscript",
                 checkpoint: Path | None = None) -> ExportResult:
    """Write the exported network, its example input and model.json into ``out_dir``; returns the parity."""
    import torch

    if fmt not in ("torchscript", "onnx"):
        raise ConfigError(f"--format: expected torchscript or onnx, got {fmt!r}")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: is a file; --out must be a folder")
    out.mkdir(parents=True, exist_ok=True)
    from occkit.evaluation.prediction import refuse_image_model

    refuse_image_model(module, "occkit export")
    net = module.net.eval()
    example = example_input(module)
    x = torch.from_numpy(example)
    with torch.no_grad():
        reference = net(x).float().numpy()
    if fmt == "torchscript":
        model_path, diff = _torchscript(net, x, reference, out / "model.pt")
    else:
        model_path, diff = _onnx(net, x, reference, out / "model.onnx")
    tolerance = parity_tolerance(reference)
    if not diff <= tolerance:  # NaN fails too
        model_path.unlink(missing_ok=True)
        raise ExportParityError(f"{fmt} export: the exported model's logits differ from the network's by up to "
                                f"{diff:.3g} (tolerance {tolerance:.3g}), on the example or a "
                                "random input; the export is not written (please report this with the config)")
    example_path = out / "example_input.npy"
    np.save(example_path, example)
    sidecar = out / "model.json"
    sidecar.write_text(json.dumps(_sidecar(module, fmt, model_path, example, diff, checkpoint), indent=2))
    return ExportResult(model_path, example_path, sidecar, diff)


def _torchscript(net: Any, x: Any, reference: np.ndarray, path: Path) -> tuple[Path, float]:
    import torch

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # TorchScript is in maintenance; it is still what C++ deployments load
        traced = torch.jit.trace(net, x, check_trace=False)
        traced.save(str(path))
        loaded = torch.jit.load(str(path))
        diff = float(np.abs(loaded(x).float().numpy() - reference).max())
        other = torch.rand_like(x)  # a trace must not have frozen anything about the example
        diff = max(diff, float((loaded(other) - net(other)).abs().max()))
    return path, diff


def _onnx(net: Any, x: Any, reference: np.ndarray, path: Path) -> tuple[Path, float]:
    import importlib.util

    import torch

    if any(importlib.util.find_spec(m) is None for m in ("onnx", "onnxscript", "onnxruntime")):
        raise ExportUnavailableError(ONNX_MISSING)
    import logging

    import onnxruntime

    logging.getLogger("torch.onnx").setLevel(logging.ERROR)  # "torchvision is not installed. Skipping ..." lines
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (x,), str(path), input_names=["input"], output_names=["logits"], opset_version=18,
                          dynamo=True, external_data=False, verbose=False)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    logits = session.run(["logits"], {"input": x.numpy()})[0]
    diff = float(np.abs(logits - reference).max())
    other = torch.rand_like(x)  # a graph must not have frozen anything about the example
    with torch.no_grad():
        expected = net(other).float().numpy()
    return path, max(diff, float(np.abs(session.run(["logits"], {"input": other.numpy()})[0] - expected).max()))


def _sidecar(module: Any, fmt: str, model_path: Path, example: np.ndarray, diff: float,
             checkpoint: Path | None) -> dict[str, Any]:
    from occkit import __version__

    cfg = module.cfg
    x, y, z = cfg.data.grid.shape
    return {
        "format": fmt,
        "model": model_path.name,
        "example_input": "example_input.npy",
        "occkit_version": __version__,
        "checkpoint": str(checkpoint) if checkpoint else None,
        "grid_spec": cfg.data.grid.model_dump(mode="json"),
        "grid_shape_xyz": [x, y, z],
        "input": {"shape": list(example.shape), "layout": "(B, F*Z, Y, X): feature-major, then height levels",
                  "features": list(cfg.data.input.features), "points": cfg.data.input.points,
                  # how the features were computed (soft occupancy's lambda and gamma, the free feature's margin)
                  "settings": cfg.data.input.model_dump(mode="json", exclude={"camera", "features", "points"})},
        "output": {"shape": [1, z, y, x], "layout": "(B, Z, Y, X) logits; sigmoid gives occupancy probability; "
                   "grid [x, y, z] = transpose(2, 1, 0) of one sample"},
        "threshold": float(cfg.eval.threshold),
        "parity_max_abs_diff": diff,
    }
