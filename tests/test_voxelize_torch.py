"""The torch scatter voxelizer equals the numpy voxelizer (run here on CPU tensors; the same code runs on a GPU)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from occkit.geometry.grid import GridSpec
from occkit.geometry.voxelize import voxelize
from occkit.geometry.voxelize_torch import voxelize_occupancy_torch

SPEC = GridSpec(pc_range=(-8.0, -8.0, -2.0, 8.0, 8.0, 4.0), voxel_size=(0.4, 0.4, 0.5))


def test_same_occupancy_as_numpy_including_faces_and_points_outside() -> None:
    rng = np.random.default_rng(0)
    pts = np.column_stack([rng.uniform(-9, 9, (5000, 2)), rng.uniform(-3, 5, 5000)])
    faces = np.array([[-8.0, -8.0, -2.0], [8.0, 0.0, 0.0], [0.4, 0.8, 1.0], [-0.0, 7.99, 3.99]])  # lower / upper
    pts = np.vstack([pts, faces])
    ref = voxelize(pts, SPEC, features=("occupancy",)).occupancy.astype(bool)
    got = voxelize_occupancy_torch(torch.from_numpy(pts), SPEC).numpy()  # float64: exactly the numpy rule
    assert got.shape == SPEC.shape and np.array_equal(got, ref)
    assert got[0, 0, 0]  # a point on the grid's lower faces is inside, in the corner voxel
    assert got[21, 22, 6]  # (0.4, 0.8, 1.0) sits on the lower faces of voxel (21, 22, 6)
    only_upper = voxelize_occupancy_torch(torch.tensor([[8.0, 0.0, 0.0], [0.0, 8.0, 0.0], [0.0, 0.0, 4.0]]), SPEC)
    assert not only_upper.any()  # the upper faces of the range are outside (half-open)
    assert voxelize_occupancy_torch(torch.zeros((0, 3)), SPEC).sum() == 0
    with pytest.raises(ValueError, match="\\(N, >=3\\)"):
        voxelize_occupancy_torch(torch.zeros(5), SPEC)
