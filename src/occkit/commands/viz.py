"""`occkit viz GRID_FILE`: BEV, height slices, 3D HTML view, and with --gt the TP/FP/FN overlays and IoU by height."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def viz(
        grid_file: Path = typer.Argument(..., help="grid to draw: .npy (x, y, z order), .npz (occupancy/probability/"
                                                   "semantics keys), Occ3D labels.npz"),
        out: Path | None = typer.Option(None, "--out", help="folder for the PNGs and the HTML view (default: "
                                        "<grid name>_viz beside the grid file)"),
        gt: Path | None = typer.Option(None, "--gt", help="ground-truth grid file: adds overlays and IoU by height"),
        grid: str | None = typer.Option(None, "--grid", help="grid preset (uav, occ3d_nuscenes, semantickitti, "
                                                             "bev_height); default: the spec stored in the file"),
        spec_json: Path | None = typer.Option(None, "--spec-json", help='JSON {"pc_range": [...], "voxel_size": '
                                                                        "[...]} for a grid that is no preset"),
        threshold: float | None = typer.Option(None, help="probability above which a voxel counts as occupied "
                                               "(default: the one stored in the grid file, as a run's report "
                                               "stores its chosen threshold; else 0.5)"),
        mask: str = typer.Option("none", help="evaluate only where the GT file's mask is set: none, camera, lidar"),
        levels: str | None = typer.Option(None, help="height levels for the slice panels, e.g. 2,5,8 "
                                                     "(default: spread over occupied levels)"),
        free_label: int | None = typer.Option(None, help="label of empty voxels in semantic grids (default: the "
                                              "format's own, 23 for Occ3D-Waymo's voxel_label, else 17)"),
        max_points: int = typer.Option(200_000, help="most voxels drawn in the HTML view (random subset beyond)"),
        html: bool = typer.Option(True, help="write the interactive 3D view (plotly.js embedded, ~5 MB)"),
        zoom: bool = typer.Option(False, help="crop the plan views to the occupied area (small scenes, big grids)"),
        palette: str | None = typer.Option(None, "--palette", help="class colours of semantic grids: occ3d, "
                                           "occ3d_waymo, semantickitti or uavscenes (default: guessed from the "
                                           "labels)"),
    ) -> None:
        """Draw one occupancy grid (and its errors against a ground truth) as PNGs and a 3D HTML view."""
        from rich.console import Console
        from rich.table import Table

        from occkit.errors import ConfigError, OccKitError

        console = Console()
        try:
            if threshold is not None and not 0 < threshold < 1:
                raise ConfigError(f"--threshold: expected a probability strictly between 0 and 1, got {threshold}")
            if mask not in ("none", "camera", "lidar"):
                raise ConfigError(f"--mask: expected none, camera or lidar, got {mask!r}")
            try:
                level_list = None if levels is None else [int(v) for v in levels.split(",") if v.strip()]
            except ValueError:
                raise ConfigError(f"--levels: expected comma-separated integers, got {levels!r}") from None
            out = out if out is not None else grid_file.with_name(f"{grid_file.stem}_viz")
            written = _draw(grid_file, out, gt, grid, spec_json, threshold, mask, level_list, free_label,
                            max_points, html, zoom, console, palette)
        except OccKitError as err:
            from occkit.commands._exit import echo_error

            echo_error(err)
            raise typer.Exit(2) from None
        table = Table(title=f"occkit viz {grid_file.name}", show_header=True)
        table.add_column("picture")
        table.add_column("file")
        for what, path in written:
            table.add_row(what, str(path))
        console.print(table)


def _draw(grid_file: Path, out: Path, gt: Path | None, grid: str | None, spec_json: Path | None,
          threshold: float | None, mask: str, levels: list[int] | None, free_label: int | None, max_points: int,
          html: bool, zoom: bool, console, palette: str | None = None) -> list[tuple[str, Path]]:  # noqa: ANN001 - rich Console
    """Read, check, draw; returns (description, path) of every file written."""
    from occkit.errors import ConfigError, GridMismatchError
    from occkit.viz.gridfile import read_grid_file, resolve_spec
    from occkit.viz.pictures import write_pictures

    with console.status(f"reading {grid_file}"):
        pred = read_grid_file(grid_file, free_label)
        truth = read_grid_file(gt, free_label) if gt is not None else None
    spec = resolve_spec(pred.occupancy.shape, grid, spec_json, pred.spec or (truth.spec if truth else None))
    if truth is not None:
        spec.check_array(truth.occupancy, f"--gt {gt}")
        if truth.spec is not None and pred.spec is not None:
            pred.spec.check_same(truth.spec, f"{grid_file} and {gt}")
    eval_mask = None
    if mask != "none":
        if truth is None:
            raise ConfigError("--mask: needs --gt (the mask is read from the ground-truth file)")
        key = f"mask_{mask}"
        if key not in truth.masks:
            raise GridMismatchError(f"--mask {mask}: {gt} holds no '{key}' (it has {sorted(truth.masks) or 'none'})")
        eval_mask = truth.masks[key]
    name = grid_file.name.removesuffix(".npz").removesuffix(".npy")
    if threshold is None:
        threshold = pred.threshold if pred.threshold is not None else 0.5
        if pred.occupancy.dtype != bool:
            where = "stored in the file" if pred.threshold is not None else "the default; --threshold sets another"
            console.print(f"probabilities drawn at threshold {threshold:g} ({where})")
    with console.status("drawing"):
        written = write_pictures(pred.occupancy, spec, out, gt=None if truth is None else truth.occupancy,
                                 mask=eval_mask, threshold=threshold, levels=levels, zoom=zoom, name=name,
                                 gt_name=f"ground truth {gt.name}" if gt is not None else "ground truth", html=html,
                                 max_points=max_points)
        for label, grid_read in (("", pred), ("gt_", truth)):
            if grid_read is not None and grid_read.semantics is not None:
                written.append(_semantic_picture(grid_read.semantics, spec, out / f"{label}semantic_bev.png",
                                                 palette, grid_read.free_label, f"{label}{grid_read.path.name}"))
        return written


def _semantic_picture(semantics, spec, path: Path, palette: str | None, free_label: int,  # noqa: ANN001
                      title: str) -> tuple[str, Path]:
    from occkit.viz._common import save_png
    from occkit.viz.semantic import guess_palette, semantic_bev_figure

    name = palette or guess_palette(free_label, int(semantics.max()))
    return (f"semantic BEV ({name} colours)", save_png(semantic_bev_figure(semantics, spec, name, free_label,
                                                                           title=title), path))
