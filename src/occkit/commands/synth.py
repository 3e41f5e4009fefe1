"""`occkit synth`: generate the built-in synthetic world and write it in a real dataset format."""

from __future__ import annotations

from pathlib import Path

import typer

PRESETS = ("uav_town", "uav_valley", "street")
FORMATS = ("uavscenes", "occ3d")


def register(app: typer.Typer) -> None:
    @app.command()
    def synth(
        out: Path = typer.Option(..., "--out", help="output root folder"),
        preset: str = typer.Option("uav_town", help="scene preset: uav_town, uav_valley, street"),
        frames: int = typer.Option(16, min=1, help="number of frames to write"),
        format: str = typer.Option("uavscenes", "--format", help="on-disk format: uavscenes or occ3d"),
        seed: int = typer.Option(0, help="world seed (same seed -> identical files)"),
        split: str = typer.Option("train", help="which split's scenes to draw: train, val, test"),
        grid: str | None = typer.Option(None, help="grid preset of the Occ3D labels (default: uav for UAV presets, "
                                                    "occ3d_nuscenes for street)"),
        accumulate_poses: int = typer.Option(5, min=1, help="LiDAR sweeps merged into the ground truth"),
    ) -> None:
        """Write N synthetic frames (LiDAR, camera, labels, poses; Occ3D ground truth) with no download."""
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        from occkit.geometry import GridSpec
        from occkit.sources.synthetic import SyntheticSourceConfig
        from occkit.synthetic.writers import write_occ3d, write_uavscenes

        console = Console()
        if preset not in PRESETS:
            raise typer.BadParameter(f"unknown preset {preset!r}; choose from {PRESETS}", param_hint="--preset")
        if format not in FORMATS:
            raise typer.BadParameter(f"unknown format {format!r}; choose from {FORMATS}", param_hint="--format")
        if split not in ("train", "val", "test"):
            raise typer.BadParameter(f"unknown split {split!r}; choose train, val or test", param_hint="--split")
        if out.exists() and not out.is_dir():
            from occkit.commands._exit import echo_error

            echo_error(f"{out}: is a file; --out must be a folder (new or existing)")
            raise typer.Exit(2)
        grid = grid or ("occ3d_nuscenes" if preset == "street" else "uav")
        if grid not in GridSpec.PRESETS:
            raise typer.BadParameter(f"unknown grid {grid!r}; choose from {sorted(GridSpec.PRESETS)}",
                                     param_hint="--grid")
        cfg = SyntheticSourceConfig(preset=preset, seed=seed, accumulate_poses=accumulate_poses,
                                    **{f"{split}_frames": frames})
        source = cfg.build(split)
        columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns, console=console) as progress:
            task = progress.add_task(f"synth {preset} -> {format}", total=frames)
            samples = (source.sample(i) for i in range(frames))
            advance = lambda: progress.advance(task)  # noqa: E731
            if format == "uavscenes":
                write_uavscenes(samples, out, progress=advance)
            else:
                write_occ3d(samples, out, GridSpec.preset(grid), split=split, progress=advance)
        console.print(f"wrote {frames} {preset} frames ({split} split, seed {seed}) as {format} to {out}")
