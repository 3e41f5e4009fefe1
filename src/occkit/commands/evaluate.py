"""`occkit eval --checkpoint CKPT [--config CFG]`: metrics of a checkpoint on one split, as tables and files.

Exit codes: 0 done, 2 a missing/unreadable checkpoint, a config that does not validate or a grid that does
not match the checkpoint's, 1 anything else occkit reports on purpose.
"""

from __future__ import annotations

from pathlib import Path

import typer


def default_out_dir(checkpoint: Path) -> Path:
    """``runs/<run>/report`` for a checkpoint inside a run directory, else ``<checkpoint folder>/report``."""
    parent = checkpoint.resolve().parent
    return (parent.parent if parent.name == "checkpoints" else parent) / "report"


def resolve_config(checkpoint: Path, config: Path | None, overrides: list[str]):  # noqa: ANN201 (lazy import)
    """The config file's config, or the one the checkpoint carries; ``--set`` overrides applied to it."""
    from occkit.config import apply_overrides, load_config
    from occkit.errors import InputFileError

    if not checkpoint.is_file():  # before torch is imported: a typo should fail in a second, not twenty
        raise InputFileError(checkpoint, "checkpoint not found (expected a .ckpt file written by `occkit train`)")
    from occkit.train.checkpoint import checkpoint_config, read_checkpoint

    if config is not None:
        return load_config(config, overrides)
    return apply_overrides(checkpoint_config(read_checkpoint(checkpoint), checkpoint), overrides)


def register(app: typer.Typer) -> None:
    @app.command("eval")
    def eval_(
        checkpoint: Path = typer.Option(..., "--checkpoint", "-k", help="a .ckpt written by `occkit train`"),
        config: Path | None = typer.Option(None, "--config", "-c",
                                           help="config file (default: the config saved in the checkpoint)"),
        split: str = typer.Option("val", "--split", help="train, val or test"),
        out: Path | None = typer.Option(None, "--out", "-o", help="folder for metrics.json and metrics.md "
                                        "(default: the run's report/ folder)"),
        overrides: list[str] = typer.Option(None, "--set", "-s", help="override a field: --set eval.threshold=0.4"),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="show a progress bar"),
    ) -> None:
        """Evaluate a checkpoint: IoU/precision/recall/F1, threshold sweep, per scene and per height."""
        from rich.console import Console

        from occkit.commands._exit import exit_on_user_error

        with exit_on_user_error():
            cfg = resolve_config(checkpoint, config, list(overrides or []))
            from occkit.evaluation.report import console_tables
            from occkit.evaluation.split_eval import evaluate

            result = evaluate(checkpoint, cfg, split=split, out_dir=out or default_out_dir(checkpoint),
                              progress=progress)
        console = Console(highlight=False)
        for table in console_tables(result.report):
            console.print(table)
        ray = result.report.get("ray_iou")
        if ray is not None:
            console.print("RayIoU: " + ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                                                for k, v in ray.items() if k != "baselines"))
            console.print("RayIoU of the baselines: " + ", ".join(
                f"{k} {v:.4f}" if isinstance(v, float) else f"{k} n/a" for k, v in ray.get("baselines", {}).items()))
        console.print(f"wrote {result.json_path} and {result.md_path}")
