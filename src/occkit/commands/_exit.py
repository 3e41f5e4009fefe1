"""One mapping from occkit's errors to CLI messages and exit codes, shared by every verb.

Exit codes: 2 = a config, grid or input file is wrong; 3 = the health guard stopped training; 143 / 130 =
training was stopped by SIGTERM / Ctrl-C (128 + the signal, as a shell reports it) after saving last.ckpt;
1 = any other error occkit reports on purpose. Messages are one line on stderr (they already name the file or field).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer

DEFAULT_WORKERS = 2  # preprocessing processes, the same for every verb that preprocesses


def echo_error(err: object) -> None:
    """One ``error: ...`` line on stderr, never wrapped to the terminal width."""
    typer.echo(f"error: {err}", err=True)


@contextmanager
def exit_on_user_error() -> Iterator[None]:
    from occkit.errors import ConfigError, GridMismatchError, InputFileError, OccKitError, TrainingInterrupted
    from occkit.health.events import TrainingHealthError

    try:
        yield
    except (ConfigError, GridMismatchError, InputFileError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    except TrainingHealthError as err:
        typer.echo(f"stopped: {err}", err=True)
        typer.echo("the run directory's status.json says stopped_by_guard; `occkit doctor RUN_DIR` explains", err=True)
        raise typer.Exit(3) from None
    except TrainingInterrupted as err:
        typer.echo(f"interrupted: {err}", err=True)
        raise typer.Exit(err.exit_code) from None
    except OccKitError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
