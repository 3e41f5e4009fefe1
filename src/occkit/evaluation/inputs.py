"""What ``occkit predict`` reads: point-cloud files, depth maps or images, each with an optional pose.

Inputs are files or folders (a folder's files are taken in sorted order, not recursively):

- point clouds in any ``read_points`` format (``occkit.io.points.SUFFIXES``), sensor frame;
- with a camera file (``--camera camera.json``, or a ``camera.json`` inside an input folder; format as in
  docs/folder_layout.md: ``K``, ``T_sensor_cam``): ``.npy`` files and 16-bit ``.png`` files are z-depth maps
  in metres / millimetres, unprojected with ``occkit.depth.unproject_depth``; ``.jpg``/``.jpeg`` and 8-bit
  ``.png`` are images sent through the depth model (Depth Anything 3 via ``occkit.depth``);
- Depth Anything 3's own export files (``exports/npz/results.npz`` or ``mini_npz``, ``occkit.depth.da3_export``):
  one input per view, ``<stem>_000`` ..., with the file's intrinsics; a camera file gives only the mounting
  (``T_sensor_cam``), and DA3's least confident 40 % of the pixels are dropped, as for images.

Poses (``T_world_sensor``, sensor -> world): ``--poses FILE`` (``poses.json``/``poses.csv`` keyed by file stem,
or KITTI ``poses.txt`` with one line per input in sorted order), or a side file ``<stem>.pose.txt`` /
``<stem>.pose.json`` (12 or 16 numbers) next to the input, or none: identity, i.e. the points are taken to
be in the grid's own frame already. Either way the grid frame is then chosen by the same
``FrameToGrids.align`` the training data went through.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np

from occkit.depth.da3_export import is_da3_export
from occkit.depth.unproject import DEFAULT_CONF_PERCENTILE
from occkit.errors import InputFileError
from occkit.geometry.transforms import apply_transform, check_rigid, make_transform
from occkit.io.points import SUFFIXES

POINT_SUFFIXES = SUFFIXES
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
SKIP_NAMES = ("poses.txt", "poses.csv", "poses.json", "camera.json")
POSE_SIDE_SUFFIXES = (".pose.txt", ".pose.json")

InputKind = Literal["scan", "depth", "image", "da3_export"]


def file_stem(path: Path) -> str:
    """The name that joins an input with its pose, its LiDAR and its outputs (``x.pcd.bin`` -> ``x``)."""
    name = path.name
    return name[: -len(".pcd.bin")] if name.lower().endswith(".pcd.bin") else path.stem


@dataclass
class PredictInput:
    """One input file and how to turn it into sensor-frame points."""

    name: str
    path: Path
    kind: InputKind
    T_world_sensor: np.ndarray = field(default_factory=lambda: np.eye(4))
    pose_from: str = "identity"
    camera: dict[str, Any] | None = None
    view: int | None = None  # which view of a multi-view file (a DA3 export) this input is


@dataclass
class LoadedPoints:
    """Sensor-frame points relative to ``origin`` (float32), their fields, and the pose of that local frame."""

    xyz: np.ndarray
    fields: dict[str, np.ndarray]
    origin: np.ndarray
    T_world_local: np.ndarray
    # where the rays start, in the same local frame: the camera for depth and images, the file's own origin (the
    # sensor of a sensor-frame scan) for point files; refinement moves points along these rays
    ray_origin: np.ndarray = field(default_factory=lambda: np.zeros(3))


def _is_depth_png(path: Path) -> bool:
    from occkit.io.images import read_image

    return read_image(path, lambda im: im.mode in ("I", "I;16", "I;16B", "I;16L"))


def _kind(path: Path, has_camera: bool) -> InputKind | None:
    """What a file is, or None when it is not an input (pose/camera files, other suffixes)."""
    low = path.name.lower()
    if low in SKIP_NAMES or low.endswith(POSE_SIDE_SUFFIXES):
        return None
    suffix = path.suffix.lower()
    if suffix == ".npz" and is_da3_export(path):
        return "da3_export"
    if has_camera and suffix == ".npy":
        return "depth"
    if suffix in IMAGE_SUFFIXES:
        if not has_camera:
            return None
        return "depth" if suffix == ".png" and _is_depth_png(path) else "image"
    return "scan" if suffix in POINT_SUFFIXES else None


def _camera_for(path: Path, camera: dict[str, Any] | None) -> dict[str, Any] | None:
    if camera is not None:
        return camera
    from occkit.sources.folder_files import read_camera_json

    folder = path if path.is_dir() else path.parent
    return read_camera_json(folder / "camera.json") if (folder / "camera.json").is_file() else None


def read_pose_file(path: Path) -> np.ndarray:
    """A side pose file: 12 (3x4) or 16 (4x4) numbers, whitespace/commas, or JSON (nested or flat list,
    or ``{"T_world_sensor": ...}``) -> rigid 4x4."""
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(path.read_text())
            values = data.get("T_world_sensor", data.get("T")) if isinstance(data, dict) else data
            arr = np.asarray(values, dtype=np.float64).reshape(-1)
        else:
            arr = np.array(path.read_text().replace(",", " ").split(), dtype=np.float64)
    except (OSError, ValueError, TypeError, json.JSONDecodeError) as exc:
        raise InputFileError(path, f"expected 12 or 16 numbers (T_world_sensor, 3x4 or 4x4): {exc}") from None
    if arr.size == 12:
        arr = np.r_[arr, 0.0, 0.0, 0.0, 1.0]
    if arr.size != 16:
        raise InputFileError(path, f"expected 12 or 16 numbers (T_world_sensor, 3x4 or 4x4), got {arr.size}")
    return check_rigid(arr.reshape(4, 4), f"{path}: T_world_sensor")


def _pose_table(poses: Path, items: list[PredictInput]) -> dict[str, np.ndarray]:
    from occkit.sources.folder_files import read_kitti_poses, read_named_poses

    if not poses.is_file():
        raise InputFileError(poses, "pose file not found (expected poses.json, poses.csv or KITTI poses.txt)")
    if poses.suffix.lower() == ".txt":
        table = read_kitti_poses(poses)
        if len(table) != len(items):
            raise InputFileError(poses, f"has {len(table)} poses for {len(items)} inputs; KITTI poses.txt needs one "
                                        "line per input, in sorted file-name order")
        return {it.name: T for it, T in zip(items, table, strict=True)}
    table = read_named_poses(poses)
    missing = [it.name for it in items if it.name not in table]
    if missing:
        raise InputFileError(poses, f"no pose for {len(missing)} of {len(items)} inputs (first: {missing[0]!r}); "
                                    "expected one entry per input file stem")
    return table


def _is_input(path: Path, has_camera: bool) -> bool:
    try:
        return _kind(path, has_camera) is not None
    except InputFileError:  # an unreadable png: not an input, and a hint must not raise
        return False


def _in_subfolders(folder: Path, has_camera: bool) -> str:
    """A hint naming the subfolders that do hold inputs (a folder is read without descending into them)."""
    if not folder.is_dir():
        return ""
    import os

    holding: list[str] = []
    for top, dirs, files in os.walk(folder):  # top-down, stopping early: a dataset root can hold many thousands
        dirs.sort()
        if top != str(folder) and any(_is_input(Path(top) / f, has_camera) for f in files):
            holding.append(top)
            if len(holding) > 3:
                break
    if not holding:
        return ""
    more = " ..." if len(holding) > 3 else ""
    return f"; its subfolders are not searched, pass one of them: {', '.join(holding[:3])}{more}"


def collect_inputs(paths: list[str | Path], *, camera: str | Path | None = None,
                   poses: str | Path | None = None) -> list[PredictInput]:
    """Expand files/folders into inputs (sorted per folder), attach poses and cameras; names must be unique."""
    from occkit.sources.folder_files import read_camera_json

    cam_given = None
    if camera is not None:
        if not Path(camera).is_file():
            raise InputFileError(camera, "camera file not found (expected JSON with 'K' and 'T_sensor_cam')")
        cam_given = read_camera_json(Path(camera))
    items: list[PredictInput] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise InputFileError(path, "input not found (expected a point-cloud file, a depth map, an image or a "
                                       "folder of them)")
        cam = _camera_for(path, cam_given)
        files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
        found = [(p, _kind(p, cam is not None)) for p in files]
        found = [(p, k) for p, k in found if k is not None]
        if not found:
            what = "point clouds " + " ".join(POINT_SUFFIXES)
            if cam is not None:
                what += ", depth maps (.npy, 16-bit .png) or images (.jpg, .png)"
            raise InputFileError(path, f"no inputs found (expected {what}){_in_subfolders(path, cam is not None)}")
        for p, k in found:
            if k == "da3_export":
                items += _export_views(p, cam)
                continue
            items.append(PredictInput(name=file_stem(p), path=p, kind=k, camera=cam if k != "scan" else None))
    seen: dict[str, Path] = {}
    for it in items:
        if it.name in seen:
            raise InputFileError(it.path, f"has the same name {it.name!r} as {seen[it.name]}; outputs and --lidar "
                                          "files are matched by name, so input names must be unique")
        seen[it.name] = it.path
    table = _pose_table(Path(poses), items) if poses is not None else {}
    for it in items:
        if it.name in table:
            it.T_world_sensor, it.pose_from = table[it.name], str(poses)
            continue
        for suffix in POSE_SIDE_SUFFIXES:
            side = it.path.parent / f"{it.name}{suffix}"
            if side.is_file():
                it.T_world_sensor, it.pose_from = read_pose_file(side), str(side)
                break
    return items


def load_points(item: PredictInput, *, depth_model: Any = None, depth_cache: Any = None,
                max_depth: float | None = None, depth_png_scale: float = 0.001,
                columns: int | None = None) -> LoadedPoints:
    """Sensor-frame points of one input (scan read as is; depth unprojected; image through the depth model).

    ``columns``: the float32 column count of header-less ``.bin`` scans (``--columns``), else guessed."""
    if item.kind == "scan":
        from occkit.io.points import COLUMN_SUFFIXES, read_points

        takes_columns = item.path.suffix.lower() in COLUMN_SUFFIXES
        pc = read_points(item.path, columns=columns if takes_columns else None)
        T_local = item.T_world_sensor @ make_transform(translation=pc.origin) if np.any(pc.origin) else \
            item.T_world_sensor
        return LoadedPoints(pc.xyz, dict(pc.fields), pc.origin, T_local, ray_origin=-np.asarray(pc.origin, float))
    cam = item.camera
    assert cam is not None  # collect_inputs gives depth/image inputs a camera
    if item.kind == "da3_export":
        assert item.view is not None
        view = _export_file(item.path, item.path.stat().st_mtime_ns)[item.view]
        # the file's own K (DA3's processed size); the camera's mounting from --camera / camera.json, if any
        pts = view.pseudo_points(conf_percentile=DEFAULT_CONF_PERCENTILE if view.conf is not None else None,
                                 max_range=max_depth, T_world_cam=cam["T_sensor_cam"])
    elif item.kind == "depth":
        from occkit.depth.unproject import unproject_depth
        from occkit.sources.folder_files import read_depth

        depth = read_depth(item.path, depth_png_scale)
        pts = apply_transform(cam["T_sensor_cam"], unproject_depth(depth, cam["K"], max_range=max_depth))
    else:
        pts = _image_points(item, depth_model, depth_cache, max_depth)
    if len(pts) == 0:
        raise InputFileError(item.path, "gave no valid depth (every pixel is 0, negative or non-finite)")
    return LoadedPoints(np.asarray(pts, np.float32), {}, np.zeros(3), item.T_world_sensor,
                        ray_origin=np.asarray(cam["T_sensor_cam"], float)[:3, 3])


def _export_views(path: Path, camera: dict[str, Any] | None) -> list[PredictInput]:
    """One input per view of a DA3 export, named ``<stem>_000`` ...; only the camera's mounting (``T_sensor_cam``)
    is taken from a camera file, since the export carries its own intrinsics. DA3's extrinsics (its own world
    frame and scale) are not the grid's: poses come from ``--poses`` or side files, as for any input."""
    n = len(_export_file(path, path.stat().st_mtime_ns))
    mount = {"T_sensor_cam": camera["T_sensor_cam"] if camera is not None else np.eye(4)}
    stem = file_stem(path)
    return [PredictInput(name=f"{stem}_{i:03d}", path=path, kind="da3_export", camera=mount, view=i)
            for i in range(n)]


@lru_cache(maxsize=1)
def _export_file(path: Path, mtime_ns: int) -> list[Any]:
    """A DA3 export's views, read once for all of its inputs (keyed by the file's modification time too)."""
    from occkit.depth.da3_export import read_da3_export

    return read_da3_export(path)


def _image_points(item: PredictInput, depth_model: Any, depth_cache: Any, max_depth: float | None) -> np.ndarray:
    from occkit.depth.pseudo import estimate_pseudo_points
    from occkit.frame import CameraView, Frame

    if depth_model is None:
        raise InputFileError(item.path, "is an image: pass a depth model (occkit predict loads Depth Anything 3 "
                                        "when it is installed) or give depth maps (.npy) instead")
    cam = item.camera
    assert cam is not None
    from occkit.io.images import image_size

    width, height = image_size(item.path)
    view = CameraView(name="cam", K=cam["K"], T_world_cam=item.T_world_sensor @ cam["T_sensor_cam"], width=width,
                      height=height, image_path=str(item.path), distortion=cam.get("distortion"))
    frame = Frame(frame_id=item.name, points=np.zeros((0, 3), np.float32), T_world_sensor=item.T_world_sensor,
                  cameras=[view])
    return estimate_pseudo_points(frame, depth_model, cache=depth_cache, max_range=max_depth)


def match_lidar(lidar: str | Path | None, items: list[PredictInput]) -> dict[str, Path]:
    """LiDAR files for the inputs, matched by file stem (a single file with a single input always matches)."""
    if lidar is None:
        return {}
    path = Path(lidar)
    if not path.exists():
        raise InputFileError(path, "--lidar: not found (expected a point-cloud file or a folder of them)")
    if path.is_file():
        if len(items) == 1:
            return {items[0].name: path}
        return {file_stem(path): path} if file_stem(path) in {it.name for it in items} else {}
    files = {file_stem(p): p for p in sorted(path.iterdir()) if p.is_file() and _kind(p, False) == "scan"}
    return {it.name: files[it.name] for it in items if it.name in files}
