"""Two CPU processes under Lightning's DDP (gloo): both ranks train, one run directory, reduced epoch metrics."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_train_support import column, read_metrics_csv

TESTS = Path(__file__).resolve().parent

SCRIPT = '''
import json, os, sys
sys.path.insert(0, {tests!r})
from pathlib import Path
from lightning.pytorch import Callback
from test_train_support import tiny_config, tiny_loaders
from occkit.train.runner import fit

out = Path({out!r})


class RecordRank(Callback):
    """Each rank writes what it trained on, so the test can see both ranks worked."""

    def __init__(self):
        self.losses = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.losses.append([trainer.current_epoch, pl_module.step_stats["loss"], batch["frame_id"]])

    def on_train_end(self, trainer, pl_module):
        (out / f"rank{{trainer.global_rank}}.json").write_text(json.dumps(
            {{"rank": trainer.global_rank, "world_size": trainer.world_size, "global_step": trainer.global_step,
              "losses": self.losses}}))


cfg = tiny_config(out / "runs", trainer={{"strategy": "ddp", "devices": 2, "accelerator": "cpu", "max_epochs": 2}})
train, val = tiny_loaders(8, 4)
result = fit(cfg, train_loader=train, val_loader=val, callbacks=[RecordRank()], verbose=False)
if result is not None and os.environ.get("LOCAL_RANK", "0") == "0":
    (out / "result.json").write_text(json.dumps({{"run_dir": str(result.run_dir), "state": result.state}}))
'''


@pytest.mark.slow
def test_two_process_ddp_trains_both_ranks_into_one_run_dir(tmp_path: Path) -> None:
    script = tmp_path / "ddp_fit.py"
    script.write_text(SCRIPT.format(tests=str(TESTS), out=str(tmp_path)))
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "NODE_RANK")}
    env.update(PL_DISABLE_FORK="1", OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world_size"] for r in ranks] == [2, 2]
    assert [r["global_step"] for r in ranks] == [4, 4]  # 8 samples / 2 ranks / batch 2 = 2 steps x 2 epochs
    for epoch in (0, 1):  # each rank trained on its own half of the data
        seen = [{fid for e, _, ids in r["losses"] if e == epoch for fid in ids} for r in ranks]
        assert not seen[0] & seen[1] and len(seen[0] | seen[1]) == 8

    result = json.loads((tmp_path / "result.json").read_text())
    runs = list((tmp_path / "runs").iterdir())
    assert [str(p) for p in runs] == [result["run_dir"]] and result["state"] == "finished"
    run = runs[0]
    assert json.loads((run / "status.json").read_text())["state"] == "finished"
    assert (run / "checkpoints" / "last.ckpt").is_file() and (run / "checkpoints" / "best.ckpt").is_file()
    rows = read_metrics_csv(run)
    logged = [v for _, v in column(rows, "epoch/train_loss")]
    for epoch in (0, 1):
        per_rank = [[loss for e, loss, _ in r["losses"] if e == epoch] for r in ranks]
        expected = sum(sum(losses) / len(losses) for losses in per_rank) / 2  # mean over ranks (sync_dist)
        assert logged[epoch] == pytest.approx(expected, rel=1e-4)
        assert logged[epoch] != pytest.approx(sum(per_rank[0]) / len(per_rank[0]), rel=1e-6)  # not rank 0 alone
    assert len(column(rows, "val/iou")) == 2
