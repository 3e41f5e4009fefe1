"""Pseudo-LiDAR inputs from images: the data pipeline calls Depth Anything 3 only when configured, and says
exactly how to provide it when the package or weights are missing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from occkit.data.config import DataConfig
from occkit.data.grids import FrameToGrids
from occkit.depth.da3 import DepthModelUnavailableError
from occkit.errors import ConfigError
from occkit.frame import CameraView, Frame
from occkit.geometry.grid import GridSpec


def image_frame(tmp_path: Path) -> Frame:
    path = tmp_path / "cam.jpg"
    Image.fromarray(np.full((24, 32, 3), 128, np.uint8)).save(path)
    K = np.array([[20.0, 0, 16], [0, 20.0, 12], [0, 0, 1]])
    cam = CameraView(name="cam", K=K, T_world_cam=np.eye(4), width=32, height=24, image_path=str(path))
    return Frame(frame_id="seq/0", points=np.zeros((0, 3), np.float32), T_world_sensor=np.eye(4), cameras=[cam])


def config(**depth) -> DataConfig:
    grid = GridSpec(pc_range=(-8.0, -8.0, -2.0, 8.0, 8.0, 2.0), voxel_size=(1.0, 1.0, 1.0))
    return DataConfig(grid=grid, input={"points": "pseudo"}, depth=depth)


def test_pseudo_input_without_depth_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="data.depth.model"):
        FrameToGrids(config())(image_frame(tmp_path))


def test_configured_da3_without_package_says_how_to_install(tmp_path: Path) -> None:
    pytest.importorskip("PIL")
    try:
        import depth_anything_3  # noqa: F401
        pytest.skip("depth_anything_3 is installed here; this test covers its absence")
    except ImportError:
        pass
    with pytest.raises(DepthModelUnavailableError, match=r'occkit\[da3\]'):
        FrameToGrids(config(model="depth-anything/DA3METRIC-LARGE"))(image_frame(tmp_path))
