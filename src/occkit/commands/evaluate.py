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


def resolve_model(checkpoint: Path, config: Path | None, overrides: list[str]):  # noqa: ANN201 (lazy import)
    """(the .ckpt to load, its config) for a run directory, a checkpoints/ folder or a .ckpt file.

    The config is ``--config`` when given, else the run's config.json, else the one the checkpoint carries;
    the threshold the main job chose (report/threshold.json) applies unless ``--set`` names eval.threshold.
    """
    from occkit.config import apply_overrides, load_config
    from occkit.train.run_lookup import find_checkpoint

    found = find_checkpoint(checkpoint)  # before torch is imported: a typo should fail in a second, not twenty
    from occkit.train.checkpoint import checkpoint_config, read_checkpoint

    if config is not None:
        cfg = load_config(config)
    elif found.config_json is not None:
        cfg = load_config(found.config_json, saved=True)
    else:
        cfg = checkpoint_config(read_checkpoint(found.checkpoint), found.checkpoint)
    chosen = found.chosen_threshold()
    if chosen is not None and config is None and not any(o.startswith("eval.threshold=") for o in overrides):
        cfg = apply_overrides(cfg, [f"eval.threshold={chosen['threshold']}",
                                    f"eval.refine_threshold={chosen['threshold']}"])
    return found.checkpoint, apply_overrides(cfg, overrides)


def _one_model(run: Path | None, checkpoint: Path | None) -> Path:
    from occkit.errors import ConfigError

    if (run is None) == (checkpoint is None):
        raise ConfigError("give the model once: a run directory or .ckpt as RUN, or --checkpoint")
    return run if run is not None else checkpoint  # type: ignore[return-value]


def _note_selection(ckpt: Path, split: str) -> None:
    if ckpt.name == "best.ckpt" and split == "val":
        typer.echo("note: best.ckpt was chosen on the val split, so its val figures flatter it; pass "
                   f"{ckpt.with_name('last.ckpt')} (or --split test) for an unbiased figure", err=True)


def register(app: typer.Typer) -> None:
    @app.command("eval")
    def eval_(
        run: Path | None = typer.Argument(None, help="run directory (the checkpoint its report evaluated, else "
                                          "best.ckpt, else last.ckpt, and its config) "
                                          "or a .ckpt file"),
        checkpoint: Path | None = typer.Option(None, "--checkpoint", "-k", help="the same as RUN: a run directory "
                                               "or a .ckpt written by `occkit train`"),
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
            ckpt, cfg = resolve_model(_one_model(run, checkpoint), config, list(overrides or []))
            from occkit.evaluation.report import console_tables
            from occkit.evaluation.split_eval import evaluate

            _note_selection(ckpt, split)
            result = evaluate(ckpt, cfg, split=split, out_dir=out or default_out_dir(ckpt), progress=progress)
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
