"""Write tests/data/recorded/hf_trainer_starved/ with the real Hugging Face Trainer (not run by the tests).

    pip install transformers accelerate   # transformers 5 wrote the shipped one
    python tests/data/recorded/make_hf_trainer_run.py

The same small occupancy network as make_mmengine_runs.py (weighted BCE at 1 % occupancy), trained by
``transformers.Trainer`` at lr 1e-5 with max_grad_norm 0.1 for 600 steps, logging every 10 and evaluating every
100, a checkpoint every 300. Only each checkpoint's ``trainer_state.json`` is kept: the weights, the optimizer
state and ``training_args.bin`` (a pickle) are removed.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import torch
from torch import nn
from transformers import Trainer, TrainingArguments

OUT = Path(__file__).parent / "hf_trainer_starved"


class TinyOccupancy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Conv2d(8, 8, 3, padding=1)

    def forward(self, inputs, labels=None):
        logits = self.net(inputs)
        loss = nn.functional.binary_cross_entropy_with_logits(logits, labels, pos_weight=torch.tensor(10.0))
        return {"loss": loss, "logits": logits}


class TinyGrids(torch.utils.data.Dataset):
    def __init__(self, n: int, seed: int) -> None:
        self.n, self.seed = n, seed

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict:
        g = torch.Generator().manual_seed(self.seed * 1000 + i)
        target = (torch.rand(8, 24, 24, generator=g) < 0.01).float()
        return {"inputs": target * 0.9, "labels": target}


def main() -> int:
    shutil.rmtree(OUT, ignore_errors=True)
    args = TrainingArguments(output_dir=str(OUT), learning_rate=1e-5, max_steps=600, logging_steps=10,
                             per_device_train_batch_size=4, save_steps=300, eval_strategy="steps", eval_steps=100,
                             report_to=[], use_cpu=True, seed=0, lr_scheduler_type="constant", max_grad_norm=0.1)
    Trainer(model=TinyOccupancy(), args=args, train_dataset=TinyGrids(40, 0),
            eval_dataset=TinyGrids(8, 1)).train()
    for path in OUT.rglob("*"):
        if path.is_file() and path.name != "trainer_state.json":
            path.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
