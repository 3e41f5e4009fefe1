"""`occkit run --config FILE`: the main job — train, evaluate, draw pictures, diagnose, report."""

from __future__ import annotations

from pathlib import Path

import typer

from occkit.commands._exit import DEFAULT_WORKERS


def register(app: typer.Typer) -> None:
    @app.command()
    def run(
        config: Path = typer.Option(Path("synthetic_uav"), "--config", "-c", help="python config file, or the name "
                                    "of a shipped config (default: the main job, synthetic_uav)"),
        overrides: list[str] = typer.Option(None, "--set", "-s", help="override a field: --set optim.lr=1e-4"),
        run_dir: Path | None = typer.Option(None, "--run-dir", help="run directory (default runs/<name>-<time>)"),
        resume: str | None = typer.Option(None, "--resume", help="'auto' (continue the run's last.ckpt) or a "
                                          "checkpoint path"),
        workers: int = typer.Option(DEFAULT_WORKERS, "--workers", "-j", min=1, help="processes for preprocessing"),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="show progress bars"),
        wandb: bool | None = typer.Option(None, "--wandb/--no-wandb", help="log to Weights & Biases"),
        wandb_project: str | None = typer.Option(None, "--wandb-project", help="W&B project (default occkit)"),
        wandb_entity: str | None = typer.Option(None, "--wandb-entity", help="W&B entity"),
        wandb_run_name: str | None = typer.Option(None, "--wandb-run-name", help="W&B run name"),
        wandb_tags: str | None = typer.Option(None, "--wandb-tags", help="comma-separated W&B tags"),
    ) -> None:
        """Preprocess, train, evaluate, write pictures and a doctor report into one run directory."""
        from occkit.commands._exit import exit_on_user_error
        from occkit.commands.train import _wandb_overrides
        from occkit.config import apply_overrides, load_config
        from occkit.pipeline import run_main_job

        with exit_on_user_error():
            extra = _wandb_overrides(wandb, wandb_project, wandb_entity, wandb_run_name, wandb_tags)
            cfg = load_config(config, list(overrides or []) + extra)
            if not progress:
                cfg = apply_overrides(cfg, ["trainer.progress_bar=false"])
            result = run_main_job(cfg, run_dir=run_dir, workers=workers, resume=resume, progress=progress)
        overall = result.metrics.get("overall", {})
        if "iou" in overall:
            typer.echo("validation IoU: " + ", ".join(f"{k} {_fmt(overall.get(k))}"
                                                      for k in ("iou", "precision", "recall")))
        typer.echo(f"run dir: {result.run_dir}")
        typer.echo(f"report: {result.report}")
        from occkit.train.loggers import wandb_files_hint

        hint = wandb_files_hint(result.run_dir)
        if hint:
            typer.echo(hint)
        if result.state == "stopped_by_guard":
            raise typer.Exit(3)
        if result.state != "finished":
            raise typer.Exit(1)


def _fmt(value: float | None) -> str:
    """Metrics are None (NaN in the JSON) when undefined, e.g. precision with nothing predicted."""
    return "n/a" if value is None else f"{value:.4f}"
