"""`occkit predict RUN PATH... --out DIR` (or `--checkpoint RUN --inputs PATH`): occupancy grids and refined point
clouds.

Exit codes: 0 done, 2 a missing/unreadable checkpoint or input, a config that does not validate or a grid
mismatch, 1 anything else occkit reports on purpose (e.g. the depth model is not installed).
"""

from __future__ import annotations

from pathlib import Path

import typer


def _fmt(v: float | None, pct: bool = False) -> str:
    if v is None:
        return "-"
    return f"{100 * v:.1f}%" if pct else f"{v:.3f}"


def _model_and_inputs(paths: list[Path], checkpoint: Path | None, inputs: list[Path]) -> tuple[Path, list[Path]]:
    """The model and the inputs from ``occkit predict RUN INPUT...`` and/or ``--checkpoint``/``--inputs``: without
    ``--checkpoint`` the first path is the run; every other path is an input."""
    if checkpoint is None and paths:
        checkpoint, paths = paths[0], paths[1:]
    inputs = inputs + paths
    if checkpoint is None or not inputs:
        missing = "the run directory (or .ckpt)" if checkpoint is None else "what to predict"
        typer.echo(f"error: give {missing}: occkit predict RUN INPUT... --out DIR (or --checkpoint RUN --inputs "
                   "INPUT)", err=True)
        raise typer.Exit(2)
    return checkpoint, inputs


def register(app: typer.Typer) -> None:
    @app.command()
    def predict(
        paths: list[Path] = typer.Argument(None, help="RUN then INPUTS: the run directory (or .ckpt), then the "
                                           "point-cloud files or folders; the same as --checkpoint and --inputs",
                                           show_default=False),
        checkpoint: Path | None = typer.Option(None, "--checkpoint", "-k", help="a run directory (the checkpoint its "
                                               "report evaluated, else best.ckpt, else last.ckpt, and its config) or "
                                               "a .ckpt written by `occkit train`"),
        inputs: list[Path] = typer.Option(None, "--inputs", "-i", help="point-cloud file(s) or folder(s); with a "
                                          "camera file also depth maps (.npy, 16-bit .png) or images"),
        out: Path = typer.Option(..., "--out", "-o", help="output folder (grids/, refined/, predict_summary.json)"),
        lidar: Path | None = typer.Option(None, "--lidar", help="LiDAR file or folder matched by name: report "
                                          "the Chamfer distance of raw and refined points to it"),
        camera: Path | None = typer.Option(None, "--camera", help="camera.json (K, T_sensor_cam) for depth/images"),
        poses: Path | None = typer.Option(None, "--poses", help="poses.json/csv by name or KITTI poses.txt "
                                          "(default: <name>.pose.txt beside each input, else identity)"),
        grid_format: str = typer.Option("npz", "--format", help="npz (Occ3D labels.npz) or npy (probabilities)"),
        cloud_format: str = typer.Option("all", "--cloud-format", help="all (pcd + ply + KITTI float32 x y z "
                                         "intensity .bin), pcd, ply or bin"),
        refine: str = typer.Option("default", "--refine", help="filter (drop points in voxels predicted empty), "
                                   "snap (move points along their rays onto predicted surfaces), complete (snap + "
                                   "add points in occupied voxels without any), default (= complete)"),
        threshold: float | None = typer.Option(None, "--threshold", "-t", help="occupancy threshold for the grid "
                                               "and the refinement (default: eval.threshold / eval.refine_threshold)"),
        config: Path | None = typer.Option(None, "--config", "-c", help="config file (default: the checkpoint's)"),
        overrides: list[str] = typer.Option(None, "--set", "-s", help="override a config field"),
        depth_cache: Path | None = typer.Option(None, "--depth-cache", help="cache folder for depth predictions"),
        max_depth: float | None = typer.Option(None, "--max-depth", help="drop depth points farther than this (m)"),
        pictures: bool = typer.Option(False, "--pictures", help="also write pictures/<name>_clouds.png (BEV) and "
                                      ".html (3D) of the raw, refined and LiDAR points"),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="show a progress bar"),
        columns: int | None = typer.Option(None, "--columns", help="float32 columns of .bin scans (default: from "
                                           "the name and byte count, checked for plausible coordinates)"),
    ) -> None:
        """Predict occupancy for scans / depth maps / images and write grids and refined point clouds."""
        from rich.console import Console
        from rich.table import Table

        from occkit.commands._exit import exit_on_user_error
        from occkit.commands.evaluate import resolve_model

        checkpoint, inputs = _model_and_inputs(list(paths or []), checkpoint, list(inputs or []))
        with exit_on_user_error():
            checkpoint, cfg = resolve_model(checkpoint, config, list(overrides or []))
            from occkit.evaluation.prediction import predict as run_predict

            cache = None
            if depth_cache is not None:
                from occkit.depth.cache import DepthCache

                cache = DepthCache(depth_cache)
            result = run_predict(checkpoint, list(inputs), out, cfg=cfg, lidar=lidar, camera=camera, poses=poses,
                                 grid_format=grid_format, cloud_format=cloud_format,  # type: ignore[arg-type]
                                 refine=refine, pictures=pictures,  # type: ignore[arg-type]
                                 threshold=threshold, depth_cache=cache, max_depth=max_depth,
                                 progress=progress, columns=columns)
        table = Table(title=f"{len(result.frames)} inputs, refine threshold {result.refine_threshold}")
        with_lidar = any(f.lidar for f in result.frames)  # the Chamfer columns only where there is a LiDAR to score
        columns = ["input", "points", "kept", "added", "occupied", "alignment"]
        columns += ["chamfer raw", "chamfer refined", "F@1vox raw", "F@1vox refined"] if with_lidar else []
        for col in columns:  # fold, not cut: a narrow terminal wraps a long name instead of hiding it
            table.add_column(col, justify="left" if col in ("input", "alignment") else "right", overflow="fold")
        for f in result.frames:
            row = [f.name, str(f.num_points), _fmt(f.kept_fraction, True), str(f.num_added),
                   _fmt(f.occupied_fraction, True), f.alignment]
            row += [_fmt(f.chamfer_raw), _fmt(f.chamfer_refined), _fmt(f.fscore1_raw),
                    _fmt(f.fscore1_refined)] if with_lidar else []
            table.add_row(*row)
        console = Console(highlight=False)
        console.print(table)
        console.print(f"wrote {out / 'grids'}, {out / 'refined'} and {result.summary_path}")
