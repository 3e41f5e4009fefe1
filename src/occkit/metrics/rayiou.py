"""RayIoU (SparseOcc, Liu et al., arXiv 2312.17118): IoU over LiDAR-like rays instead of voxels.

For every ray, the first occupied voxel along it is found in the ground truth and in the prediction. Only rays
that hit something in the ground truth are scored. A ray is a true positive for class c at depth threshold d
when both first hits have class c and ``|depth_pred - depth_gt| < d``. Per class,
``IoU_c = TP_c / (GT_c + PRED_c - TP_c)`` with GT_c / PRED_c the scored rays whose GT / predicted first hit has
class c (a prediction that hits nothing along a scored ray adds to no PRED_c). RayIoU@d is the mean of IoU_c over
classes that occur (NaN classes skipped, free never a class); ``rayiou`` is the mean over d in (1, 2, 4) m.
Binary mode has one class, "occupied".

What is simplified against SparseOcc's official ``ray_metrics.py``:

* origins: where a sample carries its sensor positions (``sensor_origins``, in the grid frame; up to
  ``max_origins``, 8 by default) rays start there. Occ3D frames read with an info file state SparseOcc's own
  choice (its scene's LiDAR origins within 39 m in plan, eight evenly spaced: ``occkit.metrics.ray_origins``);
  the synthetic world's are the frame's own LiDAR and its accumulated sweeps'; otherwise rays start from fixed
  points in the grid frame (config);
* a downward-looking UAV sensor flies above the grid: its rays enter the grid box through the top (the traversal
  clips every ray to the box), so the ring elevations should look down (e.g. -88..-61 degrees) rather than use
  SparseOcc's nuScenes pitches (-45..+12), which from 100 m up would mostly miss the grid;
* rays are traversed exactly with a voxel DDA (their CUDA ``dvr`` renderer): the fixed origins' voxels once, as a
  table every sample reuses; a frame's own origins are marched for that frame alone, each ray stopping once it
  has hit in both grids (``occkit.metrics.rays.march_first_hits``, the same hits, about 0.6 s a frame for eight
  origins on Occ3D's grid on a 2-core CPU against 2.4 s through a table). The depth of a hit is the distance from
  the origin to where the ray enters the first occupied voxel;
* voxels labelled ``ignore_index`` (255) are transparent (SparseOcc treats every label but free as occupied);
* no visibility mask is applied unless one is passed; then rays whose GT hit voxel is masked out are dropped.
The ray directions default to SparseOcc's nuScenes pitch angles (``sparseocc_elevations_deg``) x 360 azimuths.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torchmetrics import Metric

from occkit.errors import ConfigError, GridMismatchError
from occkit.geometry.grid import GridSpec
from occkit.geometry.layout import channels_to_grid
from occkit.metrics._checks import (
    as_tensor,
    batched_zyx,
    check_labels,
    check_mask,
    check_probability,
    same_shape,
)
from occkit.metrics.occupancy import safe_div
from occkit.metrics.rays import first_hits, march_first_hits, ray_directions, traversal_table

DEFAULT_DEPTH_THRESHOLDS = (1.0, 2.0, 4.0)


class RayIoU(Metric):
    """RayIoU at several depth thresholds; binary (logits) or semantic (labels with ``num_classes``).

    Inputs are in model layout (B, Z, Y, X) or (Z, Y, X) on ``spec``. Binary: ``update(logits, target, mask)``
    with ``sigmoid(logit) > threshold`` and ``target >= 0.5``. Semantic: ``update(pred_labels, gt_labels, mask)``
    with integer labels, ``free_label`` empty and ``ignore_index`` transparent.
    """

    full_state_update = False
    higher_is_better = True
    is_differentiable = False

    def __init__(self, spec: GridSpec, origins: Sequence[Sequence[float]] = ((0.0, 0.0, 0.0),),
                 num_azimuth: int = 360, elevations_deg: Sequence[float] | None = None,
                 directions: np.ndarray | None = None, depth_thresholds: Sequence[float] = DEFAULT_DEPTH_THRESHOLDS,
                 max_range: float | None = None, threshold: float = 0.5, num_classes: int | None = None,
                 free_label: int = 17, ignore_index: int | None = 255, max_origins: int = 8, **kwargs) -> None:
        super().__init__(**kwargs)
        if not isinstance(spec, GridSpec):
            raise ConfigError(f"spec: expected a GridSpec, got {type(spec).__name__}")
        self.spec = spec
        self.origins = np.asarray(origins, dtype=np.float64).reshape(-1, 3) if len(origins) else None
        if self.origins is None or not np.all(np.isfinite(self.origins)):
            raise ConfigError(f"origins: expected a list of (x, y, z) sensor positions in metres, got {origins!r}")
        dirs = ray_directions(num_azimuth, elevations_deg) if directions is None else np.asarray(directions, float)
        if dirs.ndim != 2 or dirs.shape[1] != 3 or len(dirs) == 0 or np.any(np.linalg.norm(dirs, axis=1) == 0):
            raise ConfigError(f"directions: expected (N, 3) non-zero vectors, got shape {dirs.shape}")
        self.directions = dirs
        th = sorted(float(t) for t in depth_thresholds)
        if not th or th[0] <= 0:
            raise ConfigError(f"depth_thresholds: expected positive distances in metres, got {list(depth_thresholds)}")
        self.depth_thresholds = th
        if max_range is not None and max_range <= 0:
            raise ConfigError(f"max_range: expected a positive distance in metres or None, got {max_range!r}")
        self.max_range = max_range
        self.threshold = check_probability(threshold, "threshold")
        self.semantic = num_classes is not None
        self.num_classes = int(num_classes) if num_classes is not None else 1
        if self.semantic and not 0 <= free_label < self.num_classes:
            raise ConfigError(f"free_label: expected a class id in [0, {self.num_classes - 1}], got {free_label!r}")
        self.free_label = free_label
        self.ignore_index = ignore_index
        c, t = self.num_classes, len(th)
        self.add_state("gt_count", default=torch.zeros(c, dtype=torch.int64), dist_reduce_fx="sum")
        self.add_state("pred_count", default=torch.zeros(c, dtype=torch.int64), dist_reduce_fx="sum")
        self.add_state("tp_count", default=torch.zeros(t, c, dtype=torch.int64), dist_reduce_fx="sum")
        self.add_state("num_rays", default=torch.tensor(0, dtype=torch.int64), dist_reduce_fx="sum")
        self._tables: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self.max_origins = int(max_origins)

    # ---- geometry ---------------------------------------------------------------------------------
    def _table(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """The fixed origins' traversal tables stacked along the ray axis, cached per device."""
        key = str(device)
        if key not in self._tables:
            flat, depth = stack_tables(self.spec, self.origins, self.directions, self.max_range)
            self._tables[key] = (flat.to(device), depth.to(device))
        return self._tables[key]

    def _to_flat(self, x: torch.Tensor, what: str) -> torch.Tensor:
        """(B, Z, Y, X) -> (B, N) in C-ordered [x, y, z], checked against the spec."""
        z, y, xx = x.shape[1:]
        if (xx, y, z) != self.spec.shape:
            raise GridMismatchError(f"{what} has (Z, Y, X) = {(z, y, xx)} but {self.spec.describe()} needs "
                                    f"{tuple(reversed(self.spec.shape))}")
        return channels_to_grid(x).reshape(x.shape[0], -1)

    # ---- accumulation -----------------------------------------------------------------------------
    def update(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None,
               origins: Sequence[Any] | None = None, hits: Sequence[Any] | None = None) -> None:
        """Binary: logits and target; semantic: predicted and GT labels. (B, Z, Y, X) or (Z, Y, X).

        ``origins``: per sample, the (K, 3) sensor positions in the grid frame to cast from (the frame's own
        sensor and its neighbours'; the first ``max_origins`` are used). None casts from the fixed origins.
        ``hits``: per sample, ``((pred_hit, pred_depth), (target_hit, target_depth))`` already marched from those
        origins (``update_binary_together``).
        """
        pred = batched_zyx(as_tensor(pred, "pred"), "pred")
        target = batched_zyx(as_tensor(target, "target"), "target").to(pred.device)
        same_shape(pred, target, "pred", "target")
        keep = check_mask(mask, target, "target")
        if self.semantic:
            check_labels(pred, "pred_labels", self.num_classes, self.ignore_index)
            check_labels(target, "gt_labels", self.num_classes, self.ignore_index)
            pred_lab, gt_lab = pred.long(), target.long()
            pred_occ = (pred_lab != self.free_label) & (pred_lab < self.num_classes)
            gt_occ = (gt_lab != self.free_label) & (gt_lab < self.num_classes)
            labels = (self._to_flat(pred_lab, "pred"), self._to_flat(gt_lab, "target"))
        else:
            pred_occ = pred.float().sigmoid() > self.threshold
            gt_occ = target >= 0.5
            labels = None
        p_occ, g_occ = self._to_flat(pred_occ, "pred"), self._to_flat(gt_occ, "target")
        keep_flat = None if keep is None else self._to_flat(keep, "mask")
        if origins is None:
            flat, depth = self._table(pred.device)
            self._count(*first_hits(p_occ, flat, depth), *first_hits(g_occ, flat, depth), keep_flat, labels)
            return
        if len(origins) != pred.shape[0]:
            raise ConfigError(f"origins: expected one (K, 3) array per sample ({pred.shape[0]}), got {len(origins)}")
        for i, o in enumerate(origins):
            one = slice(i, i + 1)
            lab = None if labels is None else (labels[0][one], labels[1][one])
            # a frame's own origins are marched for it alone: a table would be built for one use
            (p_hit, p_depth), (g_hit, g_depth) = hits[i] if hits is not None else \
                self._march(o, [p_occ[one], g_occ[one]])
            self._count(p_hit, p_depth, g_hit, g_depth, None if keep_flat is None else keep_flat[one], lab)

    def _march(self, origins: Any, occupied: Sequence[torch.Tensor]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """``march_first_hits`` of one sample's (1, N) occupancies from its origins (checked, the first
        ``max_origins``), back on the occupancy's device."""
        o = np.asarray(origins.cpu() if isinstance(origins, torch.Tensor) else origins, np.float64).reshape(-1, 3)
        if len(o) == 0 or not np.all(np.isfinite(o)):
            raise ConfigError(f"origins: expected finite (K, 3) sensor positions in metres, got {o.tolist()}")
        grids = [x.reshape(-1).cpu().numpy() for x in occupied]
        device = occupied[0].device
        return [(h.to(device), d.to(device)) for h, d in
                march_first_hits(self.spec, o[: self.max_origins], self.directions, grids, self.max_range)]

    def _count(self, p_hit: torch.Tensor, p_depth: torch.Tensor, g_hit: torch.Tensor, g_depth: torch.Tensor,
               keep_flat: torch.Tensor | None, labels: tuple[torch.Tensor, torch.Tensor] | None) -> None:
        """Add the rays' first hits (B, R) in the prediction and the target (index, entry distance) to the counts."""
        n = self.spec.num_voxels
        scored = g_hit < n
        if keep_flat is not None:
            scored &= torch.gather(torch.cat([keep_flat, keep_flat.new_zeros(keep_flat.shape[0], 1)], dim=1), 1, g_hit)
        p_valid = (p_hit < n) & scored
        if labels is not None:
            pad = torch.full((p_hit.shape[0], 1), -1, dtype=torch.long, device=p_hit.device)
            p_cls = torch.gather(torch.cat([labels[0], pad], 1), 1, p_hit)
            g_cls = torch.gather(torch.cat([labels[1], pad], 1), 1, g_hit)
        else:
            g_cls = torch.zeros_like(g_hit)
            p_cls = torch.zeros_like(p_hit)
        c = self.num_classes
        self.gt_count += torch.bincount(g_cls[scored], minlength=c)[:c].to(self.gt_count.device)
        self.pred_count += torch.bincount(p_cls[p_valid], minlength=c)[:c].to(self.pred_count.device)
        same_cls = p_valid & (p_cls == g_cls)
        err = (p_depth - g_depth).abs()
        for j, d in enumerate(self.depth_thresholds):
            tp = same_cls & (err < d)
            self.tp_count[j] += torch.bincount(g_cls[tp], minlength=c)[:c].to(self.tp_count.device)
        self.num_rays += scored.sum().to(self.num_rays.device)

    def compute(self) -> dict[str, torch.Tensor]:
        per_class = safe_div(self.tp_count, self.gt_count + self.pred_count - self.tp_count)  # (T, C)
        if self.semantic:
            keep = torch.ones(self.num_classes, dtype=torch.bool, device=per_class.device)
            keep[self.free_label] = False
            per_class_scored = per_class[:, keep]
        else:
            per_class_scored = per_class
        at = torch.nanmean(per_class_scored, dim=1)  # (T,)
        out = {"rayiou": at.mean()}
        for d, v in zip(self.depth_thresholds, at, strict=True):
            out[f"rayiou_{d:g}m"] = v
        out["per_class_rayiou"] = per_class
        out["num_rays"] = self.num_rays.clone()
        return out


def update_binary_together(metrics: Sequence[RayIoU], logits: Sequence[torch.Tensor], target: torch.Tensor,
                           mask: torch.Tensor | None = None, origins: Sequence[Any] | None = None) -> None:
    """Several binary predictions of one batch against its target (``occkit eval``'s model and its baselines):
    each frame's rays are marched once for all of them. The same counts as one ``update`` each (tested)."""
    first = metrics[0]
    shared = all(not m.semantic and m.spec == first.spec and np.array_equal(m.directions, first.directions)
                 and m.max_range == first.max_range and m.max_origins == first.max_origins for m in metrics)
    if origins is None or not shared:
        for metric, pred in zip(metrics, logits, strict=True):
            metric.update(pred, target, mask, origins=origins)
        return
    target = batched_zyx(as_tensor(target, "target"), "target")
    preds = [batched_zyx(as_tensor(p, "pred"), "pred").to(target.device) for p in logits]
    if len(origins) != target.shape[0]:  # shapes and the mask are checked by each update below
        raise ConfigError(f"origins: expected one (K, 3) array per sample ({target.shape[0]}), got {len(origins)}")
    g_occ = first._to_flat(target >= 0.5, "target")
    p_occ = [m._to_flat(p.float().sigmoid() > m.threshold, "pred") for m, p in zip(metrics, preds, strict=True)]
    per_sample = [first._march(o, [p[i:i + 1] for p in p_occ] + [g_occ[i:i + 1]]) for i, o in enumerate(origins)]
    for k, (metric, pred) in enumerate(zip(metrics, preds, strict=True)):  # through update: torchmetrics counts it
        metric.update(pred, target, mask, origins=origins, hits=[(s[k], s[-1]) for s in per_sample])


def stack_tables(spec: GridSpec, origins: np.ndarray, directions: np.ndarray,
                 max_range: float | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Traversal tables of several origins stacked along the ray axis (padded with the sentinel / inf)."""
    parts = [traversal_table(spec, o, directions, max_range) for o in origins]
    width = max(f.shape[1] for f, _ in parts)
    flat = torch.cat([torch.nn.functional.pad(f, (0, width - f.shape[1]), value=spec.num_voxels) for f, _ in parts])
    depth = torch.cat([torch.nn.functional.pad(d, (0, width - d.shape[1]), value=float("inf")) for _, d in parts])
    return flat, depth
