"""`occkit preprocess`: fill the preprocessing cache (``data.cache_dir``) so training reads grids, not raw files.

Exit codes: 0 done, 2 bad config/input or a stale cache (the message says to pass ``--overwrite``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from occkit.commands._exit import DEFAULT_WORKERS


def run_preprocess(config: Path, *, splits: str = "train,val", workers: int = DEFAULT_WORKERS,
                   overrides: list[str] | None = None, overwrite: bool = False, console: Any = None,
                   progress: bool = True) -> int:
    """Load the config, preprocess the splits, print a summary table; returns the exit code."""
    from rich.console import Console
    from rich.table import Table

    from occkit.config import load_config
    from occkit.data.preprocessing import preprocess
    from occkit.errors import OccKitError

    console = console or Console()
    names = [s.strip() for s in splits.split(",") if s.strip()]
    try:
        bad = [s for s in names if s not in ("train", "val", "test")]
        if bad or not names:
            raise ValueError(f"--split: expected a comma-separated subset of train,val,test, got {splits!r}")
        from occkit.config import resolve_cache_dir

        cfg = load_config(config, overrides)
        if not cfg.data.cache_dir:  # the folder `occkit train` would use for this config
            cfg = resolve_cache_dir(cfg, always=True)
        reports = preprocess(cfg.data, names, workers=workers, overwrite=overwrite, progress=progress)
    except (OccKitError, ValueError, FileNotFoundError) as err:
        from occkit.commands._exit import echo_error

        echo_error(err)
        return 2
    table = Table(title=f"cache {cfg.data.cache_dir}")
    for col in ("split", "frames", "written", "skipped", "seconds", "alignment paths"):
        table.add_column(col)
    for r in reports:
        paths = ", ".join(f"{k}: {v}" for k, v in sorted(r.paths.items()))
        table.add_row(r.split, str(r.total), str(r.written), str(r.skipped), f"{r.seconds:.1f}", paths)
    console.print(table)
    for r in reports:
        odd = {k: v for k, v in r.paths.items() if k in ("lidar_center", "empty")}
        if odd:
            console.print(f"[yellow]warning:[/] {r.split}: {odd} frames did not use the configured grid frame; "
                          "run `occkit verify` to see why")
    return 0


def register(app: typer.Typer) -> None:
    @app.command()
    def preprocess(
        config: Path = typer.Option(..., "--config", "-c", help="python config file (or a resolved config.json)"),
        split: str = typer.Option("train,val", "--split", help="comma-separated splits: train,val,test"),
        workers: int = typer.Option(DEFAULT_WORKERS, "--workers", "-j", min=1, help="parallel worker processes"),
        overrides: list[str] = typer.Option([], "--set", "-s", help="config override KEY=VALUE (repeatable)"),
        overwrite: bool = typer.Option(False, "--overwrite", help="rebuild a cache made with other settings/data"),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="show a progress bar"),
    ) -> None:
        """Voxelize every frame once into data.cache_dir (default: the folder `occkit train` uses for this
        config); resumable, parallel, refuses stale caches."""
        raise typer.Exit(run_preprocess(config, splits=split, workers=workers, overrides=overrides,
                                        overwrite=overwrite, progress=progress))
