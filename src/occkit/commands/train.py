"""`occkit train --config FILE`: train an occupancy network and leave a run directory behind.

Exit codes: 0 finished, 2 the config (or a checkpoint's grid) is wrong, 3 the health guard stopped the
run, 1 anything else occkit reports on purpose.
"""

from __future__ import annotations

from pathlib import Path

import typer


def _wandb_overrides(wandb: bool | None, project: str | None, entity: str | None, run_name: str | None,
                     tags: str | None) -> list[str]:
    import json

    out: list[str] = []
    if wandb is not None:
        out.append(f"logging.wandb={json.dumps(wandb)}")
    if project:
        out.append(f"logging.wandb_project={project}")
    if entity:
        out.append(f"logging.wandb_entity={entity}")
    if run_name:
        out.append(f"logging.wandb_run_name={run_name}")
    if tags is not None:
        out.append(f"logging.wandb_tags={json.dumps([t.strip() for t in tags.split(',') if t.strip()])}")
    return out


def register(app: typer.Typer) -> None:
    @app.command()
    def train(
        assignments: list[str] = typer.Argument(None, metavar="[KEY=VALUE]...", help="overrides like --set, as a "
                                                "W&B sweep's ${args_no_hyphens} passes them: optim.lr=0.001"),
        config: Path = typer.Option(..., "--config", "-c", help="python config file defining `config`"),
        overrides: list[str] = typer.Option(None, "--set", "-s", help="override a field: --set optim.lr=1e-4"),
        run_dir: Path | None = typer.Option(None, "--run-dir", help="run directory (default runs/<name>-<time>)"),
        resume: str | None = typer.Option(None, "--resume", help="'auto' (continue last.ckpt) or a checkpoint path"),
        wandb: bool | None = typer.Option(None, "--wandb/--no-wandb", help="log to Weights & Biases"),
        wandb_project: str | None = typer.Option(None, "--wandb-project", help="W&B project (default occkit)"),
        wandb_entity: str | None = typer.Option(None, "--wandb-entity", help="W&B entity (team or user)"),
        wandb_run_name: str | None = typer.Option(None, "--wandb-run-name", help="W&B run name (default: run dir)"),
        wandb_tags: str | None = typer.Option(None, "--wandb-tags", help="comma-separated W&B tags: a,b"),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="show progress bars"),
    ) -> None:
        """Train a model from a config file; prints the run dir, parameter count and validation IoU."""
        from occkit.commands._exit import exit_on_user_error
        from occkit.config import load_config

        with exit_on_user_error():
            extra = _wandb_overrides(wandb, wandb_project, wandb_entity, wandb_run_name, wandb_tags)
            extra += [] if progress else ["trainer.progress_bar=false"]
            cfg = load_config(config, list(assignments or []) + list(overrides or []) + extra)
            from occkit.train.runner import fit

            result = fit(cfg, run_dir=run_dir, resume=resume)
        from occkit.train.runner import is_rank_zero

        if not is_rank_zero():
            return
        iou = result.val_iou
        typer.echo(f"run dir: {result.run_dir}")
        typer.echo(f"parameters: {result.parameter_count:,}")
        typer.echo(f"state: {result.state} at step {result.global_step}")
        typer.echo(f"validation IoU: {iou:.4f}" if iou is not None else "validation IoU: n/a (no validation ran)")
        if result.best_iou is not None:
            typer.echo(f"best validation IoU: {result.best_iou:.4f} ({result.best_checkpoint})")
        from occkit.train.loggers import wandb_files_hint

        hint = wandb_files_hint(result.run_dir)
        if hint:
            typer.echo(hint)
        if result.state != "finished":
            raise typer.Exit(1)
