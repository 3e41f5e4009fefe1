"""`occkit voxelize INPUT`: read any point file, voxelize it on a preset grid, print stats, save an npz."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    import numpy as np

    from occkit.geometry import VoxelGrids


def read_pose_json(path: Path) -> np.ndarray:
    """A 4x4 T_grid_points from JSON: a nested list, or an object holding one under
    ``T_grid_points``, ``T`` or ``T4x4`` (the UAVScenes record key)."""
    import numpy as np

    from occkit.errors import InputFileError
    from occkit.geometry import check_rigid

    if not path.is_file():
        raise InputFileError(path, "pose file not found (expected JSON with a 4x4 matrix)")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputFileError(path, f"not valid JSON ({exc}); expected a 4x4 nested list") from None
    if isinstance(data, dict):
        key = next((k for k in ("T_grid_points", "T", "T4x4") if k in data), None)
        if key is None:
            raise InputFileError(path, f"has keys {sorted(data)}; expected 'T_grid_points', 'T' or 'T4x4'")
        data = data[key]
    try:
        T = np.asarray(data, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputFileError(path, "expected a 4x4 matrix of numbers") from None
    return check_rigid(T, f"{path} (T_grid_points)")


def save_grids_npz(path: Path, grids: VoxelGrids) -> None:
    """npz with occupancy (bool), soft (float32), count (int32), grid_spec (JSON) and stats (JSON)."""
    import numpy as np

    from occkit.viz.gridfile import write_grid_npz

    write_grid_npz(path, grids.spec, occupancy=grids.occupancy, soft=grids.soft, count=grids.count,
                   stats=np.array(json.dumps(grids.stats)))


def _stem(path: Path) -> str:
    """``scan.pcd.bin`` -> ``scan``: every point-file suffix removed."""
    from occkit.io.points import SUFFIXES

    name = path.name
    for suffix in SUFFIXES:
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    return name or path.stem


def register(app: typer.Typer) -> None:
    @app.command()
    def voxelize(
        input: Path = typer.Argument(..., help="point file: .bin .pcd .ply .las .laz .npy .npz .txt"),
        grid: str = typer.Option("uav", help="grid preset: uav, occ3d_nuscenes, semantickitti, bev_height"),
        out: Path | None = typer.Option(None, "--out", "-o", help="folder for <input name>.npz (occupancy/soft/count "
                                        "+ grid spec), or a path ending in .npz"),
        pose_json: Path | None = typer.Option(None, help="JSON 4x4 T_grid_points applied before binning"),
        columns: int | None = typer.Option(None, help="float32 columns of a .bin / columns of a .txt (default: infer)"),
        center: bool = typer.Option(False, help="shift x/y so the cloud's median sits at the grid centre "
                                                "(after --pose-json; for georeferenced demo files)"),
        drop_nonfinite: bool = typer.Option(False, help="drop NaN/inf points with a warning instead of failing"),
        lam: float = typer.Option(0.3, help="soft occupancy: weight of the point count"),
        gamma: float = typer.Option(5.0, help="soft occupancy: weight of the in-voxel variance (1/m^2)"),
    ) -> None:
        """Voxelize one point cloud and report what landed in the grid."""
        import numpy as np
        from rich.console import Console
        from rich.table import Table

        from occkit.errors import OccKitError
        from occkit.geometry import GridSpec
        from occkit.geometry import voxelize as run_voxelize
        from occkit.io.points import read_points

        console = Console()
        if grid not in GridSpec.PRESETS:
            raise typer.BadParameter(f"unknown grid {grid!r}; choose from {sorted(GridSpec.PRESETS)}",
                                     param_hint="--grid")
        spec = GridSpec.preset(grid)
        try:
            with console.status(f"reading {input}"):
                cloud = read_points(input, columns=columns, nonfinite="drop" if drop_nonfinite else "error")
            T = read_pose_json(pose_json) if pose_json is not None else None
        except OccKitError as err:
            from occkit.commands._exit import echo_error

            echo_error(err)
            raise typer.Exit(2) from None
        if center:
            xy = cloud.xyz[:, :2].astype(np.float64)
            if T is not None:
                xy = (cloud.xyz.astype(np.float64) @ T[:3, :3].T + T[:3, 3])[:, :2]
            shift = np.eye(4)
            shift[:2, 3] = (spec.lower[:2] + spec.upper[:2]) / 2 - np.median(xy, axis=0)
            T = shift if T is None else shift @ T
        elif np.any(cloud.origin != 0):
            console.print(f"[yellow]note:[/] georeferenced coordinates; points are relative to origin "
                          f"{cloud.origin.tolist()} (give --pose-json or --center to move them into the grid)")
        grids = run_voxelize(cloud.xyz, spec, features=("count", "occupancy", "soft"), T_grid_points=T,
                             lam=lam, gamma=gamma)

        table = Table(title=f"{input.name} on {grid}", show_header=False)
        occupied = int(grids.occupancy.sum())
        rows = [("points", f"{grids.num_points:,}"), ("in range", f"{grids.num_in_range:,}"),
                ("in-range ratio", f"{grids.in_range_ratio:.4f}"),
                ("grid shape (x, y, z)", "x".join(map(str, spec.shape))),
                ("voxel size (m)", ", ".join(f"{s:g}" for s in spec.voxel_size)),
                ("occupied voxels", f"{occupied:,}"), ("occupied fraction", f"{grids.occupied_fraction:.4%}"),
                ("points / occupied voxel", f"{grids.num_in_range / max(occupied, 1):.2f}"),
                ("mean soft (occupied)", f"{grids.soft[grids.occupancy].mean():.3f}" if occupied else "-")]
        for key, value in rows:
            table.add_row(key, value)
        console.print(table)
        if grids.in_range_ratio < 0.5:
            console.print("[yellow]warning:[/] fewer than half the points fall inside the grid: wrong frame or "
                          "pose? (the grid expects points in its own frame; see --pose-json)")
        if out is not None:
            target = out if out.suffix.lower() == ".npz" and not out.is_dir() else out / f"{_stem(input)}.npz"
            save_grids_npz(target, grids)
            console.print(f"saved {target}")
