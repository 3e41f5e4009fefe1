"""The Python API: load a trained model and predict on numpy point arrays, with the CLI's exact pipeline.

    import occkit
    model = occkit.load_model("runs/synthetic_uav-20261201-103134")   # a run dir or a .ckpt
    grid = model.predict(points)          # points: (N, >=3) numpy, sensor frame; optional pose=T_world_sensor
    grid.probability, grid.spec           # float32 [x, y, z] probabilities and their GridSpec
    cloud = model.refine(points)          # RefinedCloud: xyz (N, 3), origin (kept/snapped/added), prob, fields

``predict`` and ``refine`` go through the same code as ``occkit predict`` (occkit.evaluation.prediction), so a
file read with ``occkit.read_points`` gives the grid ``occkit predict`` writes for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from occkit.errors import ConfigError
from occkit.geometry.grid import GridSpec


@dataclass
class GridPrediction:
    """A predicted occupancy grid: probabilities [x, y, z] on ``spec``, placed by ``T_grid_sensor``."""

    probability: np.ndarray
    spec: GridSpec
    T_grid_sensor: np.ndarray
    threshold: float
    alignment: str  # how the grid was placed: ego, sensor, lidar_center ...

    @property
    def occupied(self) -> np.ndarray:
        """bool [x, y, z]: probability above the model's decision threshold."""
        return self.probability > self.threshold


class OccupancyModel:
    """A trained occkit network with its config; see the module docstring."""

    def __init__(self, module: Any, checkpoint: Path) -> None:
        from occkit.data.grids import FrameToGrids

        self.module = module.eval()
        self.cfg = module.cfg
        self.checkpoint = checkpoint
        self._to_grids = FrameToGrids(self.cfg.data)

    @property
    def spec(self) -> GridSpec:
        return self.cfg.data.grid

    @property
    def threshold(self) -> float:
        return float(self.cfg.eval.threshold)

    def _run(self, points: Any, pose: Any, refine: str | None, threshold: float | None) -> Any:
        from occkit.evaluation.prediction import predict_points, refuse_elevation_model
        from occkit.evaluation.refine_modes import REFINE_MODES

        refuse_elevation_model(self.cfg, self.checkpoint)
        pts = np.asarray(points)
        if pts.ndim != 2 or pts.shape[1] < 3 or not np.isfinite(pts[:, :3]).all():
            raise ConfigError(f"points: expected a finite (N, >=3) array in the sensor frame, got shape {pts.shape}")
        if refine is not None and refine not in REFINE_MODES:
            raise ConfigError(f"mode: expected one of {', '.join(REFINE_MODES)}, got {refine!r}")
        T = np.eye(4) if pose is None else np.asarray(pose, np.float64)
        if T.shape != (4, 4):
            raise ConfigError(f"pose: expected a 4x4 T_world_sensor, got shape {T.shape}")
        t = float(threshold if threshold is not None else self.cfg.eval.refine_threshold)
        return predict_points(self.module, self._to_grids, pts[:, :3], T, refine_threshold=t,
                              refine=refine)  # type: ignore[arg-type]

    def predict(self, points: Any, pose: Any = None) -> GridPrediction:
        """Occupancy probabilities for an (N, >=3) sensor-frame cloud (``pose``: 4x4 T_world_sensor)."""
        out = self._run(points, pose, None, None)
        return GridPrediction(out.prob, self.spec, out.alignment.T_grid_sensor, self.threshold, out.alignment.path)

    def refine(self, points: Any, pose: Any = None, *, mode: str = "default",
               threshold: float | None = None) -> Any:
        """The refined cloud (occkit.evaluation.refine_modes.RefinedCloud), in the input's sensor frame."""
        return self._run(points, pose, mode, threshold).refined


def load_model(path: str | Path, *, config: str | Path | None = None,
               overrides: list[str] | None = None) -> OccupancyModel:
    """Load a run directory (the checkpoint its report evaluated, else best.ckpt, else last.ckpt, with its config)
    or a .ckpt file, on the CPU."""
    from occkit.commands.evaluate import resolve_model
    from occkit.train.checkpoint import load_module

    checkpoint, cfg = resolve_model(Path(path), Path(config) if config else None, list(overrides or []))
    return OccupancyModel(load_module(checkpoint, cfg), checkpoint)
