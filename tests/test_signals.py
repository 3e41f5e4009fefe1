"""Signals and kills lose nothing: real signals sent to a real `occkit train` subprocess, a SIGKILL mid-run
followed by a resume, and a failed resume that must leave the run directory untouched."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

CONFIG = '''
from occkit.config import ExperimentConfig
from occkit.geometry.grid import GridSpec

config = ExperimentConfig(
    name="sig",
    data={"source": {"kind": "synthetic", "preset": "uav_town", "train_frames": 2, "val_frames": 1},
          "grid": GridSpec(pc_range=(-40.0, -40.0, -4.0, 40.0, 40.0, 47.2), voxel_size=(4.0, 4.0, 6.4)),
          "batch_size": 1, "cache_dir": CACHE},
    model={"unet_channels": [4, 8]},
    trainer={"max_epochs": 400, "accelerator": "cpu", "progress_bar": False, "model_summary": False,
             "log_every_n_steps": 1, "num_sanity_val_steps": 0, "runs_root": RUNS},
    logging={"tensorboard": False, "images_every_n_epochs": 0},
    health={"enabled": False},
)
'''


def _config(tmp_path: Path) -> Path:
    text = CONFIG.replace("CACHE", repr(str(tmp_path / "cache"))).replace("RUNS", repr(str(tmp_path / "runs")))
    path = tmp_path / "sig.py"
    path.write_text(text)
    return path


def _occkit(*args: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "WANDB_MODE": "offline", "MPLBACKEND": "Agg", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-c", "from occkit.cli import main; main()", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def _steps(run_dir: Path) -> list[int]:
    path = run_dir / "metrics.csv"
    if not path.is_file():
        return []
    with path.open(newline="") as fh:
        return [int(float(r["step"])) for r in csv.DictReader(fh) if r.get("train/loss")]


def _wait_for_steps(proc: subprocess.Popen, run_dir: Path, n: int, timeout: float = 120.0) -> None:
    t0 = time.monotonic()
    while len(_steps(run_dir)) < n:
        if proc.poll() is not None:
            raise AssertionError(f"training ended early: {proc.communicate()}")
        if time.monotonic() - t0 > timeout:
            proc.kill()
            raise AssertionError("training never logged enough steps")
        time.sleep(0.2)


@pytest.mark.slow
@pytest.mark.parametrize("sig, code, name", [(signal.SIGTERM, 143, "SIGTERM"), (signal.SIGINT, 130, "SIGINT")])
def test_signal_saves_a_resumable_checkpoint_and_exits_non_zero(tmp_path: Path, sig, code, name) -> None:
    cfg, run_dir = _config(tmp_path), tmp_path / "run"
    proc = _occkit("train", "-c", str(cfg), "--run-dir", str(run_dir))
    _wait_for_steps(proc, run_dir, 3)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == code, (out, err)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert lines[-1].startswith(f"interrupted: received {name} at step"), err
    assert "Traceback" not in err and "SystemExit" not in err
    status = json.loads((run_dir / "status.json").read_text())
    assert status["state"] == "interrupted" and "--resume auto" in status["message"]
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    assert ckpt.is_file()
    from occkit.train.checkpoint import read_checkpoint

    saved_step = int(read_checkpoint(ckpt)["global_step"])
    assert saved_step == status["global_step"] >= 3
    if sig == signal.SIGTERM:  # resuming continues from the saved step, without repeating a logged step
        resumed = _occkit("train", "-c", str(cfg), "--run-dir", str(run_dir), "--resume", "auto",
                          "-s", f"trainer.max_steps={saved_step + 2}")
        out, err = resumed.communicate(timeout=180)
        assert resumed.returncode == 0, err
        steps = _steps(run_dir)
        assert steps == sorted(set(steps)) and steps[-1] == saved_step + 1


KILL_SCRIPT = '''
import os, signal, sys
from lightning.pytorch import Callback
from occkit.config import load_config
from occkit.train.runner import fit

class KillAt(Callback):
    def on_train_batch_end(self, trainer, *args):
        if trainer.global_step == int(sys.argv[3]):
            os.kill(os.getpid(), signal.SIGKILL)

cfg = load_config(sys.argv[1], ["trainer.checkpoint_every_n_steps=2", "trainer.max_steps=" + sys.argv[4]])
fit(cfg, run_dir=sys.argv[2], resume="auto" if sys.argv[5] == "resume" else None,
    callbacks=[KillAt()], verbose=False)
'''


def _script(tmp_path: Path, text: str):  # noqa: ANN202 - returns a runner of the script
    """Write ``text`` as a script; return a function running it with arguments (WANDB offline)."""
    script = tmp_path / "script.py"
    script.write_text(text)
    env = {**os.environ, "WANDB_MODE": "offline"}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(script), *args], env=env, capture_output=True, text=True,
                              timeout=180)

    return run


@pytest.mark.slow
def test_sigkill_then_resume_logs_every_step_once(tmp_path: Path) -> None:
    cfg, run_dir = _config(tmp_path), tmp_path / "run"
    run = _script(tmp_path, KILL_SCRIPT)
    first = run(str(cfg), str(run_dir), "5", "20", "fresh")
    assert first.returncode == -signal.SIGKILL, first.stderr
    assert json.loads((run_dir / "status.json").read_text())["state"] == "running"  # killed: no final word
    (run_dir / "checkpoints" / ".last.ckpt.abcd1234.tmp").write_bytes(b"")  # what a kill mid-write leaves
    second = run(str(cfg), str(run_dir), "-1", "8", "resume")
    assert second.returncode == 0, second.stderr
    assert _steps(run_dir) == list(range(8))
    assert not list((run_dir / "checkpoints").glob(".*.tmp"))


def test_failed_resume_leaves_the_run_directory_untouched(tmp_path: Path) -> None:
    from test_train_support import tiny_config, tiny_loaders

    from occkit.train.runner import fit

    train, val = tiny_loaders(4, 2)
    done = fit(tiny_config(tmp_path, trainer={"max_epochs": 1}), train_loader=train, val_loader=val, verbose=False)
    before = {name: (done.run_dir / name).read_bytes() for name in ("config.json", "status.json")}
    wider = tiny_config(tmp_path, model={"unet_channels": [16, 32]})  # does not fit the saved weights
    with pytest.raises(RuntimeError):
        fit(wider, run_dir=done.run_dir, resume="auto", train_loader=train, val_loader=val, verbose=False)
    assert {name: (done.run_dir / name).read_bytes() for name in before} == before


def test_a_run_that_fails_before_it_starts_leaves_no_directory(tmp_path: Path) -> None:
    from test_train_support import tiny_config, tiny_loaders

    from occkit.train.runner import fit

    class Broken(Exception):
        pass

    class FailsAtStart:
        def __iter__(self):
            raise Broken("the loader failed")

        def __len__(self):
            return 1

    train, val = tiny_loaders(4, 2)
    runs = tmp_path / "runs"
    with pytest.raises(Exception, match="loader failed"):
        fit(tiny_config(runs, trainer={"num_sanity_val_steps": 1}), train_loader=train, val_loader=FailsAtStart(),
            verbose=False)
    assert not runs.exists() or not any(runs.iterdir())


EPOCH_KILL_SCRIPT = '''
import os, signal, sys
from lightning.pytorch import Callback
from occkit.config import load_config
from occkit.train import runner

def kill(trainer, path, role):
    if role in ("last", "periodic") and trainer.current_epoch == 1 and sys.argv[3] == "fresh":
        os.kill(os.getpid(), signal.SIGKILL)

class KillAfterFirstEpochEndSave(Callback):
    """SIGKILL right after the first epoch-end checkpoint of epoch 1: the moment between two writes."""
    def setup(self, trainer, *args, **kwargs):
        for cb in trainer.checkpoint_callbacks:
            cb.listeners.append(kill)

cfg = load_config(sys.argv[1], ["trainer.max_epochs=3"])
runner.fit(cfg, run_dir=sys.argv[2], resume="auto" if sys.argv[3] == "resume" else None,
           callbacks=[KillAfterFirstEpochEndSave()], verbose=False)
'''


@pytest.mark.slow
def test_kill_between_epoch_end_checkpoints_loses_no_epoch(tmp_path: Path) -> None:
    cfg, run_dir = _config(tmp_path), tmp_path / "run"
    run = _script(tmp_path, EPOCH_KILL_SCRIPT)
    first = run(str(cfg), str(run_dir), "fresh")
    assert first.returncode == -signal.SIGKILL, first.stderr
    second = run(str(cfg), str(run_dir), "resume")
    assert second.returncode == 0, second.stderr
    names = sorted(p.name for p in (run_dir / "checkpoints").glob("epoch=*.ckpt"))
    assert names == ["epoch=000.ckpt", "epoch=001.ckpt", "epoch=002.ckpt"]
    with (run_dir / "metrics.csv").open(newline="") as fh:
        val_epochs = [int(r["epoch"]) for r in csv.DictReader(fh) if r.get("val/iou")]
    assert sorted(set(val_epochs)) == [0, 1, 2]
