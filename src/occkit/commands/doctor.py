"""`occkit doctor RUN_DIR`: explain what went wrong in a run."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def doctor(
        run_dir: Path = typer.Argument(..., help="run directory written by `occkit train`; or another trainer's: "
                                        "Lightning, an mmengine / mmcv work dir, a folder holding W&B's local run "
                                        "logs (wandb/), a Hugging Face Trainer output dir; or one log file "
                                        "(train.log, scalars.json, *.log.json, run-<id>.wandb, metrics.csv, "
                                        "trainer_state.json, events.out.tfevents.*)"),
        out: Path | None = typer.Option(None, "--out", "-o", help="folder for doctor.md and its plots (default "
                                        "RUN_DIR/report; for another trainer's run RUN_DIR/occkit_doctor, for a log "
                                        "file <name>_doctor beside it)"),
    ) -> None:
        """Read a run (even a crashed one) and write a ranked diagnosis with plots."""
        from rich.console import Console

        from occkit.errors import OccKitError
        from occkit.health.doctor import diagnose, settings_line, write_report

        console = Console()
        try:
            diagnosis = diagnose(run_dir)
        except OccKitError as err:
            from occkit.commands._exit import echo_error

            echo_error(err)
            raise typer.Exit(2) from None
        path = write_report(diagnosis, out / "doctor.md" if out is not None else None)
        run = diagnosis.run
        if not run.written_by_occkit:
            settings = settings_line(run, quote="")
            console.print(f"not an occkit run directory: read its {run.metrics_kind} ({run.metrics_from})"
                          + (f"\n{settings}" if settings else ""), markup=False, highlight=False)
        if not diagnosis.findings:
            console.print("[green]No problems found.[/]")
        for i, f in enumerate(diagnosis.findings, 1):
            colour = {"error": "red", "warning": "yellow"}.get(f.severity, "cyan")
            console.print(f"{i}. [{colour}]{f.title}[/]\n   fix: {f.suggestion}")
        console.print(f"report: {path}")
