"""Checkpoints: atomic saving, loading that never runs code, and refusing a grid the model was not trained on.

occkit checkpoints hold only tensors, numbers, strings and containers (the config is stored as plain JSON-like
data), so every load uses ``torch.load(weights_only=True)``: a checkpoint that carries pickled code (a classic
attack on .ckpt/.pth files) is refused before anything runs.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from occkit.config import ExperimentConfig, validate_config
from occkit.errors import ConfigError, GridMismatchError, InputFileError
from occkit.geometry.grid import GridSpec
from occkit.utils.atomic import atomic_write


class AtomicCheckpointIO(TorchCheckpointIO):
    """torch.save into a temp file in the same folder, then rename: a crash never leaves half a checkpoint.

    (Lightning's own save goes through an fsspec transaction whose temp file lives in the system temp
    dir, so on another filesystem the final move is a copy over the old file, not a rename.)
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        atomic_write(Path(path), lambda tmp: torch.save(checkpoint, tmp))

    def load_checkpoint(self, path: Any, map_location: Any = None, weights_only: bool | None = None) -> dict[str, Any]:
        """Resume loads go through :func:`read_checkpoint` too: weights only, whatever Lightning asks for."""
        return read_checkpoint(path)


def checkpoint_grid(checkpoint: dict[str, Any]) -> GridSpec | None:
    """The GridSpec a checkpoint was trained on (explicit key, else the saved config), or None."""
    raw = checkpoint.get("occkit_grid")
    if raw is None:
        raw = (checkpoint.get("hyper_parameters", {}).get("config", {}) or {}).get("data", {}).get("grid")
    return GridSpec.model_validate(raw) if raw is not None else None


def check_grid(saved: GridSpec, wanted: GridSpec, where: str = "checkpoint") -> None:
    """Raise GridMismatchError naming both grids; occkit never resamples silently."""
    if not saved.is_close(wanted):
        raise GridMismatchError(
            f"{where} was trained on {saved.describe()} but the config (data.grid) asks for {wanted.describe()}; "
            "use the config the checkpoint was trained with, or train a new model for this grid")


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "checkpoint not found (expected a .ckpt file written by `occkit train`)")
    if path.stat().st_size == 0:
        raise InputFileError(path, "empty file (0 bytes), not a checkpoint; was its write interrupted?")
    if not _looks_like_torch_file(path):
        raise InputFileError(path, "not a PyTorch checkpoint: neither the zip archive torch.save writes nor a "
                                   "legacy pickle (expected a .ckpt file written by `occkit train`)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "weights_only" in str(err) or "Unsupported global" in str(err):
            culprit = _unsupported_global(str(err))
            raise InputFileError(path, f"refused: the checkpoint holds pickled objects{culprit} that would run code "
                                       "when loaded; occkit checkpoints hold only tensors and plain data, so this "
                                       "file was not written by occkit or was altered") from None
        raise InputFileError(path, f"not a readable checkpoint (UnpicklingError: {err})") from None
    except Exception as err:  # truncated / not a torch file
        msg = str(err).splitlines()[0] if str(err) else ""
        raise InputFileError(path, f"not a readable checkpoint ({type(err).__name__}: {msg})") from None


def _looks_like_torch_file(path: Path) -> bool:
    """torch.save writes a zip archive (PK..), its legacy format a pickle (protocol 2+ starts with 0x80); anything
    else (a text file, an image) is no checkpoint at all, not a checkpoint with code in it."""
    with path.open("rb") as fh:
        magic = fh.read(2)
    return magic == b"PK" or magic[:1] == b"\x80"


def _unsupported_global(message: str) -> str:
    """' (os.system)' from torch's weights-only refusal text, when it names the global."""
    match = re.search(r"Unsupported global: GLOBAL ([\w.]+)", message) or re.search(r"GLOBAL ([\w.]+)", message)
    return f" ({match.group(1)})" if match else ""


def check_checkpoint_grid(path: str | Path, cfg: ExperimentConfig) -> dict[str, Any]:
    """Read ``path`` and check its grid against ``cfg.data.grid``; returns the checkpoint dict."""
    ckpt = read_checkpoint(path)
    saved = checkpoint_grid(ckpt)
    if saved is not None:
        check_grid(saved, cfg.data.grid, where=f"checkpoint {path}")
    return ckpt


def checkpoint_config(ckpt: dict[str, Any], path: str | Path = "checkpoint") -> ExperimentConfig:
    raw = ckpt.get("hyper_parameters", {}).get("config")
    if raw is None:
        raise ConfigError(f"{path}: holds no occkit config (hyper_parameters.config); was it written by occkit?")
    return validate_config(raw, origin=f"{path} hyper_parameters.config", saved=True)


def load_module(path: str | Path, cfg: ExperimentConfig | None = None, *, net: torch.nn.Module | None = None,
                loss_fn: torch.nn.Module | None = None) -> Any:
    """Rebuild an OccupancyModule from a checkpoint (eval mode, CPU).

    With ``cfg`` the checkpoint's grid must equal ``cfg.data.grid`` (GridMismatchError otherwise);
    without it the checkpoint's own config is used.
    """
    from occkit.train.module import OccupancyModule

    ckpt = read_checkpoint(path)
    saved_cfg = checkpoint_config(ckpt, path)
    if cfg is not None:
        saved = checkpoint_grid(ckpt)
        if saved is not None:
            check_grid(saved, cfg.data.grid, where=f"checkpoint {path}")
    module = OccupancyModule(cfg or saved_cfg, net=net, loss_fn=loss_fn)
    try:
        module.load_state_dict(ckpt["state_dict"])
    except (RuntimeError, KeyError) as err:  # missing / unexpected / mis-shaped weights
        first = str(err).splitlines()[1:2] or str(err).splitlines()[:1]
        raise InputFileError(path, "its weights do not fit the network its config builds (made by another occkit "
                                   f"version, or evaluated with another model config?): {' '.join(first).strip()}"
                             ) from None
    module.on_load_checkpoint(ckpt)
    return module.eval()
