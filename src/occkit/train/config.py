"""Optimisation, trainer and logging settings."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ParamGroupConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lr_mult: float = Field(1.0, ge=0)
    decay_mult: float = Field(1.0, ge=0)


class OptimConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    betas: tuple[float, float] = (0.9, 0.999)
    custom_keys: dict[str, ParamGroupConfig] = Field(default_factory=dict)
    warmup_steps: int = Field(50, ge=0)
    schedule: Literal["cosine", "constant"] = "cosine"
    min_lr_ratio: float = Field(0.01, ge=0, le=1)
    grad_clip: float | None = Field(10.0, gt=0)


class TrainerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_epochs: int = Field(10, ge=1)
    max_steps: int = -1
    precision: Literal["32-true", "bf16-mixed", "16-mixed", "auto"] = Field(
        "32-true", description="auto = bf16-mixed where the device computes bf16 natively (a CUDA GPU that "
                               "supports it, a CPU with AVX-512 BF16 or AMX), else 32-true")
    accumulate_grad_batches: int = Field(1, ge=1)
    accelerator: str = "auto"
    devices: int | str = 1
    num_nodes: int = Field(1, ge=1)
    strategy: str = "auto"
    check_val_every_n_epoch: int = Field(1, ge=1)
    checkpoint_every_n_epochs: int = Field(1, ge=1, description="epoch=NNN.ckpt every N epochs")
    checkpoint_every_n_steps: int | None = Field(None, ge=1, description="also refresh last.ckpt every N steps")
    num_sanity_val_steps: int = Field(2, ge=-1, description="validation batches run before training starts")
    model_summary: bool = True
    preprocess_cache: bool = Field(
        False, description="fill data.cache_dir (train + val) before training, so epochs read grids instead of "
                           "recomputing them; resumable, skips valid entries")
    preprocess_workers: int = Field(2, ge=1)
    log_every_n_steps: int = Field(10, ge=1)
    limit_train_batches: int | float | None = None
    limit_val_batches: int | float | None = None
    progress_bar: bool = True
    runs_root: str = "runs"


class LoggingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tensorboard: bool = True
    wandb: bool = False
    wandb_project: str = "occkit"
    wandb_entity: str | None = None
    wandb_run_name: str | None = None
    wandb_tags: list[str] = Field(default_factory=list)
    images_every_n_epochs: int = Field(1, ge=0, description="validation pictures every N epochs; 0 = off")
