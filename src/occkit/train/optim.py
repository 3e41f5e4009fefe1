"""AdamW parameter groups and the per-step learning-rate schedule (linear warmup, then cosine or constant).

Why groups: biases and norm parameters must not be weight-decayed (decay drags GroupNorm gains to 0 and
the prior-initialised head bias away from the prior); ``optim.custom_keys`` gives chosen layers their own
lr / decay multipliers (e.g. a slower encoder when fine-tuning).
"""

from __future__ import annotations

import math
import re
import warnings
from typing import Any

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

from occkit.errors import ConfigError
from occkit.train.config import OptimConfig


def _no_decay_names(model: nn.Module) -> set[str]:
    """Names of biases, 0-/1-d tensors and every parameter of a normalisation layer."""
    norm_types = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm, nn.LocalResponseNorm)
    names: set[str] = set()
    for mod_name, module in model.named_modules():
        for p_name, p in module.named_parameters(recurse=False):
            full = f"{mod_name}.{p_name}" if mod_name else p_name
            if isinstance(module, norm_types) or p.ndim <= 1 or p_name.endswith("bias"):
                names.add(full)
    return names


def _compile_keys(cfg: OptimConfig) -> list[tuple[str, re.Pattern[str]]]:
    out = []
    for key in cfg.custom_keys:
        try:
            out.append((key, re.compile(key)))
        except re.error as err:
            raise ConfigError(f"optim.custom_keys[{key!r}]: not a valid regular expression ({err})") from None
    return out


def build_param_groups(model: nn.Module, cfg: OptimConfig) -> list[dict[str, Any]]:
    """Split trainable parameters into AdamW groups.

    A parameter takes the multipliers of the first ``cfg.custom_keys`` pattern (a regex searched in its
    dotted name, so a plain substring like ``"head"`` works) that matches it; biases and norm parameters
    get weight decay 0 whatever their multipliers. Each group carries ``name``, ``lr_mult`` and
    ``decay_mult`` for logging. A pattern that matches nothing is an error (it is almost always a typo).
    """
    keys = _compile_keys(cfg)
    used = {k: 0 for k, _ in keys}
    no_decay = _no_decay_names(model)
    groups: dict[tuple[str, bool], dict[str, Any]] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        key, lr_mult, decay_mult = "default", 1.0, 1.0
        for k, pattern in keys:
            if pattern.search(name):
                key, lr_mult, decay_mult = k, cfg.custom_keys[k].lr_mult, cfg.custom_keys[k].decay_mult
                used[k] += 1
                break
        nd = name in no_decay
        g = groups.get((key, nd))
        if g is None:
            g = groups[(key, nd)] = {
                "name": f"{key}/{'no_decay' if nd else 'decay'}", "params": [], "param_names": [],
                "lr": cfg.lr * lr_mult, "weight_decay": 0.0 if nd else cfg.weight_decay * decay_mult,
                "lr_mult": lr_mult, "decay_mult": 0.0 if nd else decay_mult,
            }
        g["params"].append(p)
        g["param_names"].append(name)
    unused = [k for k, n in used.items() if n == 0]
    if unused:
        raise ConfigError(f"optim.custom_keys: pattern(s) {unused} match no trainable parameter name "
                          f"(names look like {next(iter(n for n, _ in model.named_parameters()), '?')!r})")
    if not groups:
        raise ConfigError("optim: the model has no trainable parameters")
    return list(groups.values())


def build_optimizer(model: nn.Module, cfg: OptimConfig) -> torch.optim.AdamW:
    """AdamW over :func:`build_param_groups`."""
    return torch.optim.AdamW(build_param_groups(model, cfg), lr=cfg.lr, betas=tuple(cfg.betas),
                             weight_decay=cfg.weight_decay)


def lr_factor(step: int, cfg: OptimConfig, total_steps: int) -> float:
    """Multiplier of each group's base lr at optimizer step ``step`` (0-based).

    Warmup: ``(step + 1) / warmup`` so the first step already moves and step ``warmup - 1`` reaches 1.
    Cosine: from 1 at ``warmup`` down to ``min_lr_ratio`` at ``total_steps``, flat afterwards.
    """
    warmup = min(cfg.warmup_steps, total_steps)
    if step < warmup:
        return (step + 1) / warmup
    if cfg.schedule == "constant":
        return 1.0
    span = max(1, total_steps - warmup)
    progress = min(1.0, (step - warmup) / span)
    return cfg.min_lr_ratio + (1.0 - cfg.min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: OptimConfig, total_steps: int) -> LambdaLR:
    """Per-step LambdaLR (call ``scheduler.step()`` after every optimizer step; Lightning: interval='step')."""
    if total_steps < 1:
        raise ConfigError(f"optim: total training steps must be >= 1 to build the lr schedule (got {total_steps}); "
                          "set trainer.max_steps or trainer.max_epochs")
    if cfg.warmup_steps >= total_steps:
        warnings.warn(f"optim.warmup_steps={cfg.warmup_steps} >= total steps {total_steps}: the run is all warmup "
                      "and the lr peaks at the last step", UserWarning, stacklevel=2)
    return LambdaLR(optimizer, lambda step: lr_factor(step, cfg, total_steps))
