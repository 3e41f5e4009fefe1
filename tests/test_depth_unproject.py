"""unproject_depth / project_points on synthetic depth maps with known geometry."""

import numpy as np
import pytest

from occkit.depth.unproject import project_points, scale_intrinsics, unproject_depth
from occkit.errors import PoseError
from occkit.geometry.transforms import make_transform, yaw_transform

K = np.array([[100.0, 0.0, 3.0], [0.0, 50.0, 2.0], [0.0, 0.0, 1.0]])


def test_plane_at_known_depth_lands_at_known_positions():
    depth = np.full((4, 6), 5.0, np.float32)
    pts = unproject_depth(depth, K)
    assert pts.dtype == np.float32 and pts.shape == (24, 3)
    v, u = np.mgrid[0:4, 0:6]
    expected = np.stack([(u.ravel() - 3.0) * 5.0 / 100.0, (v.ravel() - 2.0) * 5.0 / 50.0, np.full(24, 5.0)], 1)
    np.testing.assert_allclose(pts, expected, atol=1e-6)
    # The principal-point pixel (u=3, v=2) sits on the optical axis (OpenCV: centres at integers).
    np.testing.assert_allclose(pts[2 * 6 + 3], [0.0, 0.0, 5.0], atol=1e-7)


def test_world_transform_applied():
    depth = np.full((4, 6), 5.0, np.float32)
    T = yaw_transform(np.pi / 2, [10.0, -2.0, 1.5])
    cam = unproject_depth(depth, K).astype(np.float64)
    world = unproject_depth(depth, K, T)
    expected = cam @ T[:3, :3].T + T[:3, 3]
    np.testing.assert_allclose(world, expected, atol=1e-5)
    # optical-axis point: camera (0, 0, 5) -> rotated z stays, plus translation
    np.testing.assert_allclose(world[2 * 6 + 3], [10.0, -2.0, 6.5], atol=1e-5)


def test_invalid_conf_and_range_filtering():
    depth = np.full((4, 6), 5.0, np.float32)
    depth[0, 0] = 0.0
    depth[0, 1] = np.nan
    depth[0, 2] = np.inf
    depth[0, 3] = -1.0
    depth[3, 5] = 50.0
    conf = np.ones_like(depth)
    conf[1, 0] = 0.1
    assert len(unproject_depth(depth, K)) == 20
    assert len(unproject_depth(depth, K, conf=conf, conf_threshold=0.5)) == 19
    assert len(unproject_depth(depth, K, max_range=10.0)) == 19
    with pytest.raises(ValueError, match="conf_threshold"):
        unproject_depth(depth, K, conf_threshold=0.5)


def test_bad_pose_and_shapes_raise():
    depth = np.ones((2, 2), np.float32)
    with pytest.raises(PoseError, match="T_world_cam"):
        unproject_depth(depth, K, make_transform() * 2)
    with pytest.raises(ValueError, match="depth must be"):
        unproject_depth(np.ones(4), K)
    with pytest.raises(ValueError, match="3x3"):
        unproject_depth(depth, np.eye(4))


def test_project_inverts_unproject():
    rng = np.random.default_rng(0)
    depth = rng.uniform(1, 20, (4, 6)).astype(np.float32)
    pts = unproject_depth(depth, K)
    uv, z, inside = project_points(pts, K, 6, 4)
    assert inside.all()
    v, u = np.mgrid[0:4, 0:6]
    np.testing.assert_allclose(uv, np.stack([u.ravel(), v.ravel()], 1), atol=1e-4)
    np.testing.assert_allclose(z, depth.ravel(), rtol=1e-6)
    _, _, inside = project_points(np.array([[0, 0, -1.0], [100, 0, 1.0]]), K, 6, 4)
    assert not inside.any()


def test_scale_intrinsics_keeps_pixel_centres():
    K2 = scale_intrinsics(K, (6, 4), (12, 8))
    # the point on the optical axis projects to the same physical spot: old centre pixel 3 -> new 6.5
    assert K2[0, 0] == 200.0 and K2[1, 1] == 100.0
    assert K2[0, 2] == pytest.approx(6.5) and K2[1, 2] == pytest.approx(4.5)


def test_views_to_sensor_points_lands_in_sensor_frame():
    from occkit.depth.pseudo import views_to_sensor_points
    from occkit.frame import CameraView, Frame

    T_world_sensor = yaw_transform(0.3, [5.0, 5.0, 1.0])
    T_sensor_cam = make_transform(np.array([[0, 0, 1.0], [-1.0, 0, 0], [0, -1.0, 0]]), [0.5, 0.0, -0.2])  # looks +x
    view = CameraView("front", K, T_world_sensor @ T_sensor_cam, 6, 4, depth=np.full((4, 6), 5.0, np.float32))
    frame = Frame("f", np.zeros((0, 3), np.float32), T_world_sensor, cameras=[view, CameraView("nodepth", K,
                  np.eye(4), 6, 4)])
    pts = views_to_sensor_points(frame)
    assert pts.shape == (24, 3)
    np.testing.assert_allclose(pts[2 * 6 + 3], [5.5, 0.0, -0.2], atol=1e-5)  # optical axis: 5 m ahead of the camera
