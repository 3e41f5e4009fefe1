"""GridSpec, rigid transforms and the grid <-> model axis pair."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from occkit.errors import GridMismatchError, PoseError
from occkit.geometry import (
    GridSpec,
    apply_transform,
    channels_to_grid,
    check_rigid,
    grid_to_channels,
    invert_transform,
    make_transform,
)
from occkit.geometry.transforms import yaw_transform


@pytest.mark.parametrize(("name", "shape"), [("occ3d_nuscenes", (200, 200, 16)), ("semantickitti", (256, 256, 32)),
                                             ("bev_height", (180, 180, 32)), ("uav", (200, 200, 121))])
def test_preset_shapes(name: str, shape: tuple[int, int, int]) -> None:
    spec = GridSpec.preset(name)
    assert spec.shape == shape
    assert spec.num_voxels == int(np.prod(shape))
    assert len(spec.z_centers()) == shape[2]


def test_unknown_preset_lists_known_ones() -> None:
    with pytest.raises(KeyError, match="occ3d_nuscenes"):
        GridSpec.preset("nuscenes")


def test_validation_errors() -> None:
    with pytest.raises(ValueError, match="not a whole number of voxels"):
        GridSpec(pc_range=(0, 0, 0, 10, 10, 1.1), voxel_size=(1.0, 1.0, 0.5))
    with pytest.raises(ValueError, match="positive"):
        GridSpec(pc_range=(0, 0, 0, 10, 10, 1), voxel_size=(1.0, 0.0, 0.5))
    with pytest.raises(ValueError, match="positive"):
        GridSpec(pc_range=(0, 0, 0, 10, 10, 1), voxel_size=(1.0, -1.0, 0.5))
    with pytest.raises(ValueError, match="max > min"):
        GridSpec(pc_range=(0, 0, 2, 10, 10, 1), voxel_size=(1.0, 1.0, 0.5))
    with pytest.raises(ValueError, match="frozen"):
        GridSpec.preset("uav").voxel_size = (1.0, 1.0, 1.0)


def test_from_shape_matches_preset() -> None:
    uav = GridSpec.preset("uav")
    assert GridSpec.from_shape(uav.pc_range, uav.shape).is_close(uav)


def test_check_same_names_both_specs() -> None:
    a, b = GridSpec.preset("uav"), GridSpec.preset("occ3d_nuscenes")
    a.check_same(GridSpec.preset("uav"), "prediction vs target")
    with pytest.raises(GridMismatchError) as info:
        a.check_same(b, "prediction vs target")
    msg = str(info.value)
    assert "prediction vs target" in msg and "200x200x121" in msg and "200x200x16" in msg
    with pytest.raises(GridMismatchError, match="200x200x16"):
        b.check_array(np.zeros((200, 200, 15)), "target")
    b.check_array(np.zeros((2, 200, 200, 16)), "batch", leading=1)


def test_points_to_indices_and_centres() -> None:
    spec = GridSpec(pc_range=(-2.0, -3.0, -1.0, 2.0, 3.0, 1.0), voxel_size=(0.5, 0.5, 0.25))
    pts = np.array([[-2.0, -3.0, -1.0], [0.5, 0.0, 0.25], [2.0, 0.0, 0.0], [1.99, 2.99, 0.99], [-2.01, 0, 0]])
    idx, inside = spec.points_to_indices(pts)
    np.testing.assert_array_equal(idx[[0, 1, 3]], [[0, 0, 0], [5, 6, 5], [7, 11, 7]])
    np.testing.assert_array_equal(inside, [True, True, False, True, False])
    centres = spec.indices_to_centers(idx[inside])
    np.testing.assert_allclose(centres, [[-1.75, -2.75, -0.875], [0.75, 0.25, 0.375], [1.75, 2.75, 0.875]])
    back, ok = spec.points_to_indices(centres)  # a centre maps back to its own voxel
    np.testing.assert_array_equal(back, idx[inside])
    assert ok.all()
    flat = spec.flat_index(idx[inside])
    np.testing.assert_array_equal(np.unravel_index(flat, spec.shape), idx[inside].T)


def _rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q *= np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def test_check_rigid_rejections() -> None:
    rng = np.random.default_rng(0)
    T = make_transform(_rotation(rng), [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(check_rigid(T), T)
    scaled = T.copy()
    scaled[:3, :3] *= 1.1
    with pytest.raises(PoseError, match="not orthonormal"):
        check_rigid(scaled, "T_world_lidar")
    bad_row = T.copy()
    bad_row[3] = [0.0, 0.0, 1.0, 1.0]
    with pytest.raises(PoseError, match="last row"):
        check_rigid(bad_row)
    with pytest.raises(PoseError, match="determinant"):
        check_rigid(np.diag([1.0, -1.0, 1.0, 1.0]))
    with pytest.raises(PoseError, match="4x4"):
        check_rigid(np.eye(3))
    with pytest.raises(PoseError, match="T_world_lidar: contains NaN"):
        check_rigid(np.full((4, 4), np.nan), "T_world_lidar")


def test_invert_and_apply() -> None:
    rng = np.random.default_rng(1)
    T = make_transform(_rotation(rng), rng.normal(size=3) * 10)
    np.testing.assert_allclose(invert_transform(T) @ T, np.eye(4), atol=1e-12)
    np.testing.assert_allclose(invert_transform(T), np.linalg.inv(T), atol=1e-12)
    pts = np.column_stack([rng.normal(size=(50, 3)), np.arange(50)])  # an extra column passes through
    moved = apply_transform(T, pts)
    np.testing.assert_allclose(moved[:, :3], (T @ np.column_stack([pts[:, :3], np.ones(50)]).T).T[:, :3])
    np.testing.assert_array_equal(moved[:, 3], np.arange(50))
    np.testing.assert_allclose(apply_transform(invert_transform(T), moved), pts, atol=1e-12)
    np.testing.assert_allclose(apply_transform(yaw_transform(np.pi / 2), np.array([[1.0, 0, 0]])), [[0, 1, 0]],
                               atol=1e-15)


def test_layout_pair() -> None:
    grid = np.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5)  # [B, X, Y, Z]
    ch = grid_to_channels(grid)
    assert ch.shape == (2, 5, 4, 3)  # [B, Z, Y, X]
    for x, y, z in [(0, 0, 0), (2, 1, 4), (1, 3, 2)]:
        assert ch[1, z, y, x] == grid[1, x, y, z]
    np.testing.assert_array_equal(channels_to_grid(ch), grid)
    t = torch.from_numpy(grid)
    assert torch.equal(grid_to_channels(t), torch.from_numpy(ch))
    assert torch.equal(channels_to_grid(grid_to_channels(t)), t)
    with pytest.raises(ValueError, match="at least 3 dims"):
        grid_to_channels(np.zeros((4, 4)))


def test_box_interval_enters_and_leaves_the_half_open_box() -> None:
    """The slab test visibility and RayIoU share: entry and exit of a crossing ray, a parallel ray inside a slab
    for all t, one on the box's open upper face never inside."""
    import numpy as np

    from occkit.geometry.slabs import box_interval

    lower, upper = np.zeros(3), np.array([4.0, 2.0, 1.0])
    starts = np.array([[-1.0, 1.0, 0.5], [1.0, 1.0, 0.5], [1.0, 2.0, 0.5]])
    directions = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    t_in, t_out = box_interval(starts, directions, lower, upper)
    assert (t_in[0], t_out[0]) == (1.0, 5.0)  # enters at x = 0, leaves at x = 4
    assert (t_in[1], t_out[1]) == (-0.5, 0.5)  # starts inside: the interval straddles t = 0
    assert t_in[2] >= t_out[2]  # y = 2 is the upper face of [0, 2): parallel to it, never inside
