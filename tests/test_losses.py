"""OccupancyLoss against hand computations on tiny tensors, stability, validation and kornia's focal loss."""

from __future__ import annotations

import math

import pytest
import torch
from kornia.losses import binary_focal_loss_with_logits

from occkit.errors import ConfigError, GridMismatchError
from occkit.losses import LossConfig, LossInputError, OccupancyLoss

# (B=1, Z=2, Y=1, X=3): six voxels with hand-picked logits and targets
LOGITS = [[[0.0, 2.0, -1.0]], [[3.0, -2.0, 0.5]]]
TARGET = [[[1.0, 0.0, 0.0]], [[1.0, 0.0, 1.0]]]


def tensors() -> tuple[torch.Tensor, torch.Tensor]:
    return torch.tensor([LOGITS], dtype=torch.float32), torch.tensor([TARGET], dtype=torch.float32)


def flat() -> list[tuple[int, float, float]]:
    """(z, logit, target) for each voxel, in plain python."""
    return [(z, x, t) for z in range(2) for x, t in zip(LOGITS[z][0], TARGET[z][0], strict=True)]


def sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def bce(x: float, t: float, pw: float = 1.0) -> float:
    return -(pw * t * math.log(sig(x)) + (1 - t) * math.log(1 - sig(x)))


def focal(x: float, t: float, a: float, g: float) -> float:
    p = sig(x)
    return -(a * t * (1 - p) ** g * math.log(p) + (1 - a) * (1 - t) * p ** g * math.log(1 - p))


def dice(vox: list[tuple[int, float, float]], s: float, w: list[float] | None = None) -> float:
    w = w or [1.0, 1.0]
    inter = sum(w[z] * sig(x) * t for z, x, t in vox)
    ps = sum(w[z] * sig(x) for z, x, _ in vox)
    ts = sum(w[z] * t for z, _, t in vox)
    return 1 - (2 * inter + s) / (ps + ts + s)


def loss(**kw: object):
    logits, target = tensors()
    return OccupancyLoss(LossConfig(**kw))(logits, target)


def test_bce_matches_hand() -> None:
    out = loss(kind="bce", mean_weight=0)
    want = sum(bce(x, t) for _, x, t in flat()) / 6
    assert out.total.item() == pytest.approx(want, rel=1e-5)
    assert set(out.terms) == {"bce"}
    per_h = [sum(bce(x, t) for z2, x, t in flat() if z2 == z) / 3 for z in range(2)]
    assert out.per_height.tolist() == pytest.approx(per_h, rel=1e-5)


def test_weighted_bce_matches_hand() -> None:
    out = loss(kind="weighted_bce", pos_weight=7.0, mean_weight=0)
    want = sum(bce(x, t, 7.0) for _, x, t in flat()) / 6
    assert out.total.item() == pytest.approx(want, rel=1e-5)
    assert out.total.item() > loss(kind="bce", mean_weight=0).total.item()


def test_focal_matches_hand() -> None:
    out = loss(kind="focal", focal_alpha=0.8, focal_gamma=2.0, mean_weight=0)
    want = sum(focal(x, t, 0.8, 2.0) for _, x, t in flat()) / 6
    assert out.total.item() == pytest.approx(want, rel=1e-5)


def test_focal_gamma0_alpha_half_is_half_bce() -> None:
    f = loss(kind="focal", focal_alpha=0.5, focal_gamma=0.0, mean_weight=0).total.item()
    assert f == pytest.approx(0.5 * loss(kind="bce", mean_weight=0).total.item(), rel=1e-5)


def test_dice_matches_hand() -> None:
    out = loss(kind="dice", dice_smooth=1.0, mean_weight=0)
    assert out.total.item() == pytest.approx(dice(flat(), 1.0), rel=1e-5)
    assert set(out.terms) == {"dice"}


def test_combos_and_mean_term_match_hand() -> None:
    vox = flat()
    mean_diff = sum(sig(x) for _, x, _ in vox) / 6 - sum(t for *_, t in vox) / 6
    out = loss(kind="focal_dice", focal_alpha=0.9, focal_gamma=1.5, dice_weight=0.5, dice_smooth=0.1, mean_weight=3)
    want = sum(focal(x, t, 0.9, 1.5) for _, x, t in vox) / 6 + 0.5 * dice(vox, 0.1) + 3 * mean_diff ** 2
    assert out.total.item() == pytest.approx(want, rel=1e-5)
    assert out.terms["mean"].item() == pytest.approx(mean_diff ** 2, rel=1e-5)
    assert set(out.terms) == {"focal", "dice", "mean"}
    out = loss(kind="bce_dice", dice_weight=2.0, dice_smooth=1.0, mean_weight=0)
    want = sum(bce(x, t) for _, x, t in vox) / 6 + 2.0 * dice(vox, 1.0)
    assert out.total.item() == pytest.approx(want, rel=1e-5)


def test_height_weights_match_hand_and_wrong_length_names_field() -> None:
    w = [2.0, 0.5]
    out = loss(kind="bce", mean_weight=0, height_weights=w)
    want = sum(w[z] * bce(x, t) for z, x, t in flat()) / 6
    assert out.total.item() == pytest.approx(want, rel=1e-5)
    out = loss(kind="dice", mean_weight=0, height_weights=w, dice_smooth=1.0)
    assert out.total.item() == pytest.approx(dice(flat(), 1.0, w), rel=1e-5)
    with pytest.raises(ConfigError, match=r"loss\.height_weights.*expected 2"):
        loss(height_weights=[1.0, 1.0, 1.0])
    with pytest.raises(ConfigError, match=r"loss\.height_weights"):
        OccupancyLoss(LossConfig(height_weights=[0.0, 0.0]))


def test_mask_excludes_voxels_from_every_term() -> None:
    logits, target = tensors()
    mask = torch.tensor([[[[True, False, True]], [[False, True, True]]]])
    vox = [v for v, m in zip(flat(), mask.flatten().tolist(), strict=True) if m]
    cfg = LossConfig(kind="bce_dice", dice_smooth=1.0, mean_weight=5.0)
    out = OccupancyLoss(cfg)(logits, target, mask)
    mean_diff = sum(sig(x) for _, x, _ in vox) / 4 - sum(t for *_, t in vox) / 4
    want = sum(bce(x, t) for _, x, t in vox) / 4 + dice(vox, 1.0) + 5 * mean_diff ** 2
    assert out.total.item() == pytest.approx(want, rel=1e-5)
    # changing a masked-out logit must not change anything
    logits2 = logits.clone()
    logits2[0, 0, 0, 1] = 50.0
    assert OccupancyLoss(cfg)(logits2, target, mask).total.item() == pytest.approx(out.total.item(), rel=1e-6)


def test_dice_on_empty_target_is_zero_and_voxel_term_still_penalises() -> None:
    logits = torch.full((1, 2, 3, 3), 2.0)
    target = torch.zeros_like(logits)
    out = OccupancyLoss(LossConfig(kind="focal_dice", mean_weight=0))(logits, target)
    assert out.terms["dice"].item() == 0.0
    assert out.terms["focal"].item() > 0.0


@pytest.mark.parametrize("kind", ["bce", "weighted_bce", "focal", "dice", "bce_dice", "focal_dice"])
def test_extreme_logits_are_finite_and_correct(kind: str) -> None:
    logits = torch.tensor([[[[100.0, -100.0]]]], requires_grad=True)
    right = torch.tensor([[[[1.0, 0.0]]]])
    wrong = 1.0 - right
    lf = OccupancyLoss(LossConfig(kind=kind, focal_gamma=0.5, mean_weight=1.0))
    good = lf(logits, right)
    bad = lf(logits, wrong)
    bad.total.backward()
    assert torch.isfinite(good.total) and torch.isfinite(bad.total)
    assert torch.isfinite(logits.grad).all()
    assert good.total.item() == pytest.approx(0.0, abs=1e-6)
    assert bad.total.item() > 0.5
    if kind == "bce":
        assert bad.total.item() == pytest.approx(100.0, rel=1e-4)  # not clamped at log(eps)


def test_soft_targets_allowed_and_out_of_range_rejected() -> None:
    logits = torch.tensor([[[[0.7, -1.2]]]])
    target = torch.tensor([[[[0.3, 0.9]]]])
    out = OccupancyLoss(LossConfig(kind="bce", mean_weight=0))(logits, target)
    assert out.total.item() == pytest.approx((bce(0.7, 0.3) + bce(-1.2, 0.9)) / 2, rel=1e-5)
    for bad in (1.2, -0.1, float("nan")):
        with pytest.raises(LossInputError, match=r"target.*\[0, 1\]"):
            OccupancyLoss()(logits, torch.tensor([[[[0.3, bad]]]]))


def test_shape_and_dtype_errors() -> None:
    lf = OccupancyLoss()
    with pytest.raises(GridMismatchError, match="target"):
        lf(torch.zeros(1, 2, 3, 3), torch.zeros(1, 2, 3, 4))
    with pytest.raises(GridMismatchError, match="mask"):
        lf(torch.zeros(1, 2, 3, 3), torch.zeros(1, 2, 3, 3), torch.ones(1, 2, 3, 4, dtype=torch.bool))
    with pytest.raises(LossInputError, match="float"):
        lf(torch.zeros(1, 2, 3, 3, dtype=torch.long), torch.zeros(1, 2, 3, 3))


def test_focal_matches_kornia() -> None:
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 4, 5, 6, generator=g) * 4
    target = torch.rand(2, 4, 5, 6, generator=g)
    target[0] = (target[0] > 0.8).float()  # hard and soft targets both
    for alpha, gamma in ((0.99, 2.0), (0.25, 2.0), (0.7, 0.5)):
        ours = OccupancyLoss(LossConfig(kind="focal", focal_alpha=alpha, focal_gamma=gamma, mean_weight=0))
        ref = binary_focal_loss_with_logits(logits, target, alpha=alpha, gamma=gamma, reduction="mean")
        assert ours(logits, target).total.item() == pytest.approx(ref.item(), rel=1e-5)


@pytest.mark.parametrize("kind", ["bce", "weighted_bce", "focal", "dice", "bce_dice", "focal_dice"])
def test_gradient_flows_and_lowers_loss(kind: str) -> None:
    g = torch.Generator().manual_seed(1)
    target = (torch.rand(2, 3, 8, 8, generator=g) < 0.1).float()
    logits = torch.full_like(target, -3.0).requires_grad_(True)
    lf = OccupancyLoss(LossConfig(kind=kind))
    out = lf(logits, target)
    out.total.backward()
    grad = logits.grad
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0
    assert (grad[target > 0] < 0).all()  # occupied voxels are pushed up
    with torch.no_grad():
        stepped = logits - 0.5 * grad / grad.abs().max()
    assert lf(stepped, target).total.item() < out.total.item()
    assert not out.per_height.requires_grad and out.per_height.shape == (3,)
    assert all(not v.requires_grad for v in out.terms.values())


def test_per_height_dice_and_weights_with_mask() -> None:
    logits, target = tensors()
    mask = torch.tensor([[[[True, True, False]], [[True, False, True]]]])
    w = [3.0, 1.0]
    out = OccupancyLoss(LossConfig(kind="bce_dice", dice_smooth=0.5, mean_weight=0, height_weights=w))(
        logits, target, mask)
    vox = [v for v, m in zip(flat(), mask.flatten().tolist(), strict=True) if m]
    want = sum(w[z] * bce(x, t) for z, x, t in vox) / 4 + dice(vox, 0.5, w)
    assert out.total.item() == pytest.approx(want, rel=1e-5)
    per_h = [sum(w[z] * bce(x, t) for z2, x, t in vox if z2 == z) / 2 + dice([v for v in vox if v[0] == z], 0.5, w)
             for z in range(2)]
    assert out.per_height.tolist() == pytest.approx(per_h, rel=1e-5)


def test_composable_terms_reproduce_the_presets_and_the_users_mix() -> None:
    """loss.terms spells any mix; the presets are terms too (same value, fused or composed)."""
    import torch

    from occkit.losses import OccupancyLoss
    from occkit.losses.config import LossConfig, describe_terms

    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 6, 8, 8, generator=g) * 3
    target = (torch.rand(2, 6, 8, 8, generator=g) < 0.02).float()
    preset = LossConfig(kind="focal_dice", mean_weight=10.0)
    spelled = LossConfig(terms=[{"kind": "focal"}, {"kind": "dice"}, {"kind": "mean", "weight": 10.0}])
    for fused in (True, False):
        a = OccupancyLoss(preset.model_copy(update={"fused": fused}))(logits, target).total
        b = OccupancyLoss(spelled.model_copy(update={"fused": fused}))(logits, target).total
        torch.testing.assert_close(a, b)
    # the seed user's loss: weighted BCE (pos_weight 10) + 0.5 dice, which kind= alone cannot express
    user = LossConfig(terms=[{"kind": "bce", "pos_weight": 10}, {"kind": "dice", "weight": 0.5}])
    assert describe_terms(user) == "bce(pos_weight=10) + 0.5 dice"
    out = OccupancyLoss(user)(logits, target)
    from occkit.losses.terms import bce_map, soft_dice

    expected = bce_map(logits, target, 10.0).mean() + 0.5 * soft_dice(
        torch.sigmoid(logits), target, None, (0, 1, 2, 3), 1.0)
    torch.testing.assert_close(out.total, expected)
    assert set(out.terms) == {"weighted_bce", "dice"}
    # a weighted voxel term does not fit the fused kernel: the composed path computes it, with gradients
    heavy = OccupancyLoss(LossConfig(terms=[{"kind": "bce", "weight": 2.0}, {"kind": "bce", "pos_weight": 5}]))
    assert heavy.fused_spec is None and set(heavy(logits, target).terms) == {"bce", "weighted_bce"}
    x = logits.clone().requires_grad_(True)
    heavy(x, target).total.backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_above_ground_dice_scores_only_the_structure_over_the_ground_band() -> None:
    """loss.above_ground_dice_weight adds one soft dice over the voxels above the target's ground band: a prediction
    of the ground alone scores it near 1, one of the whole target near 0, and its gradient never reaches the ground
    band (fused or composed)."""
    from occkit.losses.terms import soft_dice

    target = torch.zeros(1, 12, 10, 10)
    target[:, 2] = 1.0  # flat ground on level 2
    target[:, 3:9, 4:6, 4:6] = 1.0  # a 2 x 2 tower six levels tall (levels 3..8)
    above = torch.zeros_like(target, dtype=torch.bool)
    above[:, 4:] = True  # band 1: levels 2 and 3 are ground here
    ground_only = torch.where(target.bool() & ~above, 9.0, -9.0)
    everything = torch.where(target.bool(), 9.0, -9.0)
    for fused in (True, False):
        cfg = LossConfig(kind="bce_dice", mean_weight=0.0, fused=fused, above_ground_dice_weight=2.0,
                         above_ground_window_m=2.0, above_ground_band_m=0.5)
        fn = OccupancyLoss(cfg, voxel_size=(0.4, 0.4, 0.5))  # a 5-voxel window, a band of one level
        base = OccupancyLoss(cfg.model_copy(update={"above_ground_dice_weight": 0.0}))
        for logits, want in ((ground_only, 1.0), (everything, 0.0)):
            out = fn(logits, target)
            expected = soft_dice(torch.sigmoid(logits), target, above.float(), (0, 1, 2, 3), 1.0)
            torch.testing.assert_close(out.terms["dice_above_ground"], expected)
            assert abs(float(out.terms["dice_above_ground"]) - want) < 0.05
            torch.testing.assert_close(out.total, base(logits, target).total + 2.0 * expected)
        x = torch.zeros_like(target, requires_grad=True)
        (fn(x, target).total - base(x, target).total).backward()
        assert float(x.grad[:, :4].abs().max()) < 1e-9 and float(x.grad[:, 4:9, 4:6, 4:6].abs().min()) > 0
    with pytest.raises(ConfigError, match="above_ground_dice_weight.*voxel size"):
        OccupancyLoss(LossConfig(above_ground_dice_weight=1.0))
    with pytest.raises(LossInputError, match="above_ground_dice_weight.*B, Z, Y, X"):  # no plan to find ground in
        OccupancyLoss(LossConfig(above_ground_dice_weight=1.0), voxel_size=(0.4, 0.4, 0.5))(
            torch.zeros(1, 12, 10), torch.zeros(1, 12, 10))
