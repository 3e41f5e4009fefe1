"""The experiment config: typed sections, python config files, ``--set`` overrides.

A config file is python that defines ``config`` (an ExperimentConfig, or a dict of its fields).
Overrides like ``optim.lr=1e-3`` are applied to the dumped dict and re-validated, so a wrong key or
type fails before training with the field's dotted path named.
"""

from __future__ import annotations

import json
import runpy
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from occkit.data.config import DataConfig
from occkit.errors import ConfigError
from occkit.health.config import HealthConfig
from occkit.losses.config import LossConfig
from occkit.metrics.config import EvalConfig
from occkit.models.config import ModelConfig
from occkit.train.config import LoggingConfig, OptimConfig, TrainerConfig


class ExperimentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = "occkit"
    seed: int = 0
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    loss: LossConfig = Field(default_factory=LossConfig)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    trainer: TrainerConfig = Field(default_factory=TrainerConfig)
    health: HealthConfig = Field(default_factory=HealthConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)

    @model_validator(mode="after")
    def _skip_reads_occupancy(self) -> ExperimentConfig:
        from occkit.data.config import OCCUPANCY_FEATURES

        first = self.data.input.features[0] if self.data.input.features else None
        # a depth model's U-Net reads the soft occupancy it splats itself, whatever the voxel input's features
        if self.model.input_skip and self.model.depth is None and first not in OCCUPANCY_FEATURES:
            raise ValueError(f"model.input_skip reads the input occupancy from the first of data.input.features, "
                             f"which must be one of {OCCUPANCY_FEATURES} (got {first!r}); put one first or set "
                             "model.input_skip=False")
        crop = self.data.augment.crop
        if crop is not None:
            nx, ny, _ = self.data.grid.shape
            if crop[0] > nx or crop[1] > ny:
                raise ValueError(f"data.augment.crop: a ({crop[0]}, {crop[1]}) window does not fit the "
                                 f"{nx} x {ny} grid")
            if self.data.input.camera is not None:
                raise ValueError("data.augment.crop cannot be used with data.input.camera: a camera sees the whole "
                                 "grid, so its image and transform would no longer match a cropped one")
        if self.model.depth is not None and self.data.input.camera is None:
            raise ValueError("model.depth predicts depth from camera images, so the samples must carry them: set "
                             "data.input.camera (e.g. {'scale': 0.5})")
        return self


def _format_validation_error(err: ValidationError, origin: str) -> str:
    lines = [f"{origin}: config does not validate:"]
    for e in err.errors():
        path = ".".join(str(p) for p in e["loc"]) or "<root>"
        # a check across fields (a model validator, of the config or of one section) has the whole config or
        # section as its input: the message says it all
        across = not e["loc"] or (e["type"] == "value_error" and isinstance(e.get("input"), dict))
        got = "" if across else f" (got {e.get('input')!r})"
        lines.append(f"  {path}: {e['msg']}{got}")
    return "\n".join(lines)


class SavedConfigWarning(UserWarning):
    """A saved config (a run's config.json, a checkpoint's) holds settings this occkit version does not know."""


def validate_config(data: dict[str, Any] | ExperimentConfig, origin: str = "config", *,
                    saved: bool = False) -> ExperimentConfig:
    """Validate a config; ``ConfigError`` naming every bad field. ``saved``: the config was written by occkit
    (a run's config.json, a checkpoint), perhaps by another version: settings this version does not know are
    left out with a warning, so old runs still evaluate; a config a person writes keeps failing on them (a typo)."""
    if isinstance(data, ExperimentConfig):
        data = data.model_dump(mode="json")
    try:
        return ExperimentConfig.model_validate(data)
    except ValidationError as err:
        unknown = [e["loc"] for e in err.errors() if e["type"] == "extra_forbidden"]
        if saved and unknown and len(unknown) == len(err.errors()):
            return _without_unknown_settings(data, unknown, origin)
        raise ConfigError(_format_validation_error(err, origin)) from None


def _without_unknown_settings(data: dict[str, Any], unknown: list[tuple], origin: str) -> ExperimentConfig:
    import copy
    import warnings

    data = copy.deepcopy(data)
    names = []
    for loc in unknown:
        node: Any = data
        where = []
        for key in loc[:-1]:  # a union's tag (data.source's kind) is in loc but not in the data: step over it
            if isinstance(node, dict) and key in node or isinstance(node, list) and isinstance(key, int):
                node = node[key]
                where.append(str(key))
        if isinstance(node, dict) and loc[-1] in node:
            names.append(f"{'.'.join([*where, str(loc[-1])])}={node.pop(loc[-1])!r}")
    warnings.warn(f"{origin}: left out {', '.join(names)}: settings this occkit version does not know (the run was "
                  "made by another version)", SavedConfigWarning, stacklevel=3)
    return validate_config(data, origin)


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def apply_overrides(cfg: ExperimentConfig, overrides: list[str] | None, origin: str = "--set") -> ExperimentConfig:
    """Apply ``a.b.c=value`` overrides (value parsed as JSON when it can be)."""
    if not overrides:
        return cfg
    data = cfg.model_dump(mode="json")
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"{origin} {item!r}: expected KEY=VALUE, e.g. optim.lr=1e-3")
        key, value = item.split("=", 1)
        node = data
        parts = key.strip().split(".")
        for i, part in enumerate(parts[:-1]):
            if not isinstance(node, dict) or part not in node:
                raise ConfigError(f"{origin} {key}: no field {'.'.join(parts[: i + 1])!r} in the config")
            node = node[part]
        if not isinstance(node, dict) or parts[-1] not in node:
            raise ConfigError(f"{origin} {key}: no field {key!r} in the config")
        node[parts[-1]] = _parse_value(value)
    return validate_config(data, origin=f"{origin} {' '.join(overrides)}")


def load_config(path: str | Path, overrides: list[str] | None = None, *, saved: bool = False) -> ExperimentConfig:
    """Run a python config file (or read a resolved config.json) and validate it.

    A path that does not exist but names a shipped config (``synthetic_uav``, ``configs/synthetic_uav.py``)
    loads the one inside the package, so the documented commands work from any folder. ``saved``: a .json is a
    run's own config.json, validated as ``validate_config(saved=True)`` does."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path}: is a directory; expected a python config file or a config.json")
    if not path.is_file():
        from occkit.configs import packaged_config, packaged_names

        shipped = packaged_config(str(path)) if len(path.parts) <= 2 else None
        if shipped is None:
            raise ConfigError(f"{path}: config file not found (nor a shipped config; those are "
                              f"{', '.join(packaged_names())})")
        path = shipped
    if path.suffix not in (".py", ".json"):
        raise ConfigError(f"{path}: expected a python config file (.py) or a resolved config.json, got a "
                          f"{path.suffix or 'suffix-less'} file (only .py configs run as code)")
    if path.suffix == ".json":
        try:
            data: Any = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ConfigError(f"{path}: not valid JSON ({err})") from None
    else:
        data = _run_config_file(path)
    return apply_overrides(validate_config(data, origin=str(path), saved=saved and path.suffix == ".json"), overrides)


def _run_config_file(path: Path) -> Any:
    """Execute a python config file and return its ``config``; its own errors name the file and line."""
    try:
        namespace = runpy.run_path(str(path))
        if "config" not in namespace:
            raise ConfigError(f"{path}: a config file must define `config` (an ExperimentConfig or a dict)")
        data = namespace["config"]
        return data() if callable(data) and not isinstance(data, ExperimentConfig) else data
    except ConfigError:
        raise
    except SyntaxError as err:
        raise ConfigError(f"{err.filename or path}:{err.lineno}: syntax error in the config file: {err.msg}") from None
    except Exception as err:  # the file's own code raised: point at its line, not at occkit
        import traceback

        frames = [f for f in traceback.extract_tb(err.__traceback__) if Path(f.filename) == path.resolve()
                  or Path(f.filename) == path]
        where = f"{path}:{frames[-1].lineno}" if frames else str(path)
        first = str(err).splitlines()[0] if str(err) else ""
        raise ConfigError(f"{where}: the config file raised {type(err).__name__}: {first}") from None


def resolve_cache_dir(cfg: ExperimentConfig, *, always: bool = False) -> ExperimentConfig:
    """``cfg`` with data.cache_dir as the absolute folder training will use, so config.json records it and
    `occkit eval` / `occkit preprocess` started from any folder find the same cache."""
    if not (cfg.trainer.preprocess_cache or always):
        return cfg
    from occkit.data.cache import default_cache_dir

    path = Path(cfg.data.cache_dir) if cfg.data.cache_dir else default_cache_dir(cfg.data, cfg.trainer.runs_root,
                                                                                   cfg.name)
    return cfg.model_copy(update={"data": cfg.data.model_copy(update={"cache_dir": str(path.resolve())})})


def config_summary(cfg: ExperimentConfig, parameter_count: int | None = None) -> list[str]:
    """The few settings that decide a run, as short lines for the console (the full config is config.json)."""
    from occkit.losses.config import describe_terms

    d, m, o, t = cfg.data, cfg.model, cfg.optim, cfg.trainer
    source = d.source.model_dump()
    frames = "/".join(str(source[k]) for k in ("train_frames", "val_frames") if source.get(k) is not None)
    x, y, z = d.grid.shape
    voxel = " x ".join(f"{v:g}" for v in d.grid.voxel_size)
    params = f", {parameter_count:,} parameters" if parameter_count is not None else ""
    clip = f", clip {o.grad_clip:g}" if o.grad_clip else ", no clipping"
    steps = f"{t.max_steps} steps" if t.max_steps and t.max_steps > 0 else f"{t.max_epochs} epochs"
    return [
        f"data: {d.source.kind}{f' ({frames} train/val frames)' if frames else ''}, input {d.input.points} "
        f"[{', '.join(d.input.features)}], batch {d.batch_size}",
        f"grid: {x} x {y} x {z} voxels of {voxel} m",
        f"model: {m.name} {list(m.unet_channels)}{params}; loss {describe_terms(cfg.loss)}",
        f"optim: lr {o.lr:g}, warmup {o.warmup_steps}, {o.schedule}{clip}; {steps} on {t.accelerator}",
    ]


def save_config(cfg: ExperimentConfig, path: str | Path) -> None:
    """Write the fully resolved config as JSON (atomically)."""
    from occkit.utils.atomic import atomic_write_text

    atomic_write_text(Path(path), json.dumps(cfg.model_dump(mode="json"), indent=2))
