"""`occkit` command line. Each verb lives in occkit/commands/<verb>.py and registers itself.

Command modules import heavy libraries (torch, lightning) inside the command body so that
`occkit --help` stays fast.
"""

from __future__ import annotations

import importlib

import typer

from occkit.commands import COMMAND_MODULES

app = typer.Typer(
    name="occkit",
    help="Train, evaluate and diagnose 3D occupancy prediction networks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        from occkit import __version__

        typer.echo(f"occkit {__version__}")
        raise typer.Exit()


@app.callback()
def _main(version: bool = typer.Option(False, "--version", "-V", callback=_print_version, is_eager=True,
                                       help="print the occkit version and exit")) -> None:
    """Train, evaluate and diagnose 3D occupancy prediction networks."""
    from occkit.utils.quiet import quiet_third_party

    quiet_third_party()


@app.command()
def version() -> None:
    """Print the occkit version."""
    _print_version(True)


for _name in COMMAND_MODULES:
    importlib.import_module(f"occkit.commands.{_name}").register(app)


def _one_line_warning(message: Warning | str, category: type[Warning], *args: object, **kwargs: object) -> str:
    """Warnings read as one ``warning: ...`` line (they already name the file), not a source excerpt."""
    return f"warning: {message}\n"


def main() -> None:
    import warnings

    warnings.formatwarning = _one_line_warning  # type: ignore[assignment]
    app()


if __name__ == "__main__":
    main()
