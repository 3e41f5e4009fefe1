"""The ground-plane depth prior (model.depth.prior="ground_plane"): the depth of the plane z = ground_z per pixel."""

from __future__ import annotations

import math

import numpy as np
import torch

from occkit.depth.plane_prior import ground_plane_depth
from occkit.geometry.transforms import make_transform

K = torch.tensor([[[100.0, 0.0, 49.5], [0.0, 100.0, 39.5], [0.0, 0.0, 1.0]]])


def _nadir(height: float, pitch_deg: float = 0.0) -> torch.Tensor:
    """A camera ``height`` m over the grid's datum looking straight down (OpenCV z = grid -z), tilted about x."""
    down = np.array([[1.0, 0, 0], [0, -1.0, 0], [0, 0, -1.0]])  # camera x = grid x, y = -y, z = -z
    a = math.radians(pitch_deg)
    tilt = np.array([[1.0, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])
    return torch.from_numpy(make_transform(down @ tilt, [0.0, 0.0, height])).float()[None]


def test_a_nadir_camera_sees_the_plane_at_its_height_everywhere() -> None:
    depth = ground_plane_depth(K, _nadir(80.0), 80, 100)
    assert depth.shape == (1, 80, 100)
    torch.testing.assert_close(depth, torch.full_like(depth, 80.0))
    raised = ground_plane_depth(K, _nadir(80.0), 80, 100, ground_z=5.0)
    torch.testing.assert_close(raised, torch.full_like(raised, 75.0))


def test_a_tilted_camera_sees_the_plane_nearer_on_one_side() -> None:
    """Tilted by 10 degrees: the principal ray meets the plane at H / cos(10 deg) along the ray, so its z-depth is
    H / cos(10 deg) ... and rows on the near side see the plane closer than rows on the far side."""
    depth = ground_plane_depth(K, _nadir(50.0, 10.0), 80, 100)[0]
    # the principal point (49.5, 39.5) is between pixels: average the four around it
    centre = float(depth[39:41, 49:51].mean())
    assert abs(centre - 50.0 / math.cos(math.radians(10.0))) < 0.3
    assert (depth[0, 50] - depth[-1, 50]).abs() > 5.0  # one edge of the image is nearer than the other
    # each pixel's ray, scaled by its depth, ends on the plane z = 0
    v, u = 5, 90
    ray = torch.linalg.inv(K[0].double()) @ torch.tensor([u, v, 1.0], dtype=torch.float64)
    T = _nadir(50.0, 10.0)[0].double()
    point = T[:3, :3] @ (ray * float(depth[v, u])) + T[:3, 3]
    assert abs(float(point[2])) < 1e-3


def test_rays_that_never_reach_the_plane_get_the_max_depth() -> None:
    up = _nadir(50.0, 180.0)  # looking straight up
    depth = ground_plane_depth(K, up, 8, 10, max_depth=300.0)
    assert torch.all(depth == 300.0)
    below = ground_plane_depth(K, _nadir(-5.0), 8, 10, max_depth=300.0)  # a camera under the plane
    assert torch.all(below == 300.0)
