"""The doctor on runs recorded by other trainers: mmengine work dirs (real ones, written by mmengine's own runner),
W&B runs written by the real wandb, Lightning's CSV logs written by a real Lightning fit, and mmcv 1.x logs."""

from __future__ import annotations

import json
import math
import shutil
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from occkit.cli import app
from occkit.health.doctor import diagnose, write_report
from occkit.health.metric_names import drop_restarted_steps, occkit_name, to_occkit_names
from occkit.health.mm_logs import read_mm_log, safe_config

RECORDED = Path(__file__).parent / "data" / "recorded"


def test_names_other_trainers_use_map_onto_occkits() -> None:
    tags = ["loss", "lr-AdamW", "grad_norm", "occ/mIoU", "train/iou", "val_loss", "health/loss"]
    assert {t: occkit_name(t, tags) for t in tags} == {
        "loss": "train/loss", "lr-AdamW": "train/lr", "grad_norm": "train/grad_norm", "occ/mIoU": "val/iou",
        "train/iou": "train/iou", "val_loss": "epoch/val_loss", "health/loss": "health/loss"}
    assert occkit_name("loss", ["loss", "train/loss"]) is None  # occkit's own name wins over an alias of it
    # mmdetection3d reports an occupancy mIoU in percent; occkit's IoU is a fraction
    assert to_occkit_names({"mIoU": [(100, 38.5), (200, 41.0)]}) == {"val/iou": [(100, 0.385), (200, 0.41)]}
    # a resume rewrites the steps after its checkpoint; a restart from step 1 rewrites them all
    rows = [(10, {"a": 1.0}), (20, {"a": 2.0}), (30, {"a": 3.0}), (20, {"a": 9.0}), (30, {"a": 8.0}), (30, {"b": 1.0})]
    assert drop_restarted_steps(rows) == [(10, {"a": 1.0}), (20, {"a": 9.0}), (30, {"a": 8.0, "b": 1.0})]
    assert drop_restarted_steps([*rows, (10, {"a": 0.0})]) == [(10, {"a": 0.0})]


def test_real_mmengine_work_dir_with_a_starved_learning_rate(tmp_path: Path) -> None:
    """AdamW at lr 1e-5 with clip_grad max_norm 0.1, trained by mmengine's Runner: the plateau is named with the
    learning rate first, in the names of the run's own config, and the clipping is not blamed."""
    diagnosis = diagnose(RECORDED / "mmengine_starved")
    run = diagnosis.run
    assert not run.written_by_occkit and run.metrics_kind == "OpenMMLab log"  # preferred to its TensorBoard copy
    assert run.metrics_from.endswith("vis_data/scalars.json")
    assert run.config == {"optim": {"lr": 1e-5, "grad_clip": 0.1, "optimizer": "AdamW"}}
    assert run.settings == {"optim.lr": "optim_wrapper.optimizer.lr",
                            "optim.grad_clip": "optim_wrapper.clip_grad.max_norm",
                            "optim.optimizer": "optim_wrapper.optimizer.type"}
    steps, _ = run.series("train/loss")
    assert steps[0] == 10 and steps[-1] == 600 and len(steps) == 60
    # validation's "step" counts epochs (10, 20, …); each lands on its epoch's last training step
    val_steps, ious = run.series("val/iou")
    assert val_steps == [100, 200, 300, 400, 500, 600] and all(0 <= v <= 1 for v in ious)
    kinds = [f.kind for f in diagnosis.findings]
    assert kinds == ["plateau", "clipping_frequent"]
    assert "optim.lr=1e-04 (from 1e-05)" in diagnosis.findings[0].suggestion
    assert "clipping matters" not in diagnosis.findings[0].suggestion  # AdamW cancels a steady clip factor
    report = write_report(diagnosis, tmp_path / "doctor.md").read_text()
    assert "Not an occkit run directory: metrics read from its OpenMMLab log" in report
    assert "`optim.lr` is `optim_wrapper.optimizer.lr`" in report
    assert "crash" not in kinds and "killed" not in report  # no status.json is expected of mmengine


def test_real_mmengine_rerun_reads_the_newest_run_and_a_healthy_one_is_clean() -> None:
    diagnosis = diagnose(RECORDED / "mmengine_healthy")
    assert diagnosis.findings == []
    assert "the newest of 2 such logs" in diagnosis.run.metrics_from
    steps, losses = diagnosis.run.series("train/loss")
    assert steps[-1] == 300 and losses[-1] < 0.7 * losses[0]  # the rerun of 300 steps, not the first run's 600
    assert diagnosis.run.config["optim"]["grad_clip"] == 10.0


def test_one_scalars_file_holding_two_runs_keeps_the_last(tmp_path: Path) -> None:
    """mmengine appends to a reused vis_data folder; the steps falling back to 10 start the second run."""
    first = sorted((RECORDED / "mmengine_starved").glob("*/vis_data/scalars.json"))[0].read_text()
    second = sorted((RECORDED / "mmengine_healthy").glob("*/vis_data/scalars.json"))[-1].read_text()
    path = tmp_path / "work" / "20260101_000000" / "vis_data" / "scalars.json"
    path.parent.mkdir(parents=True)
    path.write_text(first + second + '{"loss": 0.5, "lr": 0.003, "epoch": 31, "iter": 310, "st')  # killed mid-line
    log = read_mm_log(path)
    assert [s for s, r in log.rows if "loss" in r] == list(range(10, 301, 10))
    assert log.problems and "not JSON" in log.problems[0]
    assert log.config == {}  # no config dump beside it


def test_a_config_dump_is_parsed_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    source = (f"import os\nos.system('touch {marker}')\n"
              f"optim_wrapper = dict(optimizer=dict(type=AdamW, lr=2e-4, betas=(0.9, 0.999)), clip_grad=dict("
              f"max_norm=35, norm_type=2))\n"
              f"model = dict(depth=__import__('os').system('touch {marker}'))\n"
              "param_scheduler = [dict(type='LinearLR', start_factor=-1e-3)]\n")
    config = safe_config(source)
    assert not marker.exists()
    assert config == {"optim_wrapper": {"optimizer": {"type": "AdamW", "lr": 2e-4, "betas": [0.9, 0.999]},
                                        "clip_grad": {"max_norm": 35, "norm_type": 2}},
                      "param_scheduler": [{"type": "LinearLR", "start_factor": -1e-3}]}
    assert safe_config("this is not python (") == {}


def test_mmcv1_log_json_counts_iterations_across_epochs(tmp_path: Path) -> None:
    """mmcv 1.x (SurroundOcc, BEVFormer, OpenOccupancy): ``iter`` restarts each epoch, mIoU is in percent, and the
    first line is the run's meta with its config text."""
    config_text = ("optimizer = dict(type='SGD', lr=0.02, momentum=0.9)\n"
                   "optimizer_config = dict(grad_clip=dict(max_norm=0.1, norm_type=2))\n")
    lines = [{"env_info": "sys.platform: linux", "config": config_text, "seed": 0}]
    for epoch in (1, 2, 3):
        for it in range(50, 401, 50):
            lines.append({"mode": "train", "epoch": epoch, "iter": it, "lr": 0.02, "memory": 14473,
                          "data_time": 0.05, "loss": 1.2 * math.exp(-((epoch - 1) * 400 + it) / 300),
                          "grad_norm": 4.5, "time": 0.47})
        lines.append({"mode": "val", "epoch": epoch, "iter": 753, "lr": 0.02, "mIoU": 10.0 * epoch})
    work = tmp_path / "work_dirs" / "surroundocc"
    work.mkdir(parents=True)
    (work / "20230101_120000.log.json").write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    diagnosis = diagnose(work)
    run = diagnosis.run
    assert run.metrics_kind == "OpenMMLab log"
    steps, _ = run.series("train/loss")
    assert steps[:3] == [50, 100, 150] and steps[8] == 450 and steps[-1] == 1200
    assert run.series("val/iou") == ([400, 800, 1200], [0.1, 0.2, 0.3])
    assert run.config == {"optim": {"lr": 0.02, "grad_clip": 0.1, "optimizer": "SGD"}}
    # SGD's update scales with the clipped gradient: clipping at 0.1 a norm of 4.5 starves it
    assert [f.kind for f in diagnosis.findings] == ["starved_gradients"]
    assert "SGD scales the update with the clipped gradient" in diagnosis.findings[0].title
    assert diagnosis.findings[0].fix == ["optim.grad_clip=9"]  # the lr (0.02) is not raised: it is not small


def _wandb_run(project_dir: Path, config: dict, rows: list[dict]) -> None:
    import wandb

    project_dir.mkdir(parents=True, exist_ok=True)
    run = wandb.init(project="occ", dir=str(project_dir), config=config)
    for row in rows:
        wandb.log(row)
    run.finish()


def test_a_hand_written_loop_logging_to_wandb_gets_the_collapse_named(wandb_offline: Path) -> None:
    """The user's own loop with weighted BCE at 0.83 % occupancy: the prediction's max never passes 0.5 (their
    own logged state at step 100: mean 0.0100, max 0.05). Only W&B's local log is left of it."""
    rows = [{"step": s, "loss": 0.76 - 0.0001 * s, "grad_norm": 0.05, "pred_mean": 0.0100, "pred_max": 0.05,
             "target_rate": 0.0083} for s in range(0, 300)]
    _wandb_run(wandb_offline / "project", {"lr": 1e-4, "max_norm": 0.1, "optimizer": "AdamW",
                                        "model": {"depth": 3}}, rows)
    diagnosis = diagnose(wandb_offline / "project")
    run = diagnosis.run
    assert run.metrics_kind == "W&B log" and run.metrics_from.startswith("wandb/offline-run-")
    assert (wandb_offline / "project" / "wandb" / "latest-run").is_symlink() and "newest of" not in run.metrics_from
    assert run.series("train/loss")[0][:3] == [0, 1, 2]  # the logged "step", not W&B's own counter
    assert run.config == {"optim": {"lr": 1e-4, "grad_clip": 0.1, "optimizer": "AdamW"}}
    assert diagnosis.findings[0].kind == "collapse" and diagnosis.findings[0].step <= 100
    result = CliRunner().invoke(app, ["doctor", str(wandb_offline / "project"), "--out", str(wandb_offline / "report")])
    assert result.exit_code == 0, result.output
    assert "W&B log" in (wandb_offline / "report" / "doctor.md").read_text()


def _flat_lightning_fit(logger) -> None:
    """A plain Lightning fit at lr 1e-6 (SGD, clip 0.1): the loss barely moves in 400 steps."""
    import lightning.pytorch as pl
    import torch

    class Flat(pl.LightningModule):
        def __init__(self, lr: float = 1e-6, gradient_clip_val: float = 0.1) -> None:
            super().__init__()
            self.save_hyperparameters()
            self.net = torch.nn.Linear(4, 1)

        def training_step(self, batch, _):
            x, y = batch
            loss = torch.nn.functional.binary_cross_entropy_with_logits(self.net(x).squeeze(1), y)
            self.log("train_loss", loss, on_step=True, on_epoch=False)
            return loss

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)

    torch.manual_seed(0)
    data = torch.utils.data.TensorDataset(torch.randn(64, 4), (torch.rand(64) < 0.3).float())
    trainer = pl.Trainer(max_steps=400, logger=logger, log_every_n_steps=5, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, gradient_clip_val=0.1)
    trainer.fit(Flat(), torch.utils.data.DataLoader(data, batch_size=4, shuffle=True))


def test_lightning_csv_logs_are_read_with_their_own_names(tmp_path: Path) -> None:
    """A plain Lightning fit with the CSVLogger: version_N/metrics.csv beside hparams.yaml, no occkit files."""
    from lightning.pytorch.loggers import CSVLogger

    _flat_lightning_fit(CSVLogger(str(tmp_path), name="lightning_logs"))
    version = tmp_path / "lightning_logs" / "version_0"
    for where in (tmp_path / "lightning_logs", version):  # the logs folder, or the version folder itself
        diagnosis = diagnose(where)
        run = diagnosis.run
        assert not run.written_by_occkit
        steps, losses = run.series("train/loss")
        assert len(steps) >= 70 and all(math.isfinite(v) for v in losses)
        assert all(f.kind != "crash" for f in diagnosis.findings)  # Lightning writes no status.json
        assert run.metrics_kind == "Lightning CSV log"
        assert run.config == {"optim": {"lr": 1e-6, "grad_clip": 0.1}}  # from hparams.yaml beside the CSV
        assert [f.kind for f in diagnosis.findings] == ["plateau"]
        assert "optim.lr=1e-05 (from 1e-06)" in diagnosis.findings[0].suggestion


def test_lightning_tensorboard_logs_take_the_lr_from_hparams(tmp_path: Path) -> None:
    """No LearningRateMonitor: the lr the advice starts from is the one hparams.yaml records."""
    from lightning.pytorch.loggers import TensorBoardLogger

    _flat_lightning_fit(TensorBoardLogger(str(tmp_path), name="lightning_logs"))
    diagnosis = diagnose(tmp_path / "lightning_logs")
    assert diagnosis.run.metrics_kind == "TensorBoard events"
    assert diagnosis.run.settings == {"optim.lr": "lr", "optim.grad_clip": "gradient_clip_val"}
    assert [f.kind for f in diagnosis.findings] == ["plateau"]
    assert "optim.lr=1e-05 (from 1e-06)" in diagnosis.findings[0].suggestion
    (events,) = (tmp_path / "lightning_logs" / "version_0").glob("events.out.tfevents.*")
    one_file = diagnose(events)  # the events file itself
    assert [(f.kind, f.suggestion) for f in one_file.findings] == [(f.kind, f.suggestion) for f in diagnosis.findings]
    assert one_file.run.default_report_dir() == events.parent / "occkit_doctor"


def test_a_folder_with_no_run_at_all_is_one_line(tmp_path: Path) -> None:
    for name in ("tiny-20260101-000000", "tiny-20260102-000000"):  # `occkit doctor runs/`: two occkit runs in it
        (tmp_path / "runs" / name).mkdir(parents=True)
        (tmp_path / "runs" / name / "config.json").write_text("{}")
        (tmp_path / "runs" / name / "metrics.csv").write_text("step,train/loss\n1,0.5\n")
    result = CliRunner().invoke(app, ["doctor", str(tmp_path / "runs")])
    assert result.exit_code == 2 and "holds 2 occkit run(s), not one" in result.output
    assert "pass one of them" in result.output and "Traceback" not in result.output
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(app, ["doctor", str(tmp_path / "empty")])
    assert result.exit_code == 2 and "OpenMMLab or W&B log" in result.output and "Traceback" not in result.output
    bad = tmp_path / "bad" / "run-x.wandb"
    bad.parent.mkdir()
    shutil.copy(RECORDED / "make_mmengine_runs.py", bad)  # not a transaction log
    diagnosis = diagnose(tmp_path / "bad")
    assert any("not a W&B transaction log" in f.title for f in diagnosis.findings)


def test_a_wandb_log_without_wandb_installed_is_one_finding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "run" / "wandb" / "run-20260101_000000-abc" / "run-abc.wandb"
    log.parent.mkdir(parents=True)
    log.write_bytes(b":W&B\x00\x01\x00" + bytes(64))
    monkeypatch.setitem(sys.modules, "wandb.proto", None)  # what Python does when the package is not installed
    monkeypatch.setitem(sys.modules, "wandb", None)
    diagnosis = diagnose(tmp_path / "run")
    assert [f.kind for f in diagnosis.findings] == ["damaged_files"]
    assert 'pip install "occkit[wandb]"' in diagnosis.findings[0].title


def test_printed_log_lines_of_many_styles_are_read(tmp_path: Path) -> None:
    from occkit.health.text_log import read_text_log

    log = tmp_path / "train.log"
    log.write_text("\n".join([
        "Namespace(lr=0.0001, batch_size=3, pos_weight=10.0)",
        "2024-05-01 12:00:00,123 INFO Loaded 1200 training samples",
        "Epoch [1/20], Step [100/500], Loss: 0.7612, Pred mean: 0.0100, max: 0.05",
        "Epoch [1/20], Step [500/500], Loss: 0.7601, Pred mean: 0.0090, max: 0.04",
        "Validation: IoU: 0.0000, Loss: 0.7700",
        "Epoch [2/20], Step [100/500], Loss: 0.7590, lr: 1e-4",
        "2024-05-01 12:10:03,123 INFO step 700 loss 0.75 train IoU 0.2 grad_norm=nan",
    ]) + "\n")
    rows, settings, problems = read_text_log(log)
    assert problems == [] and settings == {"lr": 1e-4, "batch_size": 3.0, "pos_weight": 10.0, "loaded": 1200.0}
    assert [s for s, _ in rows] == [100, 500, 500, 600, 700]  # step 100 of epoch 2 is step 600
    assert rows[0][1] == {"loss": 0.7612, "pred_mean": 0.01, "pred_max": 0.05}
    assert rows[2][1] == {"val_iou": 0.0, "val_loss": 0.77}  # the validation line, on the step before it
    assert rows[3][1] == {"loss": 0.759, "lr": 1e-4}
    assert rows[4][1]["loss"] == 0.75 and rows[4][1]["train_iou"] == 0.2 and math.isnan(rows[4][1]["grad_norm"])
    assert "info_step" not in rows[4][1]


def test_the_users_printed_collapse_is_named_from_the_log_file(tmp_path: Path) -> None:
    """Issue 12's user: weighted BCE at 0.8 % occupancy, their own loop printing 'Pred mean: 0.0100, max: 0.05' at
    step 100 and a validation IoU of 0. The doctor reads the log file itself, or the folder holding it."""
    lines = ["Namespace(lr=0.0001, batch_size=3, pos_weight=10.0)"]
    for epoch in (1, 2, 3):
        for step in range(100, 501, 100):
            g = (epoch - 1) * 500 + step
            lines.append(f"Epoch [{epoch}/20], Step [{step}/500], Loss: {0.76 - 0.00002 * g:.4f}, "
                         "Pred mean: 0.0100, max: 0.05")
        lines.append("Validation: IoU: 0.0000, Loss: 0.7600")
    log = tmp_path / "run" / "train.log"
    log.parent.mkdir()
    log.write_text("\n".join(lines) + "\n")
    for where in (log, log.parent):
        diagnosis = diagnose(where)
        assert diagnosis.run.metrics_kind == "printed log" and diagnosis.run.metrics_from == "train.log"
        first = diagnosis.findings[0]
        assert first.kind == "collapse" and first.step == 100 and "max probability 0.050" in first.title
        assert "nan" not in first.title  # no target rate was printed: the title leaves it out
        assert diagnosis.run.config == {"optim": {"lr": 1e-4}}
        assert diagnosis.summary["best_val_iou"] == 0.0
    result = CliRunner().invoke(app, ["doctor", str(log), "--out", str(tmp_path / "report")])
    assert result.exit_code == 0 and "printed log (train.log)" in result.output
    report = (tmp_path / "report" / "doctor.md").read_text()
    assert "`pred/max` (15 values)" in report and "`val/iou` (3 values)" in report
    assert "![doctor_pred_vs_target](doctor_pred_vs_target.png)" in report
    from occkit.health.doctor_plots import doctor_figures

    (ax,) = doctor_figures(diagnosis.run)["doctor_pred_vs_target"].axes
    # the collapse's own signal, the max against 0.5, is drawn
    assert ax.get_legend_handles_labels()[1] == ["prediction mean", "prediction max",
                                                 "0.5: above it a voxel is predicted occupied"]
    result = CliRunner().invoke(app, ["doctor", str(log)])
    assert result.exit_code == 0 and (log.parent / "train_doctor" / "doctor.md").is_file()
    assert not (log.parent / "report").exists()  # never a folder the user's own run might have
    other = tmp_path / "picture.png"
    other.write_bytes(b"\x89PNG\r\n")
    result = CliRunner().invoke(app, ["doctor", str(other)])
    assert result.exit_code == 2 and "not a log the doctor reads" in result.output and "Traceback" not in result.output


def test_mmengines_own_text_log_reads_as_its_scalars() -> None:
    """The real mmengine run's printed log (``<time>/<time>.log``: 'Epoch(train) [3][10/10] lr: … loss: …',
    its config printed first) gives the same series and the same diagnosis as its scalars.json."""
    work = RECORDED / "mmengine_starved"
    (text_log,) = [p for p in work.glob("*/*.log") if p.stem == p.parent.name]
    from_text, from_json = diagnose(text_log), diagnose(work)
    assert from_text.run.metrics_kind == "printed log"
    (text_steps, text_loss), (json_steps, json_loss) = from_text.run.series("train/loss"), from_json.run.series(
        "train/loss")
    assert text_steps == json_steps and all(abs(a - b) < 1e-4 for a, b in zip(text_loss, json_loss, strict=True))
    assert from_text.run.series("val/iou")[0] == from_json.run.series("val/iou")[0] == [100, 200, 300, 400, 500, 600]
    assert [round(v, 4) for v in from_text.run.series("val/iou")[1]] == \
        [round(v, 4) for v in from_json.run.series("val/iou")[1]]
    assert from_text.run.config["optim"] == {"lr": 1e-5, "grad_clip": 0.1}  # the config the log printed first
    assert [(f.kind, f.suggestion) for f in from_text.findings] == [(f.kind, f.suggestion) for f in from_json.findings]


def test_a_killed_wandb_writer_leaves_a_readable_log(wandb_offline: Path) -> None:
    """W&B's log cut mid-record (the process was killed): the complete records before the cut are read."""
    rows = [{"step": s, "loss": 1.0 - 0.001 * s, "grad_norm": 0.5} for s in range(400)]
    _wandb_run(wandb_offline / "project", {"lr": 1e-3}, rows)
    (log,) = (wandb_offline / "project" / "wandb").glob("offline-run-*/run-*.wandb")
    data = log.read_bytes()
    log.write_bytes(data[: len(data) // 2 + 3])
    diagnosis = diagnose(wandb_offline / "project")
    steps, _ = diagnosis.run.series("train/loss")
    assert 50 < len(steps) < 400 and steps == list(range(len(steps)))


def test_nan_losses_in_an_mmengine_log_are_counted(tmp_path: Path) -> None:
    lines = [json.dumps({"lr": 1e-3, "grad_norm": 1.0, "loss": 0.7, "epoch": 1, "iter": s, "step": s})
             for s in range(10, 310, 10)]
    lines[20] = lines[20].replace('"loss": 0.7', '"loss": NaN')  # what Python's json writes for float("nan")
    path = tmp_path / "work" / "20260101_000000" / "vis_data" / "scalars.json"
    path.parent.mkdir(parents=True)
    path.write_text("\n".join(lines) + "\n")
    diagnosis = diagnose(tmp_path / "work")
    assert diagnosis.summary["nonfinite_steps"] == 1
    assert diagnosis.findings[0].kind == "nonfinite"


def test_the_users_status_lines_and_occkits_console_log_are_read(tmp_path: Path) -> None:
    """'DEBUG [100]: Occ: 0.83%, Pred mean: 0.0100, …' (the user's own line, issue 12) and occkit's HEALTH line
    that copies it: a console log kept from a cluster job is enough for the doctor."""
    from occkit.health.detectors import HealthCheck

    user = tmp_path / "user" / "train.log"
    user.parent.mkdir()
    user.write_text("".join(f"DEBUG [{s}]: Occ: 0.83%, Pred mean: 0.0100, min: 0.00, max: 0.05, >0.5: 0.00%\n"
                            for s in range(100, 600, 100)))
    first = diagnose(user).findings[0]
    assert first.kind == "collapse" and first.step == 100 and "1.20x the target rate 0.0083" in first.title

    checks = [HealthCheck(step=s, loss=0.9 * math.exp(-s / 300), target_rate=0.0083, pred_mean=0.008, pred_min=0.0,
                          pred_max=0.97, pred_occupied_frac=0.0079, grad_norm=0.4, clip_fraction=0.0,
                          clip_fraction_total=0.0, max_norm=10.0, lr=1e-3) for s in range(20, 620, 20)]
    console = tmp_path / "job" / "slurm-123.out"
    console.parent.mkdir()
    console.write_text("".join(c.status_line() + "\n" for c in checks))
    diagnosis = diagnose(console)
    assert diagnosis.findings == []
    steps, losses = diagnosis.run.series("train/loss")
    assert steps == [c.step for c in checks]
    assert all(abs(a - c.loss) < 1e-4 for a, c in zip(losses, checks, strict=True))
    assert diagnosis.run.series("target/occupancy_rate")[1][0] == pytest.approx(0.0083)
    assert diagnosis.run.series("pred/occupancy_rate")[1][0] == pytest.approx(0.0079)
    assert diagnosis.run.series("train/lr")[1][0] == pytest.approx(1e-3)


def test_a_lightning_run_logged_to_wandb_only(wandb_offline: Path) -> None:
    """Lightning's WandbLogger: steps in trainer/global_step, the hyperparameters in W&B's config."""
    from lightning.pytorch.loggers import WandbLogger

    logger = WandbLogger(project="occ", save_dir=str(wandb_offline / "project"), offline=True)
    _flat_lightning_fit(logger)
    import wandb

    wandb.finish()
    diagnosis = diagnose(wandb_offline / "project")
    assert diagnosis.run.metrics_kind == "W&B log"
    assert diagnosis.run.config == {"optim": {"lr": 1e-6, "grad_clip": 0.1}}
    steps, _ = diagnosis.run.series("train/loss")
    assert len(steps) >= 70 and steps[:2] == [4, 9]  # Lightning's global step, logged every 5 steps
    assert [f.kind for f in diagnosis.findings] == ["plateau"]
    assert "optim.lr=1e-05 (from 1e-06)" in diagnosis.findings[0].suggestion


def test_occkits_own_console_log_from_the_main_job() -> None:
    """The main job's real console output: 80 HEALTH lines, the validation IoU it printed, a healthy run."""
    diagnosis = diagnose(RECORDED / "occkit_main_job_console.log")
    run = diagnosis.run
    assert run.metrics_kind == "printed log" and diagnosis.findings == []
    steps, losses = run.series("train/loss")
    assert steps == list(range(20, 1601, 20)) and losses[0] == 0.9931 and losses[-1] == 0.2044
    assert run.series("train/lr")[1][0] == pytest.approx(3e-3) and run.series("train/lr")[1][-1] == pytest.approx(3e-5)
    assert run.series("target/occupancy_rate")[1][0] == pytest.approx(0.0133)
    assert run.series("val/iou") == ([1600], [0.8078])
    assert run.config == {"optim": {"lr": 0.003}}  # "optim: lr 0.003, warmup 20, …", printed before the first step


def test_a_real_hugging_face_trainer_output_dir() -> None:
    """transformers.Trainer at lr 1e-5 (max_grad_norm 0.1, kept only in its pickled training_args.bin, never
    opened): the furthest checkpoint's trainer_state.json is read, and the plateau is named with the lr first."""
    diagnosis = diagnose(RECORDED / "hf_trainer_starved")
    run = diagnosis.run
    assert run.metrics_kind == "Hugging Face trainer state"
    assert run.metrics_from == "checkpoint-600/trainer_state.json"  # one run's furthest state, not "newest of 2"
    steps, _ = run.series("train/loss")
    assert steps == list(range(10, 601, 10))
    assert run.series("epoch/val_loss")[0] == [100, 200, 300, 400, 500, 600]  # eval_loss
    assert run.series("train/lr")[1][0] == pytest.approx(1e-5) and "train/clipped" not in run.steps
    assert [f.kind for f in diagnosis.findings] == ["plateau"]
    assert "optim.lr=1e-04 (from 1e-05)" in diagnosis.findings[0].suggestion
