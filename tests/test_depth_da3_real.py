"""The real Depth Anything 3 network (DA3-small, random weights, no hub) through occkit's adapter: intrinsics at
the processed resolution, depth and confidence shapes, confidence filtering, the depth cache, and a forward and
backward pass. Runs in the optional environment from ``bash scripts/setup_da3.sh``; skipped elsewhere."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("depth_anything_3.cfg", reason="needs the DA3 environment: bash scripts/setup_da3.sh")
pytestmark = [pytest.mark.da3, pytest.mark.slow]

from occkit.depth.cache import DepthCache  # noqa: E402
from occkit.depth.da3 import DA3Depth  # noqa: E402
from occkit.depth.da3_network import NetworkInference, build_da3_network, processed_size  # noqa: E402

K_ORIG = np.array([[400.0, 0.0, 320.0], [0.0, 400.0, 240.0], [0.0, 0.0, 1.0]])


@pytest.fixture(scope="module")
def net():
    import torch

    torch.manual_seed(0)
    return build_da3_network("da3-small")


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    rgb = (rng.random((480, 640, 3)) * 255).astype(np.uint8)
    path = tmp_path_factory.mktemp("img") / "frame.png"
    Image.fromarray(rgb).save(path)
    return path


def test_the_real_network_is_built_from_the_package_config(net) -> None:
    assert type(net).__name__ == "DepthAnything3Net"
    assert 30e6 < sum(p.numel() for p in net.parameters()) < 40e6  # DA3-small: 34.3 M


def test_depth_confidence_and_intrinsics_at_the_processed_resolution(net, image: Path) -> None:
    depth = DA3Depth(NetworkInference(net), model_name="da3-small", process_res=280, metric_scaling="none")
    with pytest.warns(UserWarning, match="relative depth"):
        (pred,) = depth.predict([image], K=K_ORIG)
    w, h = processed_size((640, 480), 280, "upper_bound_resize")
    assert (w, h) == (280, 210) and pred.size == (w, h)
    assert pred.depth.shape == pred.conf.shape == (h, w) and np.isfinite(pred.depth).all()
    np.testing.assert_allclose(pred.K[0, 0], 400.0 * 280 / 640, rtol=1e-6)  # K rescaled to the processed size
    np.testing.assert_allclose(pred.K[1, 1], 400.0 * 210 / 480, rtol=1e-6)
    assert pred.processed_image.shape == (h, w, 3)


def test_confidence_filtering_keeps_the_confident_pixels(net, image: Path) -> None:
    depth = DA3Depth(NetworkInference(net), model_name="da3-small", process_res=280, metric_scaling="none")
    with pytest.warns(UserWarning):
        (pred,) = depth.predict([image], K=K_ORIG)
    every = pred.pseudo_points()
    top = pred.pseudo_points(conf_percentile=40)
    assert 0.55 * len(every) <= len(top) <= 0.65 * len(every)


def test_the_depth_cache_runs_the_network_once(net, image: Path, tmp_path: Path) -> None:
    depth = DA3Depth(NetworkInference(net), model_name="da3-small", process_res=280, metric_scaling="none")
    cache = DepthCache(tmp_path / "cache")
    with pytest.warns(UserWarning):
        first = cache.get_or_compute([image], depth, K=K_ORIG)
    second = cache.get_or_compute([image], depth, K=K_ORIG)
    assert cache.stats["misses"] == 1 and cache.stats["hits"] == 1
    np.testing.assert_array_equal(first[0].depth, second[0].depth)


def test_forward_and_backward_reach_the_depth_network(net) -> None:
    import torch

    x = torch.rand(1, 1, 3, 140, 252)
    out = net.train()(x, None, None, [], False, False, "saddle_balanced")
    assert out["depth"].shape == (1, 1, 140, 252) and out["depth_conf"].shape == (1, 1, 140, 252)
    out["depth"].mean().backward()
    grads = [p.grad for p in net.parameters() if p.grad is not None]
    assert len(grads) > 100 and float(sum(g.abs().sum() for g in grads)) > 0
    net.zero_grad()
    net.eval()


def test_da3_small_inside_the_depth_occupancy_graph(net) -> None:
    """DA3 -> splat -> BEV U-Net: one backward pass gives the DA3 parameters gradients (group names depth.*)."""
    import torch

    from occkit.depth.da3_network import DA3DepthModule
    from occkit.geometry.grid import GridSpec
    from occkit.models.config import ModelConfig
    from occkit.models.depth_occupancy import DepthOccupancyModel
    from occkit.models.unet import build_model

    spec = GridSpec(pc_range=(0.0, -8.0, -2.0, 16.0, 8.0, 6.0), voxel_size=(1.0, 1.0, 1.0))
    z = spec.shape[2]
    bev = build_model(ModelConfig(unet_channels=[8, 16], input_skip=False), in_channels=z, out_levels=z)
    model = DepthOccupancyModel(DA3DepthModule(net.train()), bev, spec, freeze_depth=["net.backbone."])
    images = torch.rand(1, 3, 112, 140)
    K = torch.tensor([[[80.0, 0, 69.5], [0, 80.0, 55.5], [0, 0, 1]]])
    T = torch.tensor([[[0.0, 0, 1, 0], [-1, 0, 0, 0], [0, -1, 0, 1.0], [0, 0, 0, 1]]])
    logits = model(images, K, T)
    assert logits.shape == (1, z, spec.shape[1], spec.shape[0])
    logits.mean().backward()
    trained = [p for n, p in model.named_parameters() if n.startswith("depth.") and p.requires_grad]
    assert trained and any(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in trained)
    backbone = [p for n, p in model.named_parameters() if n.startswith("depth.net.backbone.")]
    assert len(backbone) == 207 and not any(p.requires_grad for p in backbone)  # the frozen part (the ViT)
    head = [p for n, p in model.named_parameters() if n.startswith("depth.net.head.")]
    assert any(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in head)  # the trained part
    model.zero_grad()
    net.eval()


def test_da3_small_trains_with_the_occupancy_network_in_lightning(tmp_path) -> None:
    """Issue 16, item 4 on a CPU: DA3-small (``model.depth.kind="da3"``) and the BEV U-Net trained together by
    the real Lightning trainer on the synthetic world's camera images; the depth group's gradient norms are
    logged and the checkpoint holds DA3's weights beside the occupancy network's."""
    import csv

    import torch

    from occkit.config import load_config
    from occkit.train.runner import fit

    cfg = load_config("synthetic_depth_finetune", [
        f'trainer.runs_root="{tmp_path}"', 'data.grid.pc_range=[-6.4, -6.4, -10.0, 6.4, 6.4, 50.5]',
        "data.source.train_frames=2", "data.source.val_frames=1", "data.source.test_frames=1",
        "data.source.accumulate_poses=2", "data.batch_size=1", "trainer.max_epochs=1",
        "trainer.log_every_n_steps=1", "health.every_n_steps=1", "trainer.preprocess_cache=false",
        "model.unet_channels=[8, 16]", 'model.depth.kind="da3"', "model.depth.frozen_steps=0",
        "optim.warmup_steps=0", "data.augment.flip=false", "data.augment.rotate90=false"])
    result = fit(cfg, run_dir=tmp_path / "da3", wandb=False, verbose=False)
    norms = []
    with open(result.run_dir / "metrics.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            if row.get("health/grad_norm/net.depth"):
                norms.append(float(row["health/grad_norm/net.depth"]))
    assert norms and max(norms) > 0
    state = torch.load(result.last_checkpoint, map_location="cpu", weights_only=True)["state_dict"]
    assert sum(k.startswith("net.depth.net.backbone.") for k in state) > 100
    assert any(k.startswith("net.refinement.") for k in state)


def test_da3_takes_unit_images_of_any_size(net) -> None:
    """The graph hands DA3 [0, 1] images at the sample's size (not a multiple of 14): normalised and resized inside,
    depth back at the image's size, gradient through the resizes."""
    import torch

    from occkit.depth.da3_network import DA3DepthModule

    module = DA3DepthModule(net.train(), takes_unit_images=True)
    images = torch.rand(1, 3, 128, 160, requires_grad=True)
    depth = module(images)
    assert depth.shape == (1, 128, 160) and bool(torch.isfinite(depth).all())
    depth.mean().backward()
    assert images.grad is not None and float(images.grad.abs().sum()) > 0
    net.zero_grad()
    net.eval()
