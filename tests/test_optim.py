"""AdamW param groups and the warmup + cosine / constant schedule."""

from __future__ import annotations

import math

import pytest
import torch

from occkit.errors import ConfigError
from occkit.models import ModelConfig, build_model
from occkit.train.config import OptimConfig, ParamGroupConfig
from occkit.train.optim import build_optimizer, build_param_groups, build_scheduler


def model() -> torch.nn.Module:
    return build_model(ModelConfig(unet_channels=[8, 16], input_skip=False), 4, 3)  # the plain U-Net's names


def group_of(groups: list[dict], name: str) -> dict:
    return next(g for g in groups if name in g["param_names"])


def test_no_decay_on_bias_and_norm_and_every_param_once() -> None:
    m = model()
    groups = build_param_groups(m, OptimConfig(lr=1e-3, weight_decay=0.05))
    names = [n for g in groups for n in g["param_names"]]
    assert sorted(names) == sorted(n for n, _ in m.named_parameters())
    assert group_of(groups, "head.bias")["weight_decay"] == 0.0
    assert group_of(groups, "encoder.0.norm1.weight")["weight_decay"] == 0.0
    assert group_of(groups, "encoder.0.conv1.weight")["weight_decay"] == 0.05
    assert all(g["lr"] == 1e-3 for g in groups)


def test_custom_keys_apply_multipliers_and_first_match_wins() -> None:
    cfg = OptimConfig(lr=1e-3, weight_decay=0.01, custom_keys={
        r"^head\.": ParamGroupConfig(lr_mult=0.1, decay_mult=3.0),
        "encoder": ParamGroupConfig(lr_mult=0.5, decay_mult=0.0),
        "decoder": ParamGroupConfig(lr_mult=2.0),
        "decoder.0": ParamGroupConfig(lr_mult=9.0),  # matches only decoder params, all taken by "decoder"
    })
    with pytest.raises(ConfigError, match=r"optim\.custom_keys.*decoder\.0"):
        build_param_groups(model(), cfg)
    del cfg.custom_keys["decoder.0"]
    groups = build_param_groups(model(), cfg)
    head_w = group_of(groups, "head.weight")
    assert head_w["lr"] == pytest.approx(1e-4) and head_w["weight_decay"] == pytest.approx(0.03)
    assert group_of(groups, "head.bias")["lr"] == pytest.approx(1e-4)
    assert group_of(groups, "head.bias")["weight_decay"] == 0.0
    enc = group_of(groups, "encoder.1.conv1.weight")
    assert enc["lr"] == pytest.approx(5e-4) and enc["weight_decay"] == 0.0
    assert group_of(groups, "decoder.0.conv1.weight")["lr"] == pytest.approx(2e-3)
    assert group_of(groups, "reduce.0.weight")["lr"] == pytest.approx(1e-3)


def test_bad_pattern_names_field() -> None:
    with pytest.raises(ConfigError, match=r"optim\.custom_keys\['\(head'\].*regular expression"):
        build_param_groups(model(), OptimConfig(custom_keys={"(head": ParamGroupConfig()}))


def test_optimizer_is_adamw_with_groups_and_frozen_params_left_out() -> None:
    m = model()
    m.head.weight.requires_grad_(False)
    opt = build_optimizer(m, OptimConfig(betas=(0.8, 0.95)))
    assert isinstance(opt, torch.optim.AdamW)
    assert all(g["betas"] == (0.8, 0.95) for g in opt.param_groups)
    assert not any(p is m.head.weight for g in opt.param_groups for p in g["params"])


def lrs(cfg: OptimConfig, total: int, steps: int) -> list[float]:
    """Learning rate of the first group at each step, on a real optimizer/scheduler loop."""
    opt = build_optimizer(model(), cfg)
    sched = build_scheduler(opt, cfg, total)
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_warmup_then_cosine_to_min_lr() -> None:
    cfg = OptimConfig(lr=1e-3, warmup_steps=10, schedule="cosine", min_lr_ratio=0.1)
    got = lrs(cfg, total=110, steps=130)
    assert got[0] == pytest.approx(1e-4)  # (0 + 1) / 10
    assert got[4] == pytest.approx(5e-4)
    assert got[9] == pytest.approx(1e-3)  # end of warmup: the peak
    assert got[10] == pytest.approx(1e-3)
    assert got[60] == pytest.approx(1e-3 * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5))))  # half way: 0.55
    assert got[85] == pytest.approx(1e-3 * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.75))))
    assert got[110] == pytest.approx(1e-4) and got[129] == pytest.approx(1e-4)  # flat at min after the end
    assert all(a >= b for a, b in zip(got[10:], got[11:], strict=False))


def test_constant_after_warmup_and_multipliers_kept() -> None:
    cfg = OptimConfig(lr=2e-3, warmup_steps=4, schedule="constant",
                      custom_keys={"head": ParamGroupConfig(lr_mult=0.5)})
    opt = build_optimizer(model(), cfg)
    sched = build_scheduler(opt, cfg, 50)
    for _ in range(20):
        opt.step()
        sched.step()
    assert sorted({g["lr"] for g in opt.param_groups}) == pytest.approx([1e-3, 2e-3])
    assert lrs(cfg, 50, 6)[:5] == pytest.approx([5e-4, 1e-3, 1.5e-3, 2e-3, 2e-3])


def test_schedule_edge_cases() -> None:
    opt = build_optimizer(model(), OptimConfig())
    with pytest.raises(ConfigError, match="total training steps"):
        build_scheduler(opt, OptimConfig(), 0)
    with pytest.warns(UserWarning, match="warmup_steps"):
        got = lrs(OptimConfig(lr=1.0, warmup_steps=50), total=5, steps=5)
    assert got == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    assert lrs(OptimConfig(lr=1.0, warmup_steps=0), total=10, steps=1) == [1.0]
