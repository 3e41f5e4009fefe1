"""`occkit run --config FILE`: the main job — train, evaluate, draw pictures, diagnose, report."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def run(
        config: Path = typer.Option(Path("configs/synthetic_uav.py"), "--config", "-c", help="python config file"),
        overrides: list[str] = typer.Option(None, "--set", "-s", help="override a field: --set optim.lr=1e-4"),
        run_dir: Path | None = typer.Option(None, "--run-dir", help="run directory (default runs/<name>-<time>)"),
        workers: int = typer.Option(2, help="processes for preprocessing"),
        wandb: bool | None = typer.Option(None, "--wandb/--no-wandb", help="log to Weights & Biases"),
        wandb_project: str | None = typer.Option(None, "--wandb-project", help="W&B project (default occkit)"),
        wandb_entity: str | None = typer.Option(None, "--wandb-entity", help="W&B entity"),
        wandb_run_name: str | None = typer.Option(None, "--wandb-run-name", help="W&B run name"),
        wandb_tags: str | None = typer.Option(None, "--wandb-tags", help="comma-separated W&B tags"),
    ) -> None:
        """Preprocess, train, evaluate, write pictures and a doctor report into one run directory."""
        from occkit.commands.train import _wandb_overrides
        from occkit.config import load_config
        from occkit.errors import ConfigError, GridMismatchError, OccKitError
        from occkit.pipeline import run_main_job

        try:
            extra = _wandb_overrides(wandb, wandb_project, wandb_entity, wandb_run_name, wandb_tags)
            cfg = load_config(config, list(overrides or []) + extra)
            result = run_main_job(cfg, run_dir=run_dir, workers=workers)
        except (ConfigError, GridMismatchError) as err:
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(2) from None
        except OccKitError as err:
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(1) from None
        overall = result.metrics.get("overall", {})
        if "iou" in overall:
            typer.echo(f"validation IoU: {overall['iou']:.4f}  (precision {overall.get('precision', float('nan')):.4f},"
                       f" recall {overall.get('recall', float('nan')):.4f})")
        typer.echo(f"run dir: {result.run_dir}")
        typer.echo(f"report: {result.report}")
        if result.state == "stopped_by_guard":
            raise typer.Exit(3)
        if result.state != "finished":
            raise typer.Exit(1)
