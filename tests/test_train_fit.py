"""fit() on the real Lightning Trainer with the real U-Net and loss: run dir, logs, checkpoints, resume."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from test_train_support import column, read_metrics_csv, read_tensorboard, tiny_config, tiny_loaders

from occkit.config import load_config
from occkit.errors import ConfigError, GridMismatchError, InputFileError
from occkit.geometry.grid import GridSpec
from occkit.health.events import TrainingHealthError
from occkit.train.checkpoint import AtomicCheckpointIO, load_module
from occkit.train.module import OccupancyModule
from occkit.train.runner import fit

STEP_NAMES = ["train/loss", "train/grad_norm", "train/clipped", "train/lr", "pred/mean", "pred/min", "pred/max",
              "pred/occupancy_rate", "target/occupancy_rate", "train/loss_focal", "train/loss_dice"]
EPOCH_NAMES = ["epoch/train_loss", "epoch/val_loss", "epoch/lr", "epoch/time_seconds", "val/iou", "val/precision",
               "val/recall", "val/f1", "val/best_f1", "val/iou_at_best"]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("runs")
    cfg = tiny_config(root, trainer={"max_epochs": 4, "checkpoint_every_n_epochs": 2})
    train, val = tiny_loaders(8, 4)
    return cfg, fit(cfg, train_loader=train, val_loader=val, verbose=False)


def test_fit_writes_the_run_directory(finished_run) -> None:
    cfg, result = finished_run
    run = result.run_dir
    assert run.parent == Path(cfg.trainer.runs_root) and run.name.startswith("tiny-")
    status = json.loads((run / "status.json").read_text())
    assert status["state"] == "finished" and status["global_step"] == 16 == result.global_step
    assert load_config(run / "config.json") == cfg
    ckpts = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert ckpts == ["best.ckpt", "epoch=001.ckpt", "epoch=003.ckpt", "last.ckpt"]
    assert not list(run.rglob("*.tmp"))
    assert (run / "health.jsonl").is_file()


def test_metrics_csv_and_tensorboard_hold_the_named_scalars(finished_run) -> None:
    _, result = finished_run
    rows = read_metrics_csv(result.run_dir)
    for name in STEP_NAMES:
        steps = [s for s, _ in column(rows, name)]
        assert steps == list(range(16)), name  # every step
    for name in EPOCH_NAMES:
        assert len(column(rows, name)) == 4, name
    assert all(v in (0.0, 1.0) for _, v in column(rows, "train/clipped"))
    tb = read_tensorboard(result.run_dir / "tensorboard")
    for name in STEP_NAMES + EPOCH_NAMES:
        assert name in tb, name
    csv_loss = dict(column(rows, "train/loss"))
    assert all(math.isclose(v, csv_loss[s], rel_tol=1e-5) for s, v in tb["train/loss"])


def test_training_learns_and_best_checkpoint_tracks_val_iou(finished_run) -> None:
    _, result = finished_run
    ious = [v for _, v in column(read_metrics_csv(result.run_dir), "val/iou")]
    assert ious[-1] > ious[0] and max(ious) > 0.2
    assert result.best_iou == pytest.approx(max(ious), rel=1e-5)
    best = torch.load(result.best_checkpoint, weights_only=False)
    assert best["hyper_parameters"]["config"]["data"]["grid"]["voxel_size"] == [1.0, 1.0, 1.0]
    assert best["occkit_grid"] == json.loads(json.dumps(GridSpec.model_validate(best["occkit_grid"]).model_dump()))
    last = torch.load(result.last_checkpoint, weights_only=False)
    assert last["global_step"] == 16


def test_checkpoint_with_another_grid_is_refused(finished_run, tmp_path: Path) -> None:
    cfg, result = finished_run
    other = tiny_config(tmp_path, data={"grid": GridSpec(pc_range=(0, 0, 0, 16, 16, 8), voxel_size=(1, 1, 2))})
    with pytest.raises(GridMismatchError, match=r"16x16x4.*16x16x4|16x16x4"):
        load_module(result.best_checkpoint, other)
    with pytest.raises(GridMismatchError) as err:
        load_module(result.best_checkpoint, tiny_config(tmp_path, data={"grid": GridSpec(
            pc_range=(0, 0, 0, 32, 32, 4), voxel_size=(2, 2, 1))}))
    assert "16x16x4" in str(err.value) and "16x16x4" in str(err.value).split("asks for")[1]
    assert str(result.best_checkpoint) in str(err.value)
    with pytest.raises(GridMismatchError):
        OccupancyModule.load_from_checkpoint(result.best_checkpoint, config=other)
    train, val = tiny_loaders()
    with pytest.raises(GridMismatchError):
        fit(other, resume=result.last_checkpoint, run_dir=tmp_path / "other", train_loader=train, val_loader=val,
            verbose=False)
    module = load_module(result.best_checkpoint, cfg)  # the right grid loads, in eval mode
    assert not module.training and module.cfg == cfg


def test_resume_continues_the_global_step(tmp_path: Path) -> None:
    train, val = tiny_loaders(8, 4)
    first = fit(tiny_config(tmp_path, trainer={"max_steps": 6, "max_epochs": 10}), train_loader=train,
                val_loader=val, verbose=False)
    assert first.state == "finished" and first.global_step == 6  # stopped mid-epoch (4 batches per epoch)
    assert torch.load(first.last_checkpoint, weights_only=False)["global_step"] == 6
    second = fit(tiny_config(tmp_path, trainer={"max_steps": 10, "max_epochs": 10}), run_dir=first.run_dir,
                 resume="auto", train_loader=train, val_loader=val, verbose=False)
    assert second.run_dir == first.run_dir and second.global_step == 10
    ckpt = torch.load(second.last_checkpoint, weights_only=False)
    adam_steps = {float(s["step"]) for s in ckpt["optimizer_states"][0]["state"].values()}
    assert adam_steps == {10.0}  # optimizer state carried over, not restarted
    assert ckpt["lr_schedulers"][0]["last_epoch"] == 10
    steps = [s for s, _ in column(read_metrics_csv(first.run_dir), "train/loss")]
    assert steps == list(range(10))  # one history: 0-5 from the first run, 6-9 after the resume
    assert json.loads((first.run_dir / "status.json").read_text())["global_step"] == 10


def test_resume_auto_without_run_dir_picks_the_newest_run(tmp_path: Path) -> None:
    train, val = tiny_loaders(4, 2)
    first = fit(tiny_config(tmp_path, trainer={"max_steps": 2, "max_epochs": 10}), train_loader=train,
                val_loader=val, verbose=False)  # stops exactly at an epoch end
    again = fit(tiny_config(tmp_path, trainer={"max_steps": 4, "max_epochs": 10}), resume="auto",
                train_loader=train, val_loader=val, verbose=False)
    assert again.run_dir == first.run_dir and again.global_step == 4
    with pytest.raises(ConfigError, match="--resume auto"):
        fit(tiny_config(tmp_path), run_dir=first.run_dir, train_loader=train, verbose=False)
    with pytest.raises(InputFileError, match="missing.ckpt"):
        fit(tiny_config(tmp_path), resume=tmp_path / "missing.ckpt", train_loader=train, verbose=False)


class _NaNEveryOther(torch.nn.Module):
    """Wraps the real loss; every second training call returns NaN."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.calls = 0

    def forward(self, logits, target, mask=None):
        out = self.inner(logits, target, mask)
        if self.training:
            self.calls += 1
            if self.calls % 2 == 0:
                out.total = out.total * float("nan")
        return out


def test_nonfinite_loss_skips_the_step_and_counts_it(tmp_path: Path) -> None:
    from occkit.losses import OccupancyLoss

    cfg = tiny_config(tmp_path, trainer={"max_epochs": 1})
    train, val = tiny_loaders(8, 2)
    result = fit(cfg, loss_fn=_NaNEveryOther(OccupancyLoss(cfg.loss)), train_loader=train, val_loader=val,
                 verbose=False)
    assert result.state == "finished" and result.nonfinite_steps == 2
    module = load_module(result.last_checkpoint, cfg)
    assert all(torch.isfinite(p).all() for p in module.parameters())
    rows = read_metrics_csv(result.run_dir)
    losses = [v for _, v in column(rows, "train/loss")]
    assert [math.isfinite(v) for v in losses] == [True, False, True, False]  # skipped steps read NaN, not a repeat
    assert json.loads((result.run_dir / "status.json").read_text())["nonfinite_steps"] == 2
    from occkit.health.doctor import diagnose

    diagnosis = diagnose(result.run_dir)
    assert diagnosis.summary["nonfinite_steps"] == 2
    assert any(f.kind == "nonfinite" and f.title.startswith("2 step(s)") for f in diagnosis.findings)


def test_gradient_clipping_is_measured_every_step(tmp_path: Path) -> None:
    train, val = tiny_loaders(4, 2)
    clipped = fit(tiny_config(tmp_path, optim={"grad_clip": 1e-6}, trainer={"max_epochs": 1}), train_loader=train,
                  val_loader=val, verbose=False)
    rows = read_metrics_csv(clipped.run_dir)
    assert [v for _, v in column(rows, "train/clipped")] == [1.0, 1.0]
    assert all(v > 1e-6 for _, v in column(rows, "train/grad_norm"))
    free = fit(tiny_config(tmp_path, optim={"grad_clip": None}, trainer={"max_epochs": 1}), train_loader=train,
               val_loader=val, verbose=False)
    assert [v for _, v in column(read_metrics_csv(free.run_dir), "train/clipped")] == [0.0, 0.0]


class _Boom(torch.nn.Module):
    def forward(self, logits, target, mask=None):
        raise RuntimeError("loss exploded on purpose")


def test_a_crash_is_recorded_in_status(tmp_path: Path) -> None:
    train, val = tiny_loaders(4, 2)
    with pytest.raises(RuntimeError, match="on purpose"):
        fit(tiny_config(tmp_path), loss_fn=_Boom(), train_loader=train, val_loader=val, verbose=False)
    (run,) = tmp_path.iterdir()
    status = json.loads((run / "status.json").read_text())
    assert status["state"] == "crashed" and "on purpose" in status["message"]


class _AlwaysNaN(torch.nn.Module):
    def forward(self, logits, target, mask=None):
        return (logits.mean() * float("nan")).reshape(())


def test_health_guard_stop_is_recorded(tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path, health={"guard": "stop", "nonfinite_patience": 1, "every_n_steps": 1})
    train, val = tiny_loaders(4, 2)
    with pytest.raises(TrainingHealthError):
        fit(cfg, loss_fn=_AlwaysNaN(), train_loader=train, val_loader=val, verbose=False)
    (run,) = tmp_path.iterdir()
    assert json.loads((run / "status.json").read_text())["state"] == "stopped_by_guard"


def test_atomic_checkpoint_save_never_leaves_half_a_file(tmp_path: Path) -> None:
    io = AtomicCheckpointIO()
    path = tmp_path / "last.ckpt"
    io.save_checkpoint({"global_step": 1}, path)
    with pytest.raises(Exception):  # noqa: B017 - torch.save fails on an unpicklable object mid-write
        io.save_checkpoint({"global_step": 2, "bad": lambda: None}, path)
    assert torch.load(path, weights_only=False) == {"global_step": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]


def test_bf16_mixed_precision_and_gradient_accumulation(tmp_path: Path) -> None:
    train, val = tiny_loaders(8, 2)
    cfg = tiny_config(tmp_path, trainer={"max_epochs": 1, "precision": "bf16-mixed", "accumulate_grad_batches": 2})
    result = fit(cfg, train_loader=train, val_loader=val, verbose=False)
    assert result.state == "finished" and result.global_step == 2  # 4 batches, one optimizer step per 2
    rows = read_metrics_csv(result.run_dir)
    assert len(column(rows, "train/grad_norm")) == 2
    assert all(math.isfinite(v) for _, v in column(rows, "train/loss"))


def test_the_share_of_time_spent_waiting_for_data_is_logged(finished_run) -> None:
    cfg, result = finished_run
    rows = read_metrics_csv(result.run_dir)
    waits = [v for _, v in column(rows, "perf/data_wait_fraction")]
    steps = [v for _, v in column(rows, "perf/step_seconds")]
    assert len(waits) == cfg.trainer.max_epochs and all(0.0 <= w < 1.0 for w in waits)  # one per epoch
    assert all(s > 0 for s in steps)


def test_auto_precision_trains_in_bf16_exactly_where_the_cpu_computes_it_natively(tmp_path: Path) -> None:
    import lightning as L

    from occkit.train.runner import resolve_precision

    assert resolve_precision("32-true", "cpu") == "32-true" and resolve_precision("bf16-mixed", "cpu") == "bf16-mixed"
    native = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    expected = "bf16-mixed" if native else "32-true"
    assert resolve_precision("auto", "cpu") == expected
    from occkit.train.runner import describe_precision

    said = describe_precision("auto", "cpu")  # the console line a run prints: a slow fp32 CPU says why
    assert said.startswith(f"auto -> {expected}") and (("fp32" in said) == (not native))
    assert describe_precision("32-true", "cpu") == "32-true"

    class Seen(L.Callback):
        precision: str | None = None
        logits_dtype: torch.dtype | None = None

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            Seen.precision = trainer.precision
            with trainer.precision_plugin.forward_context():
                Seen.logits_dtype = pl_module(batch["input"]).dtype

    train, val = tiny_loaders(4, 2)
    cfg = tiny_config(tmp_path, trainer={"max_epochs": 1, "precision": "auto", "accelerator": "cpu"})
    result = fit(cfg, train_loader=train, val_loader=val, verbose=False, callbacks=[Seen()])
    assert result.state == "finished"
    assert Seen.precision == expected
    assert Seen.logits_dtype == (torch.bfloat16 if native else torch.float32)
