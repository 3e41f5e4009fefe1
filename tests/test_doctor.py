"""The doctor names the right causes on crafted run directories, including crashed ones."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

from typer.testing import CliRunner

from occkit.cli import app
from occkit.health.doctor import diagnose, write_report

COLUMNS = ["step", "epoch", "train/loss", "train/grad_norm", "train/clipped", "train/lr", "pred/mean", "pred/min",
           "pred/max", "pred/occupancy_rate", "target/occupancy_rate", "val/iou"]


def write_run(run_dir: Path, rows: list[dict], config: dict, status: dict | None) -> Path:
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text(json.dumps(config))
    if status is not None:
        (run_dir / "status.json").write_text(json.dumps(status))
    with (run_dir / "metrics.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
    return run_dir


def step_row(step: int, **kw) -> dict:
    row = {"step": step, "epoch": 0, "train/loss": 1.0, "train/grad_norm": 1.0, "train/clipped": 0, "train/lr": 1e-3,
           "pred/mean": 0.0083, "pred/min": 0.0, "pred/max": 0.9, "pred/occupancy_rate": 0.007,
           "target/occupancy_rate": 0.0083}
    row.update(kw)
    return row


def config(**optim) -> dict:
    return {"name": "crafted", "optim": {"lr": 1e-3, "grad_clip": 10.0, "warmup_steps": 0, **optim},
            "loss": {"kind": "weighted_bce"}, "health": {"every_n_steps": 100, "plateau_window": 300}}


def test_plateau_under_aggressive_clipping(tmp_path: Path) -> None:
    rows = [step_row(s, **{"train/loss": 1.19 + 0.15 * math.exp(-s / 40), "train/grad_norm": 0.45,
                           "train/clipped": int(s % 100 not in (0, 33, 66)), "train/lr": 1e-5}) for s in range(600)]
    run = write_run(tmp_path / "run", rows, config(lr=1e-5, grad_clip=0.1), {"state": "finished", "global_step": 599})
    diagnosis = diagnose(run)
    kinds = [f.kind for f in diagnosis.findings]
    # under AdamW a constant clip factor cancels out: the plateau is the finding and the lr is the lever
    assert kinds == ["plateau", "clipping_frequent"]
    plateau = diagnosis.findings[0]
    assert "plateaued at 1.19" in plateau.title
    assert plateau.suggestion.startswith("raise the learning rate first: optim.lr=1e-04 (from 1e-05)")
    assert "grad_clip" not in plateau.suggestion
    clipping = diagnosis.findings[1]
    assert "Gradient clipping fired on 97% of steps (max_norm=0.1; median pre-clip norm 0.45)" in clipping.title
    assert "not what limits this run" in clipping.suggestion
    report = write_report(diagnosis)
    text = report.read_text()
    assert "Gradient clipping fired on 97%" in text and "doctor_grad_norm.png" in text
    assert (report.parent / "doctor_grad_norm.png").stat().st_size > 5000


def test_collapse_is_named_with_its_onset(tmp_path: Path) -> None:
    rows = [step_row(s, **{"pred/mean": 0.0083 * math.exp(-s / 60), "pred/max": 0.9 * math.exp(-s / 60),
                           "train/loss": 0.05 * math.exp(-s / 100)}) for s in range(600)]
    run = write_run(tmp_path / "run", rows, config(), {"state": "finished", "global_step": 599})
    first = diagnose(run).findings[0]
    assert first.kind == "collapse" and first.severity == "error"
    assert "collapsed" in first.title and "0.0083" in first.title
    assert first.evidence["onset_step"] <= 300


def test_healthy_run_has_no_findings(tmp_path: Path) -> None:
    rows = [step_row(s, **{"train/loss": 0.2 + math.exp(-s / 80), "train/clipped": int(s < 5)}) for s in range(600)]
    run = write_run(tmp_path / "run", rows, config(), {"state": "finished", "global_step": 599})
    assert diagnose(run).findings == []
    assert "No problems found" in write_report(diagnose(run)).read_text()


def test_crashed_run_without_status_or_csv_uses_health_log(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps(config()))
    checks = [{"step": 100 * i, "loss": 0.5, "target_rate": 0.0083, "pred_mean": 1e-4, "pred_min": 0.0,
               "pred_max": 0.01, "pred_occupied_frac": 0.0, "grad_norm": 0.3, "clip_fraction": 0.0,
               "clip_fraction_total": 0.0, "max_norm": 10.0, "lr": 1e-3, "per_height_loss": [0.2, 0.1, 0.05]}
              for i in range(1, 6)]
    text = "\n".join(json.dumps(c) for c in checks) + '\n{"step": 600, "loss": 0.'  # torn last line
    (run / "health.jsonl").write_text(text)
    diagnosis = diagnose(run)
    kinds = [f.kind for f in diagnosis.findings]
    assert kinds[0] == "collapse" and "crash" in kinds
    report = write_report(diagnosis, tmp_path / "out" / "doctor.md")
    assert (report.parent / "doctor_height_loss.png").exists()


def test_live_events_are_reported(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", [step_row(s) for s in range(50)], config(),
                    {"state": "stopped_by_guard", "global_step": 49, "message": "guard"})
    event = {"step": 40, "kind": "empty_targets", "severity": "error", "message": "100% of recent batches have empty "
             "targets", "suggestion": "run occkit verify", "evidence": {"empty_target_fraction": 1.0}}
    (run / "events.jsonl").write_text(json.dumps(event) + "\n")
    findings = diagnose(run).findings
    assert findings[0].kind == "empty_targets" and findings[0].source == "live"


def test_cli_doctor(tmp_path: Path) -> None:
    rows = [step_row(s, **{"train/clipped": 1, "train/grad_norm": 0.45}) for s in range(200)]
    run = write_run(tmp_path / "run", rows, config(grad_clip=0.1), {"state": "finished", "global_step": 199})
    result = CliRunner().invoke(app, ["doctor", str(run)])
    assert result.exit_code == 0, result.output
    assert "Gradient clipping fired on 100% of steps" in result.output
    assert (run / "report" / "doctor.md").exists()
    missing = CliRunner().invoke(app, ["doctor", str(tmp_path / "nope")])
    assert missing.exit_code == 2 and "not a directory" in missing.output


def _healthy_rows(n: int = 300) -> list[dict]:
    return [step_row(s, **{"train/loss": 0.2 + math.exp(-s / 80), "val/iou": 0.6 if s == n - 1 else ""})
            for s in range(n)]


def test_torn_metrics_csv_is_warned_and_its_rows_dropped(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", _healthy_rows(), config(), {"state": "finished", "global_step": 299})
    csv_path = run / "metrics.csv"
    csv_path.write_text(csv_path.read_text() + "300,0,0.2,1.0,0,0.001,0.0083,0.0,0.9,0.007,0.0083,0.0")  # cut
    diagnosis = diagnose(run)
    damaged = [f for f in diagnosis.findings if f.kind == "damaged_files"]
    assert len(damaged) == 1 and "dropped 1 torn row" in damaged[0].title
    assert diagnosis.summary["best_val_iou"] == 0.6  # the torn 0.0 was not read


def test_binary_metrics_csv_is_one_warning_not_a_traceback(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", [], config(), {"state": "finished", "global_step": 10})
    (run / "metrics.csv").write_bytes(bytes(range(256)) * 8)
    (run / "events.jsonl").write_bytes(b"\xff\xfe\x00garbage")
    result = CliRunner().invoke(app, ["doctor", str(run)])
    assert result.exit_code == 0, result.output
    assert "binary data" in result.output and "Traceback" not in result.output


def test_run_killed_without_final_status_is_reported(tmp_path: Path) -> None:
    import socket
    import subprocess
    import sys

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    status = {"state": "running", "global_step": 120, "updated": "2026-12-01T10:00:00+0000",
              "pid": int(gone.stdout), "host": socket.gethostname()}
    run = write_run(tmp_path / "run", _healthy_rows(120), config(), status)
    first = diagnose(run).findings[0]
    assert first.kind == "crash" and "stopped without a final status" in first.title
    assert "last heartbeat 2026-12-01T10:00:00" in first.title
    status.update(host="elsewhere", pid=1)  # another machine: judged by the heartbeat's age
    (run / "status.json").write_text(json.dumps(status))
    assert "no heartbeat for" in diagnose(run).findings[0].title


def test_guard_stop_is_not_advised_to_resume_and_interruption_is(tmp_path: Path) -> None:
    run = write_run(tmp_path / "a", _healthy_rows(50), config(),
                    {"state": "stopped_by_guard", "global_step": 49, "message": "collapse"})
    stop = next(f for f in diagnose(run).findings if f.kind == "crash")
    assert "--resume" not in stop.suggestion and "new run" in stop.suggestion
    run = write_run(tmp_path / "b", _healthy_rows(50), config(),
                    {"state": "interrupted", "global_step": 49, "message": "received SIGTERM at step 49"})
    (finding,) = diagnose(run).findings
    assert finding.kind == "interrupted" and "--resume auto" in finding.suggestion


def _tensorboard_run(run_dir: Path, tags: dict[str, list[tuple[int, float]]]) -> Path:
    """Event files written by the real TensorBoard writer (as Lightning's TensorBoardLogger writes them)."""
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(log_dir=str(run_dir))
    for tag, points in tags.items():
        for step, value in points:
            writer.add_scalar(tag, value, step)
    writer.close()
    return run_dir


def test_without_its_csv_a_run_is_read_from_its_tensorboard_events(tmp_path: Path) -> None:
    """The same names as metrics.csv, so the same diagnosis: here the crafted plateau under clipping."""
    rows = [step_row(s, **{"train/loss": 1.19 + 0.15 * math.exp(-s / 40), "train/grad_norm": 0.45,
                           "train/clipped": int(s % 100 not in (0, 33, 66)), "train/lr": 1e-5}) for s in range(600)]
    run = write_run(tmp_path / "run", rows, config(lr=1e-5, grad_clip=0.1), {"state": "finished", "global_step": 599})
    from_csv = diagnose(run)
    _tensorboard_run(run / "tensorboard", {k: [(r["step"], float(r[k])) for r in rows] for k in COLUMNS[2:11]})
    (run / "metrics.csv").write_bytes(bytes(range(256)) * 8)  # damaged: the events take its place
    from_events = diagnose(run)
    assert from_events.run.metrics_from.startswith("tensorboard/events.out.tfevents.")
    loss_csv, loss_tb = from_csv.run.series("train/loss"), from_events.run.series("train/loss")
    assert loss_tb[0] == loss_csv[0]
    assert all(math.isclose(a, b, rel_tol=1e-6) for a, b in zip(loss_csv[1], loss_tb[1], strict=True))
    damaged = [f for f in from_events.findings if f.kind == "damaged_files"]
    assert len(damaged) == 1 and "binary data" in damaged[0].title
    assert [f.title for f in from_events.findings if f.kind != "damaged_files"] == [f.title for f in from_csv.findings]
    assert "read from the TensorBoard events" in write_report(from_events).read_text()


def test_another_trainers_tensorboard_run_gets_the_loss_checks(tmp_path: Path) -> None:
    """A plain Lightning run: its own names for the loss and the learning rate, no occkit files, no status.json."""
    run = _tensorboard_run(tmp_path / "lightning_logs" / "version_0", {
        "train_loss": [(s, 1.19 + 0.15 * math.exp(-s / 40)) for s in range(0, 600, 5)],
        "lr-AdamW": [(s, 1e-5) for s in range(0, 600, 5)]})
    diagnosis = diagnose(tmp_path / "lightning_logs")
    assert [f.kind for f in diagnosis.findings] == ["plateau"]  # not "killed": no status.json is expected
    assert "from 1e-05" in diagnosis.findings[0].suggestion
    assert diagnosis.run.metrics_from == f"{run.relative_to(tmp_path / 'lightning_logs')}/" + \
        next(run.glob("events.out.tfevents.*")).name
    result = CliRunner().invoke(app, ["doctor", str(tmp_path / "nothing_here")])
    assert result.exit_code == 2 and "not a directory" in result.output

    import os

    for old in run.iterdir():  # version_0 is the older run; version_1, written after it, learns well
        os.utime(old, (old.stat().st_mtime - 3600,) * 2)
    _tensorboard_run(tmp_path / "lightning_logs" / "version_1", {
        "train_loss": [(s, 1.2 * math.exp(-s / 150)) for s in range(0, 600, 5)],
        "lr-AdamW": [(s, 1e-3) for s in range(0, 600, 5)]})
    newest = diagnose(tmp_path / "lightning_logs")
    assert newest.findings == [] and newest.run.metrics_from.startswith("version_1/events.out.tfevents.")
    assert "the newest of 2 folders of event files" in newest.run.metrics_from
    assert len(newest.run.series("train/loss")[0]) == 120  # one run's steps, not two merged
