"""BEVHeightOccupancy: shapes for odd grid sizes, options, prior-bias init, errors."""

from __future__ import annotations

import math

import pytest
import torch
from pydantic import ValidationError

from occkit.errors import ConfigError, GridMismatchError
from occkit.models import ModelConfig, build_model


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors: one intra-op thread avoids oversubscription stalls on shared 2-core runners."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.mark.parametrize("residual", [True, False])
@pytest.mark.parametrize("attention", [True, False])
def test_odd_sizes_give_logits_of_the_input_size(residual: bool, attention: bool) -> None:
    cfg = ModelConfig(unet_channels=[8, 16, 16], residual=residual, attention=attention, input_skip=False)
    model = build_model(cfg, in_channels=6, out_levels=3)
    x = torch.randn(2, 6, 50, 45, requires_grad=True)
    y = model(x)
    assert y.shape == (2, 3, 50, 45)
    y.square().mean().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    # the crop keeps the image: the border column gets gradient like any other
    assert x.grad[..., -1].abs().sum() > 0 and x.grad[..., -1, :].abs().sum() > 0
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("channels,size", [([8], (7, 5)), ([8, 8, 8, 8], (21, 13)), ([4, 8, 16, 32], (24, 24))])
def test_any_depth_and_batchnorm(channels: list[int], size: tuple[int, int]) -> None:
    cfg = ModelConfig(unet_channels=channels, norm="batch", input_skip=False)
    model = build_model(cfg, in_channels=3, out_levels=5)
    assert model(torch.randn(2, 3, *size)).shape == (2, 5, *size)


def test_prior_bias_init_gives_prior_mean_probability() -> None:
    torch.manual_seed(0)
    for prior in (0.0083, 0.05):
        model = build_model(ModelConfig(unet_channels=[16, 32], prior_occupancy=prior, input_skip=False), 10, 12)
        assert model.head.bias.detach() == pytest.approx(math.log(prior / (1 - prior)), rel=1e-6)
        with torch.no_grad():
            mean_p = torch.sigmoid(model(torch.rand(2, 10, 33, 29) * 3)).mean().item()
        assert mean_p == pytest.approx(prior, rel=0.1)
    model = build_model(ModelConfig(unet_channels=[8], prior_occupancy=None, input_skip=False), 2, 2)
    assert model.head.bias.abs().max().item() == 0.0


def test_kaiming_fan_out_init() -> None:
    model = build_model(ModelConfig(unet_channels=[32, 64]), 16, 4)
    w = model.encoder[1].conv2.weight  # 64 -> 64, 3x3: fan_out = 64 * 9
    assert w.std().item() == pytest.approx(math.sqrt(2 / (64 * 9)), rel=0.1)


def test_parameter_count_and_summary() -> None:
    model = build_model(ModelConfig(unet_channels=[8, 16], attention=True, input_skip=False), 4, 3)
    n = sum(p.numel() for p in model.parameters())
    assert model.parameter_count() == n > 0
    s = model.summary()
    assert "\n" not in s and "in=4" in s and "out=3" in s and "attention" in s and "[8, 16]" in s


def test_bad_input_and_config_errors() -> None:
    model = build_model(ModelConfig(unet_channels=[8], input_skip=False), 4, 3)
    with pytest.raises(GridMismatchError, match=r"expected \(B, 4, Y, X\)"):
        model(torch.zeros(1, 5, 8, 8))
    with pytest.raises(ValidationError, match="unet_channels"):
        ModelConfig(unet_channels=[])
    with pytest.raises(ValidationError, match="norm"):
        ModelConfig(norm="layer")
    with pytest.raises(ConfigError, match="features x height levels"):
        build_model(ModelConfig(unet_channels=[8]), 4, 3)  # the copy path needs F x Z input channels
    with pytest.raises(ConfigError, match="odd"):
        build_model(ModelConfig(unet_channels=[8], skip_kernel=2), 3, 3)


def test_a_few_steps_fit_a_tiny_target() -> None:
    """The network can learn: a copy task loss falls on a real optimiser step loop."""
    torch.manual_seed(0)
    model = build_model(ModelConfig(unet_channels=[8, 16], prior_occupancy=0.1), 2, 2)
    x = (torch.rand(1, 2, 12, 12) < 0.1).float()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(20):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x), x)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


@pytest.mark.parametrize("head", ["2d", "3d"])
def test_copy_path_starts_exactly_at_the_copy_of_the_input(head: str) -> None:
    """Step 0 scores the copy baseline: hit voxels at skip_occupied_prob, every other voxel at the prior."""
    torch.manual_seed(0)
    cfg = ModelConfig(unet_channels=[8, 16], prior_occupancy=0.01, skip_occupied_prob=0.95, head=head,
                      head3d_channels=2, head3d_dilations=[1, 2])
    z = 6
    model = build_model(cfg, 2 * z, z)  # two features: the first one marks the hits
    occ = torch.rand(2, z, 20, 17) < 0.1
    x = torch.cat([occ.float() * torch.rand(2, z, 20, 17).clamp_min(0.2), torch.randn(2, z, 20, 17)], dim=1)
    with torch.no_grad():
        p = torch.sigmoid(model(x))
    assert p.shape == (2, z, 20, 17)
    assert torch.allclose(p[occ], torch.tensor(0.95), atol=1e-5)
    assert torch.allclose(p[~occ], torch.tensor(0.01), atol=1e-6)
    assert "input_skip" in model.summary() and (head == "2d" or "head3d" in model.summary())


def test_overfitting_one_sample_completes_beyond_the_copy() -> None:
    """A short overfit on one sample: IoU starts at the copy baseline and learns the missing half of a plane."""
    torch.manual_seed(0)
    z = 8
    target = torch.zeros(1, z, 16, 16)
    target[0, 2] = 1.0  # a ground plane at level 2
    target[0, 5, 4:12, 4:12] = 1.0  # a roof at level 5
    occ = target.clone()
    occ[0, :, ::2, :] = 0.0  # the sweep saw every other row
    model = build_model(ModelConfig(unet_channels=[16, 32], prior_occupancy=0.02), z, z)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)

    def iou() -> float:
        with torch.no_grad():
            pred = model(occ) > 0
        t = target > 0.5
        return float((pred & t).sum() / (pred | t).sum())

    copy_iou = float((occ > 0.5).sum() / (target > 0.5).sum())
    assert iou() == pytest.approx(copy_iou)
    for _ in range(60):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(occ), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert iou() > 0.95 > copy_iou + 0.4


@pytest.mark.parametrize("reach", [1, 2])
def test_shared_level_filter_is_a_3d_convolution_over_neighbouring_levels(reach: int) -> None:
    """The levels-folded-into-the-batch 2D conv equals Conv3d with a (2 reach + 1, k, k) kernel and free levels
    padded below and above, with the weights shared by every level."""
    from occkit.models.blocks import SharedLevelFilter

    torch.manual_seed(0)
    f = SharedLevelFilter(kernel=3, channels=4, features=2, reach=reach)
    levels = torch.rand(2, 2, 6, 9, 7)  # (B, features, Z, Y, X)
    n = 2 * reach + 1
    w = f.conv.weight.detach()  # (4, n * features, 3, 3): input channel = feature * n + level offset
    w3d = w.view(4, 2, n, 3, 3)  # (out, feature, dz, dy, dx)
    hidden = torch.nn.functional.conv3d(levels, w3d, f.conv.bias.detach(), padding=(reach, 1, 1)).relu()
    torch.nn.init.normal_(f.out.weight)
    expect = torch.nn.functional.conv3d(hidden, f.out.weight.detach().view(1, 4, 1, 1, 1), f.out.bias.detach())
    assert torch.allclose(f(levels), expect[:, 0], atol=1e-5)


@pytest.mark.parametrize("head", ["2d", "3d"])
def test_convolutions_run_channels_last_with_the_same_result(head: str) -> None:
    """The 2D convolutions store NHWC weights (twice as fast on a CPU); the logits match a plain NCHW copy, come
    back contiguous, and a state dict moves between the two layouts unchanged."""
    cfg = ModelConfig(unet_channels=[8, 16], head=head, skip_kernel=3)
    torch.manual_seed(0)
    net = build_model(cfg, 2 * 6, 6)
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(m.weight.is_contiguous(memory_format=torch.channels_last) for m in convs)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))  # away from the copy init, so every path contributes
    plain = build_model(cfg, 2 * 6, 6).to(memory_format=torch.contiguous_format)
    plain.load_state_dict(net.state_dict())
    assert not next(m for m in plain.modules() if isinstance(m, torch.nn.Conv2d)).weight.is_contiguous(
        memory_format=torch.channels_last)
    x = torch.zeros(2, 12, 13, 10)
    x[:, :6] = (torch.rand(2, 6, 13, 10) < 0.2).float()
    x[:, 6:] = torch.rand(2, 6, 13, 10) * x[:, :6]
    out = net(x)
    assert out.is_contiguous() and out.shape == (2, 6, 13, 10)
    torch.testing.assert_close(out, plain(x), rtol=1e-4, atol=1e-5)
    reloaded = build_model(cfg, 2 * 6, 6)
    reloaded.load_state_dict(plain.state_dict())  # loading keeps the NHWC layout of the new model
    assert all(m.weight.is_contiguous(memory_format=torch.channels_last)
               for m in reloaded.modules() if isinstance(m, torch.nn.Conv2d))
    torch.testing.assert_close(reloaded(x), out)


def test_column_span_marks_where_a_wall_between_roof_and_ground_can_be() -> None:
    """Ground at level 2 in columns 0-1, a roof at level 7 over columns 2-4: 'between' covers levels 3-6 of the
    two columns where they meet (and nowhere else), 'under' every level below each column's highest hit."""
    from occkit.models.blocks import column_span_features

    occ = torch.zeros(1, 10, 5, 5)
    occ[0, 2, :, :2] = 1.0
    occ[0, 7, :, 2:] = 1.0
    between, under = column_span_features(occ, [3])[0]
    expect = torch.zeros(10, 5, 5, dtype=torch.bool)
    expect[3:7, :, 1:3] = True
    assert torch.equal(between.bool(), expect)
    below_top = torch.zeros(10, 5, 5, dtype=torch.bool)
    below_top[:2, :, :2] = True
    below_top[:7, :, 2:] = True
    assert torch.equal(under.bool(), below_top)
    assert not column_span_features(torch.zeros(1, 10, 5, 5), [3, 5]).any()  # no hits: no span
    wide = column_span_features(occ, [3, 5])[0, 1]  # 5 x 5: two columns either side of the edge
    assert wide[3:7, :, :4].all() and not wide[3:7, :, 4].any() and not wide[:3].any()


def test_span_features_keep_the_copy_at_step_zero_and_reach_the_filter() -> None:
    """With model.skip_shared_span the shared filter reads two more maps per level; step 0 is still the copy, and
    its gradient reaches the weights that read them."""
    torch.manual_seed(0)
    z = 6
    cfg = ModelConfig(unet_channels=[8, 16], prior_occupancy=0.01, skip_kernel=1, skip_shared_kernel=3,
                      skip_shared_span=[3])
    model = build_model(cfg, z, z)
    occ = (torch.rand(2, z, 12, 12) < 0.2).float()
    with torch.no_grad():
        p = torch.sigmoid(model(occ))
    assert torch.allclose(p[occ > 0], torch.tensor(0.95), atol=1e-5)
    assert model.shared.conv.in_channels == 3 * (1 + 1) + 2  # 3 levels x (occupancy, feature) + 2 span maps
    torch.nn.init.normal_(model.shared.out.weight)
    model(occ).sum().backward()
    span_weights = model.shared.conv.weight.grad[:, 6:]  # the two span maps, read at the level itself
    assert span_weights.abs().sum() > 0
    with pytest.raises(ValidationError, match="skip_shared_span"):  # a window is a positive column count
        ModelConfig(skip_shared_span=[3, 0])


def test_shared_filter_dilations_widen_its_view_and_keep_the_copy_at_step_zero() -> None:
    """model.skip_shared_dilations adds residual dilated 3 x 3 layers to the shared filter: step 0 is still the
    copy, and one hit now reaches 1 + 2 (kernel 3, then dilation 2) = 3 columns away, where it reached 1 before."""
    torch.manual_seed(0)
    z = 4
    occ = torch.zeros(1, z, 15, 15)
    occ[0, 1, 7, 7] = 1.0
    reach = {}
    for dilations in ([], [2]):
        cfg = ModelConfig(unet_channels=[8, 16], prior_occupancy=0.01, skip_kernel=1, skip_shared_kernel=3,
                          skip_shared_dilations=dilations)
        model = build_model(cfg, z, z)
        assert len(model.shared.more) == len(dilations)
        with torch.no_grad():
            p = torch.sigmoid(model(occ))
        assert torch.allclose(p[occ > 0], torch.tensor(0.95), atol=1e-5)
        torch.nn.init.normal_(model.shared.out.weight)
        with torch.no_grad():  # the row through the hit, level 1: which columns does the hit move?
            moved = (model.shared(torch.stack([occ, occ], dim=1))
                     - model.shared(torch.stack([occ * 0, occ * 0], dim=1)))[0, 1, 7]
        reach[len(dilations)] = int((moved.abs() > 1e-7).nonzero().flatten().sub(7).abs().max())
    assert reach == {0: 1, 1: 3}
    with pytest.raises(ValidationError, match="skip_shared_dilations"):
        ModelConfig(skip_shared_dilations=[0])


def test_graded_span_maps_count_levels_under_the_top_and_over_the_ground_beside() -> None:
    """skip_shared_span_graded adds two maps: levels under the column's own top and over the lowest hit of the
    first span window, in steps of 1 / graded, capped at 1, zero outside; the filter reads them at step 0 too."""
    from occkit.models.blocks import column_span_features

    occ = torch.zeros(1, 10, 5, 5)
    occ[0, 2, :, :2] = 1.0  # ground on level 2 left, a roof on level 7 right
    occ[0, 7, :, 2:] = 1.0
    maps = column_span_features(occ, [3], graded=4)[0]
    assert maps.shape == (4, 10, 5, 5)
    under_top, over_bottom = maps[2, :, 2, 2], maps[3, :, 2, 2]  # the roof's edge column
    assert under_top.tolist() == [1.0, 1.0, 1.0, 1.0, 0.75, 0.5, 0.25, 0.0, 0.0, 0.0]
    assert over_bottom.tolist() == [0.0, 0.0, 0.0, 0.25, 0.5, 0.75, 1.0, 1.0, 1.0, 1.0]  # ground beside on level 2
    assert maps[3, :, 2, 4].tolist()[:8] == [0.0] * 8  # two columns in: the 3 x 3 window's lowest hit is the roof
    assert not column_span_features(torch.zeros(1, 10, 5, 5), [3], graded=4).any()
    cfg = ModelConfig(unet_channels=[8, 16], prior_occupancy=0.01, skip_kernel=1, skip_shared_kernel=3,
                      skip_shared_span=[3], skip_shared_span_graded=4)
    model = build_model(cfg, 10, 10)
    assert model.shared.conv.in_channels == 3 * 2 + 4
    with torch.no_grad():
        assert torch.allclose(torch.sigmoid(model(occ))[occ > 0], torch.tensor(0.95), atol=1e-5)
    with pytest.raises(ValidationError, match="skip_shared_span_graded"):  # graded maps of spans that are off
        ModelConfig(skip_shared_span_graded=4)


def test_shared_filter_band_keeps_the_filter_near_each_samples_hits_and_zero_elsewhere() -> None:
    """With ``band`` = m the filter's output equals the every-level filter on the levels from m below a sample's
    lowest hit to m above its highest (its neighbours' levels still read), is zero outside, and depends on no other
    sample of the batch; an empty sample gets zero everywhere."""
    from occkit.models.blocks import SharedLevelFilter

    torch.manual_seed(0)
    full = SharedLevelFilter(kernel=3, channels=4, context=2, features=2, own=1)
    torch.nn.init.normal_(full.out.weight)
    banded = SharedLevelFilter(kernel=3, channels=4, context=2, features=2, own=1, band=1)
    banded.load_state_dict(full.state_dict())
    z = 12
    levels = torch.zeros(3, 2, z, 5, 5)
    levels[0, :, 4, 2, 2] = 1.0  # sample 0: hits on levels 4 and 6
    levels[0, :, 6, 1, 3] = 0.5
    levels[1, :, 0, 0, 0] = 1.0  # sample 1: a hit on the lowest level; sample 2: empty
    context = torch.rand(3, z * 2, 5, 5)
    own = torch.rand(3, 1, z, 5, 5)
    every, y = full(levels, context, own), banded(levels, context, own)
    bands = {0: range(3, 8), 1: range(0, 2), 2: range(0)}
    for sample, band in bands.items():
        for level in range(z):
            want = every[sample, level] if level in band else torch.zeros(5, 5)
            assert torch.allclose(y[sample, level], want, atol=1e-6), (sample, level)
    alone = banded(levels[:1], context[:1], own[:1])  # the same without the others: the union band is narrower
    assert torch.allclose(alone, y[:1], atol=1e-6)
    assert not banded(levels[2:], context[2:], own[2:]).any()
    wide = SharedLevelFilter(kernel=3, channels=4, context=2, features=2, own=1, band=z)
    wide.load_state_dict(full.state_dict())
    assert torch.allclose(wide(levels[:1], context[:1], own[:1]), every[:1], atol=1e-6)


def test_a_traced_shared_filter_band_follows_each_new_input() -> None:
    """An export records one graph: traced on one sample, the banded filter must still place the band of another
    sample whose hits sit on other levels (the per-sample Python bands would be frozen to the example's)."""
    from occkit.models.blocks import SharedLevelFilter

    torch.manual_seed(0)
    banded = SharedLevelFilter(kernel=3, channels=4, features=2, band=1)
    torch.nn.init.normal_(banded.out.weight)
    z = 12
    example = torch.zeros(2, 2, z, 5, 5)
    example[0, :, 2, 1, 1] = 1.0  # hits low in the grid
    other = torch.zeros(2, 2, z, 5, 5)
    other[0, :, 9, 3, 3] = 1.0  # hits high up; the second sample of each stays empty
    with torch.no_grad():
        traced = torch.jit.trace(banded, (example,), check_trace=False)
        assert torch.allclose(traced(example), banded(example), atol=1e-6)
        eager = banded(other)
        assert eager[0, 8:11].abs().sum() > 0 and not eager[0, :8].any() and not eager[1].any()
        assert torch.allclose(traced(other), eager, atol=1e-6)
