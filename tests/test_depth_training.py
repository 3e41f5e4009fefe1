"""Depth in the graph, trained by the real Lightning trainer on the synthetic world's camera images.

The depth network (occkit's depth CNN) and the occupancy network train together: the depth group gets gradients
(logged by the health monitor), the refinement group 10x the learning rate, checkpoints hold both, a frozen depth
network stays exactly as loaded, and evaluation, refinement and the CLI's refusals work on the result.
"""

from __future__ import annotations

import csv
import math

import pytest
import torch

from occkit.config import load_config
from occkit.errors import ConfigError, InputFileError
from occkit.models.depth_cnn import DepthCNN, load_depth_weights, silog_loss

SMALL = ['data.grid.pc_range=[-6.4, -6.4, -10.0, 6.4, 6.4, 50.5]', "data.source.train_frames=4",
         "data.source.val_frames=2", "data.source.test_frames=2", "data.source.accumulate_poses=3",
         "data.batch_size=2", "trainer.max_epochs=2", "trainer.log_every_n_steps=1", "health.every_n_steps=1",
         "trainer.preprocess_cache=false", 'model.unet_channels=[8, 16]', "model.depth.channels=[8, 16]",
         "optim.warmup_steps=0", "model.depth.frozen_steps=0"]


def tiny_cfg(tmp_path, extra=()):
    return load_config("synthetic_depth_finetune", [f'trainer.runs_root="{tmp_path}"', *SMALL, *extra])


def _metric_columns(run_dir) -> dict[str, list[float]]:
    """Every logged series of a run, read back as the doctor reads it (metric -> values in step order)."""
    from occkit.health.rundir import read_run

    record = read_run(run_dir)
    return {key: [v for _, v in pairs] for key, pairs in {**record.steps, **record.epochs}.items()}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from occkit.train.runner import fit

    root = tmp_path_factory.mktemp("depth_runs")
    cfg = tiny_cfg(root)
    result = fit(cfg, run_dir=root / "joint", wandb=False, verbose=False)
    return cfg, result


def test_the_depth_group_gets_gradients_and_the_monitor_logs_them(trained) -> None:
    _, result = trained
    cols = _metric_columns(result.run_dir)
    depth_norms = cols.get("health/grad_norm/net.depth", [])
    assert depth_norms and max(depth_norms) > 0 and all(math.isfinite(v) for v in depth_norms)
    assert max(cols["health/grad_norm/net.refinement"]) > 0
    # the optimizer's groups: the depth network in the default group, the refinement network at 10x its lr
    assert any(k.startswith("health/update_ratio/default/") for k in cols)
    assert any(k.startswith("health/update_ratio/refinement/") for k in cols)
    assert "val/depth_abs_rel" in cols and "val/iou_gap_closed" in cols


def test_the_refinement_group_runs_at_ten_times_the_depth_lr(trained) -> None:
    cfg, result = trained
    from occkit.train.checkpoint import load_module
    from occkit.train.optim import build_param_groups

    module = load_module(result.last_checkpoint, None)
    groups = {g["name"]: g for g in build_param_groups(module.net, cfg.optim)}
    assert groups["refinement/decay"]["lr"] == pytest.approx(10 * groups["default/decay"]["lr"])
    assert all(n.startswith("depth.") for n in groups["default/decay"]["param_names"])
    state = torch.load(result.last_checkpoint, map_location="cpu", weights_only=True)["state_dict"]
    assert any(k.startswith("net.depth.") for k in state) and any(k.startswith("net.refinement.") for k in state)


def test_a_frozen_depth_network_stays_as_loaded(tmp_path) -> None:
    from occkit.train.checkpoint import load_module
    from occkit.train.runner import fit

    weights = tmp_path / "depth.pt"
    torch.manual_seed(3)
    torch.save(DepthCNN([8, 16]).state_dict(), weights)
    cfg = tiny_cfg(tmp_path, [f'model.depth.weights="{weights}"', "model.depth.freeze=true", "trainer.max_epochs=1"])
    result = fit(cfg, run_dir=tmp_path / "frozen", wandb=False, verbose=False)
    loaded = load_module(result.last_checkpoint, None).net.depth.state_dict()
    for name, value in torch.load(weights, weights_only=True).items():
        torch.testing.assert_close(loaded[name], value, rtol=0, atol=0)
    cols = _metric_columns(result.run_dir)
    assert "health/grad_norm/net.depth" not in cols and max(cols["health/grad_norm/net.refinement"]) > 0


def test_evaluation_reads_the_images_and_reports_baselines(trained) -> None:
    from occkit.evaluation.split_eval import evaluate

    _, result = trained
    report = evaluate(str(result.last_checkpoint), None, "val", progress=False).report
    assert 0.0 <= report["overall"]["iou"] <= 1.0
    assert {"copy", "dilate"} <= set(report["baselines"]["predictors"])


def test_refining_a_frame_uses_the_models_own_depth(trained) -> None:
    from occkit.data.grids import FrameToGrids
    from occkit.evaluation.frame_refine import refine_frame
    from occkit.train.checkpoint import load_module

    cfg, result = trained
    module = load_module(result.last_checkpoint, None).eval()
    frame = cfg.data.source.build("val")[0]
    fc = refine_frame(module, frame, FrameToGrids(cfg.data), 0.5)
    assert len(fc.pseudo) > 100 and fc.prob.shape == cfg.data.grid.shape
    # the model's points are its own depth's (ground-aligned), not the source's stand-in pseudo-LiDAR
    assert fc.pseudo.shape == frame.pseudo_points.shape  # one point per pixel of the same camera
    assert float(abs(fc.pseudo - frame.pseudo_points).max()) > 1.0


def test_predict_and_export_refuse_an_image_model_in_one_line(trained, tmp_path) -> None:
    from occkit.evaluation.prediction import probability_grid
    from occkit.export import export_model
    from occkit.train.checkpoint import load_module

    _, result = trained
    module = load_module(result.last_checkpoint, None)
    with pytest.raises(ConfigError, match="reads camera images"):
        probability_grid(module, torch.zeros(module.cfg.data.in_channels, 32, 32).numpy())
    with pytest.raises(ConfigError, match="occkit export: this model reads camera images"):
        export_model(module, tmp_path / "export")


def test_a_depth_model_without_camera_inputs_is_a_config_error(tmp_path) -> None:
    with pytest.raises(ConfigError, match="set data.input.camera"):
        tiny_cfg(tmp_path, ["data.input.camera=null"])


def test_freeze_prefixes_that_match_nothing_are_an_error(tmp_path) -> None:
    from occkit.train.module import OccupancyModule

    with pytest.raises(ConfigError, match=r"model.depth.freeze: \['encoder.'\] match no depth-network parameter"):
        OccupancyModule(tiny_cfg(tmp_path, ['model.depth.freeze=["encoder."]']))
    partly = OccupancyModule(tiny_cfg(tmp_path, ['model.depth.freeze=["stem."]']))
    assert not any(p.requires_grad for p in partly.net.depth.stem.parameters())
    assert all(p.requires_grad for p in partly.net.depth.head.parameters())


def test_bad_depth_weights_are_one_line_errors(tmp_path) -> None:
    with pytest.raises(InputFileError, match="depth weights not found"):
        load_depth_weights(DepthCNN([8, 16]), str(tmp_path / "none.pt"))
    other = tmp_path / "other.pt"
    torch.save(DepthCNN([8, 32]).state_dict(), other)
    with pytest.raises(InputFileError, match="does not fit the depth network"):
        load_depth_weights(DepthCNN([8, 16]), str(other))
    torn = tmp_path / "torn.pt"
    torn.write_bytes(b"not a checkpoint")
    with pytest.raises(InputFileError, match="not a readable state-dict file"):
        load_depth_weights(DepthCNN([8, 16]), str(torn))


def test_the_depth_cnn_learns_a_depth_map() -> None:
    """Overfit one image: the scale-invariant log loss falls and the depth takes the map's shape."""
    torch.manual_seed(0)
    img = torch.rand(1, 3, 32, 40)
    target = 80.0 + 20.0 * img.mean(dim=1)  # depth follows the image's brightness
    net = DepthCNN([8, 16])
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    first = float(silog_loss(net(img), target))
    for _ in range(150):
        opt.zero_grad()
        loss = silog_loss(net(img), target)
        loss.backward()
        opt.step()
    assert float(loss) < 0.3 * first
    pred = net(img).detach()
    corr = torch.corrcoef(torch.stack([pred.flatten(), target.flatten()]))[0, 1]
    assert corr > 0.9


def test_the_depth_network_waits_frozen_steps_before_it_trains(tmp_path) -> None:
    from occkit.train.runner import fit

    cfg = tiny_cfg(tmp_path, ["model.depth.frozen_steps=2", "trainer.max_epochs=2"])  # 4 steps
    result = fit(cfg, run_dir=tmp_path / "held", wandb=False, verbose=False)
    steps = {}
    with open(result.run_dir / "metrics.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            if row.get("health/grad_norm/net.refinement"):
                steps[int(row["step"])] = row.get("health/grad_norm/net.depth") or None
    assert sorted(steps) == [1, 2, 3, 4]  # logged after each optimizer step
    assert steps[1] is None and steps[2] is None  # held: no gradient reached the depth network
    assert float(steps[3]) > 0 and float(steps[4]) > 0


def test_with_the_plane_prior_an_untrained_depth_network_sees_the_ground_plane(tmp_path) -> None:
    from occkit.data.dataset import OccupancyDataset, collate
    from occkit.depth.plane_prior import ground_plane_depth
    from occkit.train.module import OccupancyModule

    cfg = tiny_cfg(tmp_path)
    assert cfg.model.depth.prior == "ground_plane"
    module = OccupancyModule(cfg)
    batch = collate([OccupancyDataset(cfg.data, "val", augment=False)[0]])
    with torch.no_grad():
        depth = module.net.depth_maps(batch["image"], batch["K"], batch["T_grid_cam"])
    plane = ground_plane_depth(batch["K"], batch["T_grid_cam"], *depth.shape[-2:])
    torch.testing.assert_close(depth, plane)
    truth = batch["depth_gt"]
    rel = ((truth - plane).abs() / truth)[truth > 0]  # a town from above is mostly ground near the datum
    assert float(rel.median()) < 0.05
