"""The trivial predictors every trained model is measured against, all from the input occupancy alone.

A network is only worth its gain over what needs no training (docs/DESIGN.md, "every figure beside its
baseline"). Each predictor maps the input occupancy ``(B, Z, Y, X)`` bool to a predicted occupancy of the
same shape:

* ``copy``: the input voxels themselves (a subset of a LiDAR target has precision 1);
* ``dilate``: the input dilated by one voxel in x and y (a 3 x 3 plan neighbourhood) at every level;
* ``ground_lowest``: per column, the lowest level that holds input points (nothing where a column is empty);
* ``ground_plane``: one flat plane at the most common occupied target level of the train split;
* ``ground_dem``: where the input carries the frame's elevation model (the ``dem_ground`` feature), the level
  nearest its ground in every column: what a DEM says without a network.
* ``ground_dem_split``: the same, plus the neighbouring level where the DEM height lies within a tenth of a level
  of the boundary between them (``occkit.data.elevation.SPLIT_TENT``): an accumulated ground there spans both.
* ``surface``: where the input carries the ``surface`` feature (``occkit.data.surface``), the two levels around
  the raised points' smoothed height, with the DEM's ground where the input has it too: a classical surface
  model from the same points (median over a window of columns), not a trivial predictor, but what needs no
  training.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
import torch.nn.functional as F

BASELINE_LABELS = {
    "copy": "copy the input",
    "dilate": "input dilated 1 voxel (x/y)",
    "ground_lowest": "ground: lowest input level per column",
    "ground_plane": "ground: plane at the train split's most common level",
    "ground_dem": "ground: the elevation model's level per column",
    "ground_dem_split": "ground: the elevation model's level, and the next one near a level boundary",
    "surface": "smoothed surface of the raised points (+ the elevation model's ground)",
}


def dilate_plan(occ: torch.Tensor) -> torch.Tensor:
    """Dilate (B, Z, Y, X) bool by one voxel in x and y (3 x 3 max filter per level)."""
    b, z, y, x = occ.shape
    flat = occ.reshape(b * z, 1, y, x).float()
    return (F.max_pool2d(flat, 3, stride=1, padding=1) > 0).reshape(b, z, y, x)


def lowest_level(occ: torch.Tensor) -> torch.Tensor:
    """(B, Y, X) long: the lowest occupied level per column, Z where the column is empty."""
    z = occ.shape[1]
    levels = torch.arange(z, device=occ.device).view(1, z, 1, 1)
    return torch.where(occ, levels, torch.full_like(levels, z)).amin(dim=1)


def level_plane(levels: torch.Tensor, z: int) -> torch.Tensor:
    """(B, Y, X) levels -> (B, Z, Y, X) bool with one voxel per column at that level (none where level = Z)."""
    return torch.arange(z, device=levels.device).view(1, z, 1, 1) == levels.unsqueeze(1)


def baseline_predictions(input_occ: torch.Tensor, plane_level: int | None,
                         dem_ground: torch.Tensor | None = None,
                         surface: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Every baseline's occupancy for a batch; ``ground_plane`` only when the train split's level is known,
    ``ground_dem`` and ``ground_dem_split`` only when the DEM's ground levels are given
    (``occkit.data.elevation.dem_ground_levels``: 1 on the nearest level, 2 on the next one near a boundary),
    ``surface`` only when the surface's levels are (``occkit.data.surface.surface_levels``)."""
    occ = input_occ.bool()
    z = occ.shape[1]
    out = {"copy": occ, "dilate": dilate_plan(occ), "ground_lowest": level_plane(lowest_level(occ), z)}
    if plane_level is not None:
        plane = torch.zeros_like(occ)
        plane[:, int(plane_level)] = True
        out["ground_plane"] = plane
    nearest = None if dem_ground is None else dem_ground == 1
    if dem_ground is not None:
        out["ground_dem"] = nearest
        out["ground_dem_split"] = dem_ground > 0
    if surface is not None:
        out["surface"] = surface.bool() | (nearest if nearest is not None else False)
    return out


def most_common_level(targets: Iterable[np.ndarray | torch.Tensor]) -> int | None:
    """The height level (model layout, dim 0 of each (Z, Y, X) target) with the most occupied voxels overall."""
    counts: np.ndarray | None = None
    for t in targets:
        arr = t.numpy() if isinstance(t, torch.Tensor) else np.asarray(t)
        per_level = (arr >= 0.5).reshape(arr.shape[0], -1).sum(axis=1)
        counts = per_level if counts is None else counts + per_level
    if counts is None or counts.sum() == 0:
        return None
    return int(np.argmax(counts))


def train_split_plane_level(data_cfg: object, seed: int, max_samples: int = 32) -> int | None:
    """``most_common_level`` over (up to ``max_samples``, evenly spread) targets of the train split."""
    from occkit.data.dataset import OccupancyDataset

    return dataset_plane_level(OccupancyDataset(data_cfg, "train", seed=seed, augment=False), max_samples)


def dataset_plane_level(dataset: object, max_samples: int = 32) -> int | None:
    """``most_common_level`` over up to ``max_samples`` targets spread evenly over an occkit dataset."""
    n = len(dataset)  # type: ignore[arg-type]
    if n == 0:
        return None
    picks = np.unique(np.linspace(0, n - 1, min(max_samples, n)).round().astype(int))
    return most_common_level(dataset[int(i)]["target"] for i in picks)  # type: ignore[index]
