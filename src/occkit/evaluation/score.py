"""``occkit score PRED GT``: the field's metrics on any network's predicted grids, beside the trivial baselines.

Predictions and ground truth are grid files as ``occkit viz`` reads them (occkit's ``.npz``/``.npy``, Occ3D
``labels.npz``, Occ3D-Waymo ``voxel_label`` files), one file or a folder searched recursively. They are matched
by name: an Occ3D ``<scene>/<token>/labels.npz`` is ``<token>``, any other file its stem, so predictions saved
as ``<token>.npz`` meet their ground truth. With ``inputs`` (the network's input grids, e.g. written by
``occkit voxelize``, matched the same way) the copied input, the dilated input and the lowest input level per
column are scored on the same voxels, with the gain and the share of the gap the network closes; without them
the report says that its figures stand alone. With an Occ3D info file (``infos``, any layout the Occ3D source
reads) RayIoU is scored too, binary and, where both sides carry labels, semantic, from SparseOcc's own origins
(``occkit.metrics.ray_origins``) and pitches, without a visibility mask as SparseOcc scores it.

The frames are listed worst first, and the worst and the median frame are drawn (TP / FP / FN overlays,
slices, IoU by height). The report is ``occkit eval``'s (``metrics.json`` / ``metrics.md``): IoU, precision,
recall, F1 at the threshold (the one stored in a prediction file, as occkit's reports store theirs, else 0.5),
the threshold sweep, per scene (an Occ3D scene folder) and per height, ground vs above ground, seen vs unseen;
and Occ3D's semantic mIoU (free left out of the mean) where both sides carry labels. The mask is Occ3D's
convention by default: the ground truth's camera mask where it has one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from occkit.errors import ConfigError, GridMismatchError, InputFileError
from occkit.geometry.grid import GridSpec

MaskChoice = Literal["auto", "camera", "lidar", "none"]
GRID_SUFFIXES = (".npz", ".npy")
BOOL_LOGIT = 20.0  # a hard prediction's logit: sigmoid(20) is 1 - 2e-9


@dataclass
class ScorePair:
    """One frame: its name, scene, and the prediction, ground truth and (optional) input grid files."""

    key: str
    scene: str
    pred: Path
    gt: Path
    input: Path | None = None


def grid_key(path: Path) -> str:
    """The name a grid file is matched by: an Occ3D ``labels.npz`` is its token folder, any other file its stem."""
    if path.name.lower() == "labels.npz":
        return path.parent.name
    return path.name[: -len(path.suffix)] if path.suffix.lower() in GRID_SUFFIXES else path.name


def grid_files(root: Path, what: str) -> dict[str, Path]:
    """Every grid file under ``root`` (or ``root`` itself) by :func:`grid_key`; a name found twice is an error."""
    if not root.exists():
        raise InputFileError(root, f"{what}: not found (expected a grid file or a folder of them)")
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file()
                                                 and p.suffix.lower() in GRID_SUFFIXES)
    if not files:
        raise InputFileError(root, f"{what}: no grid files (.npz, .npy) in it or its subfolders")
    found: dict[str, Path] = {}
    for path in files:
        key = grid_key(path)
        if key in found:
            raise InputFileError(path, f"{what}: has the same name {key!r} as {found[key]}; files are matched by "
                                       "name, so each name must be unique")
        found[key] = path
    return found


def match_pairs(pred: Path, gt: Path, inputs: Path | None = None) -> list[ScorePair]:
    """The ground-truth files with their predictions (and inputs); a ground truth without one is an error."""
    truths, preds = grid_files(gt, "ground truth"), grid_files(pred, "predictions")
    given = grid_files(inputs, "inputs") if inputs is not None else {}
    if gt.is_file() and pred.is_file():
        preds = {grid_key(gt): pred}
        given = {grid_key(gt): inputs} if inputs is not None and inputs.is_file() else given
    for what, table in (("prediction", preds), ("input", given if inputs is not None else None)):
        if table is None:
            continue
        missing = [k for k in truths if k not in table]
        if missing:
            raise InputFileError(pred if what == "prediction" else inputs,  # type: ignore[arg-type]
                                 f"no {what} for {len(missing)} of {len(truths)} ground-truth grids (first: "
                                 f"{missing[0]!r}, {truths[missing[0]]}); {what}s are matched by name (an Occ3D "
                                 "labels.npz by its token folder)")
    return [ScorePair(key, _scene(truths[key], gt), preds[key], truths[key], given.get(key)) for key in truths]


def _scene(path: Path, root: Path) -> str:
    """The folder that holds the frame below the ground-truth root (an Occ3D ``<scene>/<token>/labels.npz``'s
    scene), else ``all``."""
    if root.is_file():
        return "all"
    folders = path.relative_to(root).parts[:-1]
    if path.name.lower() == "labels.npz":  # its own folder is the token
        folders = folders[:-1]
    return folders[-1] if folders else "all"


def score(pred: str | Path, gt: str | Path, inputs: str | Path | None = None, out_dir: str | Path | None = None, *,
          mask: MaskChoice = "auto", threshold: float | None = None, grid: str | None = None,
          spec_json: str | Path | None = None, free_label: int | None = None, infos: str | Path | None = None,
          pictures: bool = True, progress: bool = True) -> Any:
    """Score prediction files against ground-truth files (see the module docstring); returns an ``EvalResult``
    and writes ``metrics.json`` / ``metrics.md`` into ``out_dir`` when given, with ``pictures`` the TP/FP/FN
    pictures of the worst and the median frame under ``out_dir/pictures``."""
    import torch

    from occkit.evaluation.split_eval import EvalResult, _Bar, baselines_report, build_report
    from occkit.metrics import OccupancyMetrics
    from occkit.metrics.build import build_quality_metrics
    from occkit.metrics.config import EvalConfig
    from occkit.viz.gridfile import read_grid_file, resolve_spec
    from occkit.viz.overlay import confusion_grids, iou_of

    if mask not in ("auto", "camera", "lidar", "none"):
        raise ConfigError(f"--mask: expected auto, camera, lidar or none, got {mask!r}")
    if threshold is not None and not 0 < threshold < 1:
        raise ConfigError(f"--threshold: expected a probability strictly between 0 and 1, got {threshold}")
    pairs = match_pairs(Path(pred), Path(gt), None if inputs is None else Path(inputs))
    first = read_grid_file(pairs[0].gt, free_label)
    spec = resolve_spec(first.occupancy.shape, grid, spec_json, first.spec)
    first_pred = read_grid_file(pairs[0].pred, free_label)
    t = float(threshold if threshold is not None else first_pred.threshold or 0.5)
    eval_cfg = EvalConfig(threshold=t)
    nz = spec.shape[2]
    overall = OccupancyMetrics(t, eval_cfg.sweep_thresholds, num_levels=nz)
    quality = build_quality_metrics(eval_cfg, spec, plane_level=None)
    origins = _origins(Path(infos), pairs) if infos is not None else None
    rays: dict[str, Any] = {}
    scenes: dict[str, Any] = {}
    scene_frames: dict[str, int] = {}
    semantic: dict[str, Any] = {}
    frames: list[dict[str, Any]] = []
    masked: list[str] = []  # the mask each frame was scored on
    with torch.no_grad(), _Bar(len(pairs), progress, "scoring") as bar:
        for pair in pairs:
            truth, predicted = read_grid_file(pair.gt, free_label), read_grid_file(pair.pred, free_label)
            _check_grid(spec, truth, predicted)
            keep, name = _mask(truth, mask, pair.gt)
            masked += [name] if name else []
            logits = _model_layout(_logits(predicted.occupancy))
            target = _model_layout(truth.occupancy.astype(np.float32))
            keep_t = None if keep is None else _model_layout(keep)
            input_occ = _input_occupancy(pair, spec, free_label, truth.occupancy.shape)
            overall.update(logits, target, keep_t)
            quality.update(logits, target, _model_layout(input_occ), keep_t)
            if pair.scene not in scenes:
                scenes[pair.scene], scene_frames[pair.scene] = OccupancyMetrics(t, [t], num_levels=nz), 0
            scenes[pair.scene].update(logits, target, keep_t)
            scene_frames[pair.scene] += 1
            _update_semantic(semantic, predicted, truth, keep, pair)
            if origins is not None:
                _update_rays(rays, eval_cfg, spec, logits, target, predicted, truth, origins[pair.key])
            frame_iou = iou_of(*confusion_grids(predicted.occupancy, truth.occupancy, spec, keep, t))
            frames.append({"name": pair.key, "scene": pair.scene, "iou": _finite(frame_iou)})
            bar.advance(1)
    source = f"{pred} (scored by occkit score against {gt})"
    report = build_report(overall, scenes, scene_frames, None, spec, t, bool(masked), "files", source, len(pairs))
    if rays:
        report["ray_iou"] = {name: _finite(value) if name != "num_rays" else int(value)
                             for name, value in rays["binary"].compute().items()
                             if name.startswith("rayiou") or name == "num_rays"}
        if "semantic" in rays:
            sem = rays["semantic"].compute()
            report["ray_iou"].update({f"semantic_{k}": _finite(v) for k, v in sem.items() if k.startswith("rayiou")})
    report["mask"] = "none" if not masked else masked[0] if len(masked) == len(pairs) else \
        f"{masked[0]} ({len(masked)} of {len(pairs)} frames have one; the others are scored whole)"
    baselines = baselines_report(quality.compute(), None)
    if inputs is None:  # without the input there is nothing to copy: the model's own split alone
        # and no seen / unseen split: every voxel is unseen
        baselines["predictors"] = {"model": {**baselines["predictors"]["model"], "recall_unseen": None,
                                             "precision_added": None}}
        baselines["summary"] = {k: {**v, "best_baseline": None, "best_baseline_value": None, "gain": None,
                                    "gap_closed": None} for k, v in baselines["summary"].items()}
        baselines["note"] = ("no baselines: pass the network's input grids (--inputs, e.g. from occkit voxelize) to "
                             "score the copied input, the dilated input and the lowest input level beside it")
    report["baselines"] = baselines
    if semantic:
        report["semantic"] = _semantic_report(semantic["metric"], semantic["free_label"])
    report["frames"] = sorted(frames, key=lambda f: (f["iou"] is None, f["iou"] if f["iou"] is not None else 0.0))
    result = EvalResult(report)
    if out_dir is not None:
        from occkit.evaluation.report import write_report

        if pictures:
            report["pictures"] = _pictures(report["frames"], pairs, spec, Path(out_dir) / "pictures", t, mask,
                                           free_label)
        result.json_path, result.md_path = write_report(report, out_dir)
    return result


def _pictures(frames: list[dict[str, Any]], pairs: list[ScorePair], spec: GridSpec, out: Path, threshold: float,
              mask: MaskChoice, free_label: int | None) -> list[dict[str, str]]:
    """TP / FP / FN overlays, slices and IoU by height of the worst and the median frame (``frames`` is sorted
    worst first): where a network fails, and what it does on a typical frame."""
    from occkit.viz.gridfile import read_grid_file
    from occkit.viz.pictures import write_pictures

    scored = [f for f in frames if f["iou"] is not None]
    picked = {"worst": scored[0], "median": scored[len(scored) // 2]} if scored else {}
    by_name = {p.key: p for p in pairs}
    written = []
    for role, frame in picked.items():
        if role == "median" and frame is picked["worst"]:
            continue
        pair = by_name[frame["name"]]
        truth, predicted = read_grid_file(pair.gt, free_label), read_grid_file(pair.pred, free_label)
        keep, _ = _mask(truth, mask, pair.gt)
        name = f"{role} frame {pair.key} (IoU {frame['iou']:.3f})"
        for what, path in write_pictures(predicted.occupancy, spec, out, gt=truth.occupancy, mask=keep,
                                         threshold=threshold, name=name, prefix=f"{role}_", html=False):
            written.append({"frame": pair.key, "role": role, "what": what, "path": str(path.relative_to(out.parent))})
    return written


def _origins(infos: Path, pairs: list[ScorePair]) -> dict[str, np.ndarray]:
    """SparseOcc's origins of every scored frame from the info file; a frame it does not list is an error."""
    from occkit.sources.occ3d import ray_origins_by_token

    scene_of = {p.key: p.scene for p in pairs}
    found = ray_origins_by_token(infos, scene_of.get)
    missing = [p.key for p in pairs if p.key not in found]
    if missing:
        raise InputFileError(infos, f"lists no frame for {len(missing)} of {len(pairs)} scored grids (first: "
                                    f"{missing[0]!r}); RayIoU needs each frame's pose and its scene's")
    return found


def _update_rays(rays: dict[str, Any], eval_cfg: Any, spec: GridSpec, logits: Any, target: Any, predicted: Any,
                 truth: Any, origins: np.ndarray) -> None:
    """Binary RayIoU on every frame; semantic RayIoU where both grids carry labels (the classes of the first)."""
    from occkit.metrics import MetricInputError
    from occkit.metrics.build import build_ray_iou

    if "binary" not in rays:
        rays["binary"] = build_ray_iou(eval_cfg, spec)
    rays["binary"].update(logits, target, None, origins=[origins])
    if predicted.semantics is None or truth.semantics is None:
        return
    if "semantic" not in rays:
        labels = [int(a[a != 255].max(initial=0)) for a in (predicted.semantics, truth.semantics)]
        rays["semantic"] = build_ray_iou(eval_cfg, spec, num_classes=max(truth.free_label, *labels) + 1,
                                         free_label=truth.free_label)
    try:
        rays["semantic"].update(_model_layout(predicted.semantics.astype(np.int64)),
                                _model_layout(truth.semantics.astype(np.int64)), None, origins=[origins])
    except MetricInputError as err:
        raise InputFileError(predicted.path, f"its labels do not fit the classes of the first frame: {err}") from None


def _check_grid(spec: GridSpec, *files: Any) -> None:
    """Every grid file of a frame (``GridFile``) has the scored grid's shape, and the grid it stores is that one."""
    for f in files:
        spec.check_array(f.occupancy, str(f.path))
        if f.spec is not None and f.spec != spec:
            raise GridMismatchError(f"{f.path}: stores {f.spec.describe()}, the frames are scored on {spec.describe()}")


def _mask(truth: Any, choice: MaskChoice, path: Path) -> tuple[np.ndarray | None, str | None]:
    """The voxels to score and the mask's name; ``auto`` is Occ3D's convention, the camera mask where there is one."""
    if choice == "none" or (choice == "auto" and "mask_camera" not in truth.masks):
        return None, None
    key = "mask_camera" if choice == "auto" else f"mask_{choice}"
    if key not in truth.masks:
        raise GridMismatchError(f"--mask {choice}: {path} holds no {key} (it has {sorted(truth.masks) or 'none'})")
    return truth.masks[key], key


def _logits(occupancy: np.ndarray) -> np.ndarray:
    """A bool grid as +-BOOL_LOGIT, probabilities as their logits (clipped a hair inside 0 and 1)."""
    if occupancy.dtype == bool:
        return np.where(occupancy, BOOL_LOGIT, -BOOL_LOGIT).astype(np.float32)
    p = np.clip(occupancy.astype(np.float64), 1e-9, 1 - 1e-9)
    return np.log(p / (1 - p)).astype(np.float32)


def _model_layout(grid: np.ndarray) -> Any:
    """[x, y, z] numpy -> (1, Z, Y, X) tensor, through occkit's one layout function pair."""
    import torch

    from occkit.geometry.layout import grid_to_channels

    return torch.from_numpy(np.ascontiguousarray(grid_to_channels(grid)))[None]


def _input_occupancy(pair: ScorePair, spec: GridSpec, free_label: int | None, shape: tuple[int, ...]) -> np.ndarray:
    if pair.input is None:
        return np.zeros(shape, bool)
    from occkit.viz.gridfile import read_grid_file

    given = read_grid_file(pair.input, free_label)
    _check_grid(spec, given)
    occ = given.occupancy
    return occ if occ.dtype == bool else occ > 0.5


def _update_semantic(state: dict[str, Any], predicted: Any, truth: Any, keep: np.ndarray | None,
                     pair: ScorePair) -> None:
    """Occ3D mIoU where both grids carry labels; the classes are fixed by the first such frame."""
    if predicted.semantics is None or truth.semantics is None:
        return
    import torch

    from occkit.metrics import MetricInputError, SemanticMIoU

    if "metric" not in state:
        if predicted.free_label != truth.free_label:
            raise GridMismatchError(f"{pair.pred} marks free with {predicted.free_label}, {pair.gt} with "
                                    f"{truth.free_label}: pass --free-label for both")
        labels = [int(a[a != 255].max(initial=0)) for a in (predicted.semantics, truth.semantics)]
        state["free_label"] = truth.free_label
        state["metric"] = SemanticMIoU(num_classes=max(truth.free_label, *labels) + 1, free_label=truth.free_label)
    try:
        state["metric"].update(torch.from_numpy(predicted.semantics.astype(np.int64)),
                               torch.from_numpy(truth.semantics.astype(np.int64)),
                               None if keep is None else torch.from_numpy(keep))
    except MetricInputError as err:
        raise InputFileError(pair.pred, f"its labels do not fit the classes of the first frame: {err}") from None


def _semantic_report(metric: Any, free_label: int) -> dict[str, Any]:
    out = metric.compute()
    per_class = [float(v) for v in out["per_class_iou"].reshape(-1)]
    return {"miou": _finite(out["miou"]), "free_label": free_label,
            "per_class_iou": {str(i): _finite(v) for i, v in enumerate(per_class) if i != free_label}}


def _finite(v: Any) -> float | None:
    x = float(v)
    return x if math.isfinite(x) else None
