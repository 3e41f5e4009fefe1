"""`occkit export RUN_OR_CKPT [--format torchscript|onnx] [--out DIR]`: the network for deployment, with parity.

Exit codes: 0 done, 2 a missing checkpoint or bad option, 1 the ONNX extra is not installed or the exported model
fails the parity check (nothing is left behind).
"""

from __future__ import annotations

from pathlib import Path

import typer


def default_export_dir(run: Path) -> Path:
    """Where an export goes without ``--out``: inside the run directory occkit wrote, or beside the checkpoint."""
    return run / "export" if run.is_dir() else run.with_name(f"{run.stem}_export")


def register(app: typer.Typer) -> None:
    @app.command()
    def export(
        run: Path = typer.Argument(..., help="run directory (the checkpoint its report evaluated, else "
                                  "best.ckpt, else last.ckpt) or a .ckpt file"),
        format: str = typer.Option("torchscript", "--format", "-f", help="torchscript or onnx (needs the extra: "
                                   "pip install 'occkit\\[onnx]')"),
        out: Path | None = typer.Option(None, "--out", "-o", help="folder for the model, example_input.npy and "
                                        "model.json (default: RUN/export for a run directory, <name>_export beside a "
                                        ".ckpt)"),
        config: Path | None = typer.Option(None, "--config", "-c", help="config file (default: the run's)"),
        overrides: list[str] = typer.Option(None, "--set", "-s", help="override a config field"),
    ) -> None:
        """Export the network with an input example and a JSON sidecar, and check parity against PyTorch."""
        from occkit.commands._exit import exit_on_user_error

        with exit_on_user_error():
            from occkit.commands.evaluate import resolve_model
            from occkit.export import export_model
            from occkit.train.checkpoint import load_module

            checkpoint, cfg = resolve_model(run, config, list(overrides or []))
            out = out if out is not None else default_export_dir(run)
            result = export_model(load_module(checkpoint, cfg), out, format, checkpoint)  # type: ignore[arg-type]
        typer.echo(f"wrote {result.model_path}, {result.example_path.name} and {result.sidecar_path.name}")
        typer.echo(f"parity against the PyTorch module: largest absolute difference {result.max_abs_diff:.3g}")
