"""`occkit verify`: check that a dataset's targets land inside the grid before anyone trains on it.

For a sample of frames per scene it runs the shared alignment (`occkit.data.alignment.choose_grid_frame`),
bins the target points (``target_points``, else ``points``) into the grid and reports how many grids are
empty, the occupancy-rate distribution, the in-range ratios, the floor height in the grid frame and how
often the lidar-centre fallback fired. It exits 1 (with the reason) when more than ``--max-empty`` of a
scene's grids are empty, 2 on unreadable input.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import typer


@dataclass
class SceneStats:
    """What one scene's sampled frames looked like in the grid."""

    scene: str
    frames_total: int
    samples: int = 0
    empty: int = 0
    occupancy: list[float] = field(default_factory=list)  # occupied voxels / all voxels
    in_range: list[float] = field(default_factory=list)  # alignment in-range ratio of the input points
    target_in_range: list[float] = field(default_factory=list)  # fraction of target points inside the grid
    floor_z: list[float] = field(default_factory=list)  # 2nd-percentile height of the points, first-choice frame
    height_fit: list[float] = field(default_factory=list)  # see height_fit()
    misaligned: int = 0  # samples whose first-choice frame missed the grid or whose height_fit < POORLY_ALIGNED
    hypotheses: dict[str, int] = field(default_factory=dict)  # misaligned samples each pose hypothesis fixes
    paths: dict[str, int] = field(default_factory=dict)
    first_empty_message: str = ""
    unreadable: int = 0  # sampled frames whose files or poses raised an occkit error
    first_unreadable_message: str = ""

    @property
    def empty_fraction(self) -> float:
        return self.empty / self.samples if self.samples else 1.0

    @property
    def fallback_fired(self) -> int:
        return self.paths.get("lidar_center", 0)

    def summary(self) -> dict[str, Any]:
        """JSON-friendly numbers (distribution quantiles instead of raw lists)."""
        import numpy as np

        def q(values: list[float]) -> dict[str, float] | None:
            if not values:
                return None
            v = np.asarray(values)
            return {"min": float(v.min()), "median": float(np.median(v)), "p90": float(np.percentile(v, 90)),
                    "max": float(v.max())}

        out = {k: v for k, v in asdict(self).items() if k not in ("occupancy", "in_range", "target_in_range",
                                                                 "floor_z", "height_fit")}
        out.update(empty_fraction=self.empty_fraction, fallback_fired=self.fallback_fired,
                   occupancy=q(self.occupancy), in_range=q(self.in_range), target_in_range=q(self.target_in_range),
                   floor_z=q(self.floor_z), height_fit=q(self.height_fit))
        return out


def scene_of(source: Any, index: int) -> str:
    """Scene of frame ``index`` without reading its points (UAVScenes samples, else the frame-id prefix)."""
    samples = getattr(source, "samples", None)
    if samples is not None and hasattr(samples[index], "run"):
        return samples[index].run.scene
    fid = source.frame_ids[index]
    return fid.split("/")[0] if "/" in fid else "all"


def pick_indices(n: int, k: int) -> list[int]:
    """Up to ``k`` indices spread evenly over ``range(n)`` (first and last included)."""
    import numpy as np

    if n <= 0 or k <= 0:
        return []
    return sorted(set(np.linspace(0, n - 1, min(k, n)).round().astype(int).tolist()))


def verify_source(source: Any, spec: Any, *, samples: int = 200, ego_frame: bool = True,
                  fallback_to_lidar_center: bool = True, min_in_range_ratio: float = 0.01,
                  progress: bool = True) -> list[SceneStats]:
    """Align and bin up to ``samples`` frames per scene of ``source``; one SceneStats per scene."""
    from rich.progress import Progress

    from occkit.data.alignment import choose_grid_frame
    from occkit.errors import OccKitError

    by_scene: dict[str, list[int]] = {}
    for i in range(len(source)):
        by_scene.setdefault(scene_of(source, i), []).append(i)
    stats = {s: SceneStats(scene=s, frames_total=len(ix)) for s, ix in by_scene.items()}
    todo = [(s, ix[j]) for s, ix in by_scene.items() for j in pick_indices(len(ix), samples)]
    with Progress(disable=not progress) as bar:
        for scene, i in bar.track(todo, description="verifying occupancy"):
            st = stats[scene]
            try:
                frame = source[i]
                al = choose_grid_frame(frame, spec, ego_frame=ego_frame,
                                       fallback_to_lidar_center=fallback_to_lidar_center,
                                       min_in_range_ratio=min_in_range_ratio)
            except OccKitError as err:  # a corrupt file or pose: count it, keep checking the rest
                st.unreadable += 1
                st.first_unreadable_message = st.first_unreadable_message or str(err)
                continue
            _check_frame(st, frame, al, spec, ego_frame)
    return list(stats.values())


def _check_frame(st: SceneStats, frame: Any, al: Any, spec: Any, ego_frame: bool) -> None:
    """Add one aligned frame to its scene's numbers."""
    import numpy as np

    from occkit.data.alignment import ego_transform, in_range_ratio
    from occkit.geometry.transforms import apply_transform

    st.samples += 1
    st.paths[al.path] = st.paths.get(al.path, 0) + 1
    st.in_range.append(al.in_range_ratio)
    pts = np.asarray(frame.points, dtype=np.float64)[:, :3]
    T_first = ego_transform(frame.T_world_sensor) if ego_frame else np.eye(4)
    first_pts = apply_transform(T_first, pts)
    if len(pts):
        st.floor_z.append(float(np.percentile(first_pts[:, 2], 2)))
    fit = height_fit(first_pts, spec) if len(pts) else 0.0
    st.height_fit.append(fit)
    if len(pts) and (al.path in ("lidar_center", "empty") or fit < POORLY_ALIGNED):
        st.misaligned += 1
        for name, T_alt in pose_hypotheses(frame, ego_frame).items():
            alt = height_fit(apply_transform(T_alt, pts), spec)
            if alt >= POORLY_ALIGNED and alt > fit + 0.25 and in_range_ratio(pts, T_alt, spec) > 0:
                st.hypotheses[name] = st.hypotheses.get(name, 0) + 1
    target = frame.target_points if frame.target_points is not None else frame.points
    occupied, inside_frac = 0, 0.0
    if al.path != "empty" and len(target):
        grid_pts = apply_transform(al.T_grid_sensor, np.asarray(target, dtype=np.float64)[:, :3])
        idx, inside = spec.points_to_indices(grid_pts)
        occupied = len(np.unique(spec.flat_index(idx[inside])))
        inside_frac = float(inside.mean())
    st.occupancy.append(occupied / spec.num_voxels)
    st.target_in_range.append(inside_frac)
    if occupied == 0:
        st.empty += 1
        st.first_empty_message = st.first_empty_message or f"{frame.frame_id}: {al.message}"


POORLY_ALIGNED = 0.5  # height_fit of the first-choice frame below which a sample counts as misaligned


def height_fit(grid_pts: Any, spec: Any) -> float:
    """Fraction of the points over the grid's x/y footprint that also fall inside its height range.

    Unlike the in-range ratio it does not drop when a long-range scan reaches past the grid's sides, so a
    low value means a wrong datum or pose, not a small grid. 0 when no point is over the footprint.
    """
    import numpy as np

    lo, hi = spec.lower, spec.upper
    over = np.all((grid_pts[:, :2] >= lo[:2]) & (grid_pts[:, :2] < hi[:2]), axis=1)
    if not over.any():
        return 0.0
    z = grid_pts[over, 2]
    return float(np.mean((z >= lo[2]) & (z < hi[2])))

POSE_HYPOTHESES = {
    "scans_in_world_frame": "the scan files are already in the world frame (UAVScenes: points_frame='world')",
    "pose_inverted": "the pose file holds world->camera, not camera->world (invert T4x4)",
    "extrinsic_inverted": "the calibration is camera->LiDAR, not LiDAR->camera (invert camera_ext_R/t)",
}


def pose_hypotheses(frame: Any, ego_frame: bool) -> dict[str, Any]:
    """T_grid_sensor of the ego frame under each classic pose mix-up (only meaningful with ego_frame)."""
    from occkit.data.alignment import ego_transform
    from occkit.geometry.transforms import invert_transform

    if not ego_frame:
        return {}
    T_ws = frame.T_world_sensor
    out = {"scans_in_world_frame": ego_transform(T_ws) @ invert_transform(T_ws)}
    if frame.cameras:
        T_wc = frame.cameras[0].T_world_cam
        T_cs = invert_transform(T_wc) @ T_ws
        out["pose_inverted"] = ego_transform(invert_transform(T_wc) @ T_cs)
        out["extrinsic_inverted"] = ego_transform(T_wc @ invert_transform(T_cs))
    return out


def _hypothesis_hint(st: SceneStats) -> str:
    if not st.hypotheses:
        return ""
    name, n = max(st.hypotheses.items(), key=lambda kv: kv[1])
    return f"; {n} of {st.misaligned} misaligned samples line up if {POSE_HYPOTHESES[name]}"


def judge(stats: list[SceneStats], *, max_empty: float, ego_frame: bool, fallback_to_lidar_center: bool,
          spec: Any) -> tuple[list[str], list[str]]:
    """(failures, warnings) in plain words, each naming the scene and the setting to try."""
    failures, warns = [], []
    frame_name = f"ego_frame={ego_frame}"
    first = "ego" if ego_frame else "sensor"
    for st in stats:
        pct = f"{st.empty_fraction:.0%}"
        if st.unreadable:
            failures.append(f"{st.unreadable} sampled {st.scene} frames could not be read (first: "
                            f"{st.first_unreadable_message})")
        if st.samples == 0:
            failures.append(f"{st.scene}: no readable frame to check")
            continue
        if st.empty_fraction > max_empty:
            if not fallback_to_lidar_center:
                why = ("the pose puts the points outside the grid; try fallback_to_lidar_center=True"
                       if ego_frame else "the grid box around the sensor misses the points; try ego_frame=True "
                       "or fallback_to_lidar_center=True")
            elif 2 * st.paths.get("empty", 0) >= st.empty:
                why = ("even centring the grid on the LiDAR points leaves them outside: scans are empty or "
                       f"the grid {spec.describe()} is too small / thin for them")
            else:
                why = "the target points fall outside the grid after alignment (accumulated scans or labels off?)"
            failures.append(f"{pct} of {st.scene} grids are empty with {frame_name}"
                            f"{', fallback_to_lidar_center=True' if fallback_to_lidar_center else ''}: {why} "
                            f"{_hypothesis_hint(st)} (first: {st.first_empty_message})")
        if st.fallback_fired / st.samples > 0.5:
            warns.append(f"the lidar-centre fallback fired on {st.fallback_fired / st.samples:.0%} of {st.scene} "
                         f"samples: with {frame_name} the poses do not put the points in the grid (wrong map datum, "
                         "T_world_lidar or calibration?); the targets are usable but not where the pose says"
                         f"{_hypothesis_hint(st)} (median ground height in the {first} frame: "
                         f"{_median(st.floor_z):.1f} m; the grid spans z {spec.pc_range[2]:g}..{spec.pc_range[5]:g})")
        elif st.misaligned / st.samples > 0.5 and st.empty_fraction <= max_empty:
            warns.append(f"with {frame_name} only {_median(st.height_fit):.0%} (median) of the {st.scene} points "
                         "over the grid's footprint fall inside its height range (median ground height in the "
                         f"{first} frame {_median(st.floor_z):.1f} m; the grid spans z "
                         f"{spec.pc_range[2]:g}..{spec.pc_range[5]:g}){_hypothesis_hint(st)}")
    return failures, warns


def _median(values: list[float]) -> float:
    import numpy as np

    return float(np.median(values)) if values else float("nan")


def stats_table(stats: list[SceneStats], spec: Any) -> Any:
    """A rich table, one row per scene (in range = median alignment in-range ratio; floor z = median
    2nd-percentile height in the first-choice grid frame, near 0 for the uav grid when the datum is right)."""
    import numpy as np
    from rich.table import Table

    table = Table(title=f"occupancy check on {spec.describe()}")
    for col in ("scene", "checked", "empty", "occupied % min/med/p90/max", "in range", "floor z", "fallback",
                "paths"):
        table.add_column(col, justify="left" if col in ("scene", "paths") else "right")
    for st in stats:
        occ = np.asarray(st.occupancy or [0.0]) * 100
        rng = np.asarray(st.in_range or [0.0])
        colour = "red" if st.empty_fraction > 0 else "green"
        table.add_row(
            st.scene, f"{st.samples}/{st.frames_total}" + (f" ({st.unreadable} bad)" if st.unreadable else ""),
            f"[{colour}]{st.empty} ({st.empty_fraction:.0%})[/]",
            "/".join(f"{v:.3g}" for v in (occ.min(), np.median(occ), np.percentile(occ, 90), occ.max())),
            f"{np.median(rng):.2f}", f"{np.median(st.floor_z):.1f}" if st.floor_z else "-",
            f"{st.fallback_fired / max(st.samples, 1):.0%}",
            " ".join(f"{k}={v}" for k, v in sorted(st.paths.items())),
        )
    return table


def run_verify(data: Path | None, *, scenes: list[str] | None = None, samples: int = 200, grid: str = "uav",
               source_format: str = "uavscenes", interval: int = 5, ego_frame: bool = True,
               fallback_to_lidar_center: bool = True, min_in_range_ratio: float = 0.01, max_empty: float = 0.10,
               calibration_file: Path | None = None, accumulate: int = 1, json_out: Path | None = None,
               config: Path | None = None, overrides: list[str] | None = None, split: str = "train",
               console: Any = None, progress: bool = True) -> int:
    """The whole check; returns the exit code (0 ok, 1 too many empty grids, 2 bad input or config).

    With ``config`` (an experiment config file) the source, grid and alignment settings come from its
    ``data`` section (``overrides`` as with ``--set``; ``data`` replaces ``data.source.root``), and ``split``
    picks the frames; otherwise ``data`` + ``source_format`` + the other options describe them.
    """
    from rich.console import Console

    from occkit.errors import OccKitError
    from occkit.geometry.grid import GridSpec

    console = console or Console()
    names = [s for item in scenes or [] for s in item.split(",") if s]
    try:
        if config is not None:
            from occkit.config import load_config

            sets = list(overrides or []) + ([f"data.source.root={data}"] if data is not None else [])
            dcfg = load_config(config, sets).data
            spec, ego_frame = dcfg.grid, dcfg.ego_frame
            fallback_to_lidar_center, min_in_range_ratio = dcfg.fallback_to_lidar_center, dcfg.min_in_range_ratio
            source = dcfg.source.build(split)
        else:
            if data is None:
                raise ValueError("--data: give the dataset root (or --config with a data.source)")
            try:
                spec = GridSpec.preset(grid)
            except KeyError as exc:
                raise ValueError(str(exc).strip('"')) from None
            source = _build_source(data, names, source_format, interval, calibration_file, accumulate)
        stats = verify_source(source, spec, samples=samples, ego_frame=ego_frame,
                              fallback_to_lidar_center=fallback_to_lidar_center, min_in_range_ratio=min_in_range_ratio,
                              progress=progress)
    except (OccKitError, ValueError) as err:
        from occkit.commands._exit import echo_error

        echo_error(err)
        return 2
    return _report(stats, spec, console, max_empty=max_empty, ego_frame=ego_frame,
                   fallback_to_lidar_center=fallback_to_lidar_center, json_out=json_out)


def _report(stats: list[SceneStats], spec: Any, console: Any, *, max_empty: float, ego_frame: bool,
            fallback_to_lidar_center: bool, json_out: Path | None) -> int:
    """Print the table, warnings and failures (and the JSON); return the exit code."""
    import json

    console.print(stats_table(stats, spec))
    failures, warns = judge(stats, max_empty=max_empty, ego_frame=ego_frame,
                            fallback_to_lidar_center=fallback_to_lidar_center, spec=spec)
    for w in warns:
        console.print(f"[yellow]warning:[/] {w}")
    for f in failures:
        console.print(f"[red]FAIL:[/] {f}")
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps({"grid": spec.model_dump(), "ego_frame": ego_frame,
                                        "fallback_to_lidar_center": fallback_to_lidar_center,
                                        "max_empty": max_empty, "failures": failures, "warnings": warns,
                                        "scenes": [s.summary() for s in stats]}, indent=2))
    if not failures:
        console.print(f"[green]OK:[/] every scene has at most {max_empty:.0%} empty grids")
    return 1 if failures else 0


def _build_source(data: Path, scenes: list[str], source_format: str, interval: int, calibration_file: Path | None,
                  accumulate: int) -> Any:
    """Every frame of the chosen scenes, whatever split they belong to."""
    if source_format == "uavscenes":
        from occkit.sources.uavscenes import UAVScenesSource, UAVScenesSourceConfig

        cfg = UAVScenesSourceConfig(root=str(data), scenes=scenes, interval=interval, accumulate=accumulate,
                                    load_labels=False,
                                    calibration_file=None if calibration_file is None else str(calibration_file))
        return UAVScenesSource(cfg, cfg.select_runs(), "all")
    if source_format == "folder":
        from occkit.sources.folder import FolderSourceConfig

        return FolderSourceConfig(root=str(data), sequences=scenes, val_fraction=0.0).build("train")
    raise ValueError(f"--format: expected 'uavscenes' or 'folder', got {source_format!r}")


def register(app: typer.Typer) -> None:
    @app.command()
    def verify(
        data: Path | None = typer.Option(None, help="dataset root (UAVScenes: the folder holding "
                                                     "calibration_results.py); with --config: data.source.root"),
        scenes: list[str] = typer.Option([], help="scenes (AMtown) or runs (AMtown01); repeat or comma-separate; "
                                                  "default all"),
        samples: int = typer.Option(200, min=1, help="frames checked per scene, spread evenly"),
        grid: str = typer.Option("uav", help="grid preset: uav, occ3d_nuscenes, semantickitti, bev_height"),
        source_format: str = typer.Option("uavscenes", "--format", help="uavscenes or folder"),
        interval: int = typer.Option(5, help="UAVScenes interval (1 or 5)"),
        ego_frame: bool = typer.Option(True, "--ego-frame/--sensor-frame", help="grid frame tried first"),
        fallback: bool = typer.Option(True, "--fallback/--no-fallback", help="fallback_to_lidar_center"),
        min_in_range_ratio: float = typer.Option(0.01, min=0.0, max=1.0, help="below it the fallback fires"),
        max_empty: float = typer.Option(0.10, min=0.0, max=1.0, help="fail when more grids of a scene are empty"),
        calibration_file: Path | None = typer.Option(None, help="UAVScenes calibration_results.py override"),
        accumulate: int = typer.Option(1, min=1, help="scans merged into each target"),
        json_out: Path | None = typer.Option(None, help="also write the numbers as JSON here"),
        config: Path | None = typer.Option(None, "--config", "-c", help="experiment config: take source, grid and "
                                           "alignment settings from its data section"),
        set_: list[str] = typer.Option([], "--set", "-s", help="config override, e.g. "
                                       "data.grid.voxel_size=[0.5,0.5,0.5]"),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="show a progress bar"),
        split: str = typer.Option("train", help="with --config: which split's frames to check"),
    ) -> None:
        """Check that targets land inside the grid (empty grids, occupancy rates, fallback use) per scene."""
        code = run_verify(data, scenes=scenes, samples=samples, grid=grid, source_format=source_format,
                          interval=interval, ego_frame=ego_frame, fallback_to_lidar_center=fallback,
                          min_in_range_ratio=min_in_range_ratio, max_empty=max_empty,
                          calibration_file=calibration_file, accumulate=accumulate, json_out=json_out,
                          config=config, overrides=set_, split=split, progress=progress)
        raise typer.Exit(code)
