"""Ray casting against analytic primitives: exact distances, normals, and culling that never drops a hit."""

from __future__ import annotations

import numpy as np
import pytest

from occkit.synthetic import classes as C
from occkit.synthetic.raycast import _hit_boxes, _hit_cylinders, _hit_ellipsoids, cast_rays
from occkit.synthetic.scene import Scene, Terrain, make_scene


def scene_with(boxes=(), ells=(), cyls=(), terrain: Terrain | None = None) -> Scene:
    """A scene holding exactly the given primitives (terrain far below unless given)."""
    t = terrain or Terrain(base=-1000.0)
    b = list(boxes)
    e = list(ells)
    c = list(cyls)
    return Scene(
        name="test", preset="uav_town", seed=0, terrain=t,
        box_center=np.array([x[0] for x in b], float).reshape(-1, 3), box_half=np.array([x[1] for x in b], float)
        .reshape(-1, 3), box_yaw=np.array([x[2] for x in b], float), box_cls=np.array([x[3] for x in b], np.int16),
        ell_center=np.array([x[0] for x in e], float).reshape(-1, 3), ell_radii=np.array([x[1] for x in e], float)
        .reshape(-1, 3), ell_cls=np.array([x[2] for x in e], np.int16),
        cyl_xy=np.array([x[0] for x in c], float).reshape(-1, 2), cyl_z=np.array([x[1] for x in c], float)
        .reshape(-1, 2), cyl_radius=np.array([x[2] for x in c], float), cyl_cls=np.array([x[3] for x in c], np.int16))


def unit(v) -> np.ndarray:
    v = np.asarray(v, float)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def test_rotated_box_hit_distance_and_normal():
    # box centred at (10, 0, 0), half extents (1, 2, 3), rotated 30 deg about z
    yaw = np.deg2rad(30)
    scene = scene_with(boxes=[((10.0, 0.0, 0.0), (1.0, 2.0, 3.0), yaw, C.BUILDING)])
    # along the box's local -x face normal, aimed at the centre: distance = |c - o| - 1
    n_face = np.array([np.cos(yaw), np.sin(yaw), 0.0])
    origin = np.array([10.0, 0.0, 0.0]) - 7.0 * n_face
    hits = cast_rays(scene, origin, n_face[None])
    assert hits.t[0] == pytest.approx(6.0, abs=1e-4)
    assert hits.cls[0] == C.BUILDING
    np.testing.assert_allclose(hits.normal[0], -n_face, atol=1e-9)
    # straight down onto the top face from z = 10
    hits = cast_rays(scene, np.array([10.2, 0.3, 10.0]), np.array([[0.0, 0.0, -1.0]]))
    assert hits.t[0] == pytest.approx(7.0, abs=1e-4)
    np.testing.assert_allclose(hits.normal[0], [0, 0, 1], atol=1e-9)


def test_box_corner_miss_in_rotated_frame():
    # a ray that would hit the unrotated box but passes beside the rotated one
    scene = scene_with(boxes=[((0.0, 0.0, 0.0), (5.0, 0.5, 1.0), np.pi / 2, C.WALL)])
    hits = cast_rays(scene, np.array([4.0, -20.0, 0.0]), np.array([[0.0, 1.0, 0.0]]))
    assert not hits.hit[0]
    hits = cast_rays(scene, np.array([0.2, -20.0, 0.0]), np.array([[0.0, 1.0, 0.0]]))
    assert hits.t[0] == pytest.approx(15.0, abs=1e-4)


def test_sphere_and_ellipsoid_hit_distance():
    scene = scene_with(ells=[((0.0, 0.0, 20.0), (2.0, 2.0, 2.0), C.VEGETATION)])
    d = unit([[0.0, 0.0, 1.0], [0.05, 0.0, 1.0]])
    hits = cast_rays(scene, np.zeros(3), d)
    assert hits.t[0] == pytest.approx(18.0, abs=1e-4)
    # off-axis ray: solve |t d - c| = r analytically
    c, r = np.array([0, 0, 20.0]), 2.0
    b = d[1] @ c
    expect = b - np.sqrt(b * b - (c @ c - r * r))
    assert hits.t[1] == pytest.approx(expect, abs=1e-4)
    ell = scene_with(ells=[((0.0, 0.0, 20.0), (3.0, 3.0, 1.5), C.VEGETATION)])
    assert cast_rays(ell, np.zeros(3), d[:1]).t[0] == pytest.approx(18.5, abs=1e-4)
    assert cast_rays(ell, np.array([-10.0, 0, 20.0]), np.array([[1.0, 0, 0]])).t[0] == pytest.approx(7.0, abs=1e-4)


def test_cylinder_side_and_cap():
    scene = scene_with(cyls=[((5.0, 0.0), (0.0, 8.0), 0.5, C.POLE)])
    side = cast_rays(scene, np.array([0.0, 0.0, 4.0]), np.array([[1.0, 0.0, 0.0]]))
    assert side.t[0] == pytest.approx(4.5, abs=1e-4)
    np.testing.assert_allclose(side.normal[0], [-1, 0, 0], atol=1e-9)
    cap = cast_rays(scene, np.array([5.1, 0.1, 30.0]), np.array([[0.0, 0.0, -1.0]]))
    assert cap.t[0] == pytest.approx(22.0, abs=1e-4)
    np.testing.assert_allclose(cap.normal[0], [0, 0, 1], atol=1e-9)
    above = cast_rays(scene, np.array([0.0, 0.0, 9.0]), np.array([[1.0, 0.0, 0.0]]))  # passes over the top
    assert not above.hit[0]
    slanted = unit([[1.0, 0.0, 0.5]])
    t = cast_rays(scene, np.array([0.0, 0.0, 1.0]), slanted).t[0]
    assert np.hypot(*(t * slanted[0, :2] - [5.0, 0.0])) == pytest.approx(0.5, abs=1e-4)


@pytest.mark.parametrize("relief", [0.0, 1.5, 7.0])
def test_ground_hit_lies_on_the_terrain(relief):
    terrain = make_scene("uav_valley", 3).terrain if relief else Terrain(base=-2.0)
    if relief:
        scale = relief / 7.0
        terrain = Terrain(base=0.0, sin_amp=terrain.sin_amp * scale, sin_k=terrain.sin_k, sin_phase=terrain.sin_phase,
                          gauss_amp=terrain.gauss_amp * scale, gauss_center=terrain.gauss_center,
                          gauss_sigma=terrain.gauss_sigma)
    scene = scene_with(terrain=terrain)
    rng = np.random.default_rng(0)
    d = unit(np.column_stack([rng.normal(size=(500, 2)), -rng.uniform(0.05, 1.0, 500)]))
    origin = np.array([3.0, -4.0, 60.0])
    hits = cast_rays(scene, origin, d)
    assert hits.hit.all()
    p = origin + hits.t[:, None] * d
    gap = p[:, 2] - terrain.height(p[:, 0], p[:, 1])
    assert np.abs(gap).max() < 1e-6
    if not relief:  # flat ground: exact distance 62 / |dz|
        np.testing.assert_allclose(hits.t, 62.0 / -d[:, 2], atol=1e-4)
    # the hit is the first crossing: nothing below ground earlier along the ray
    for frac in (0.25, 0.5, 0.9, 0.999):
        q = origin + frac * hits.t[:, None] * d
        assert np.all(q[:, 2] > terrain.height(q[:, 0], q[:, 1]))


def test_culling_matches_brute_force_on_a_real_scene():
    scene = make_scene("uav_town", 7)
    rng = np.random.default_rng(1)
    d = unit(rng.normal(size=(3000, 3)))
    origin = np.array([5.0, -3.0, 25.0])
    hits = cast_rays(scene, origin, d, max_range=400.0)
    # brute force: every ray against every primitive, no binning
    n = len(d)
    best = np.full(n, np.inf)
    for fn, params in ((_hit_boxes, (scene.box_center, scene.box_half, scene.box_yaw)),
                       (_hit_ellipsoids, (scene.ell_center, scene.ell_radii)),
                       (_hit_cylinders, (scene.cyl_xy, scene.cyl_z, scene.cyl_radius))):
        m = len(params[0])
        ray, prim = np.repeat(np.arange(n), m), np.tile(np.arange(m), n)
        t, _ = fn(origin, d[ray], *(p[prim] for p in params))
        np.minimum.at(best, ray, t)
    prim_hit = hits.cls >= C.BUILDING  # not a terrain class
    assert prim_hit.sum() > 100
    np.testing.assert_allclose(hits.t[prim_hit], best[prim_hit], atol=1e-9)
    assert np.all(hits.t <= best + 1e-9)  # never farther than the nearest primitive


def test_rays_crossing_a_box_by_hand():
    from occkit.synthetic.raycast import rays_crossing_box

    centre, half = np.array([0.0, 0.0, 1.0]), np.array([1.0, 1.0, 1.0])  # x, y in [-1, 1], z in [0, 2]
    o = np.array([0.0, 0.0, 10.0])
    dirs = np.array([[0.0, 0.0, -1.0],  # straight down into the box (enters at t = 8)
                     [1.0, 0.0, 0.0],  # parallel to the top face, above it: never inside
                     [0.0, 0.0, 1.0],  # away from it
                     [0.6, 0.0, -0.8],  # down and out: at z = 2 it is 6 m to the side
                     [0.1, 0.0, -np.sqrt(0.99)]])  # down, slightly aside: still enters through the top
    assert rays_crossing_box(o, dirs, centre, half, 0.0, 100.0).tolist() == [True, False, False, False, True]
    assert rays_crossing_box(o, dirs, centre, half, 0.0, 7.0).tolist() == [False] * 5  # too short to reach it
    inside = np.array([0.5, 0.5, 1.0])  # from inside every direction crosses it
    assert rays_crossing_box(inside, dirs, centre, half, 0.0, 0.1).all()
    # a long thin box turned a quarter about z lies along y: straight down at (3, 0) misses it, at (0, 3) hits
    long_box = np.array([5.0, 0.5, 1.0])
    down = np.array([[0.0, 0.0, -1.0]])
    assert not rays_crossing_box(np.array([3.0, 0.0, 10.0]), down, centre, long_box, np.pi / 2, 100.0)[0]
    assert rays_crossing_box(np.array([0.0, 3.0, 10.0]), down, centre, long_box, np.pi / 2, 100.0)[0]


def test_casting_into_a_region_keeps_every_point_inside_it():
    """Noise-free sweeps: the rays cast only into the target box return exactly the whole sweep's points inside it."""
    from occkit.geometry.transforms import invert_transform
    from occkit.sources.synthetic import SyntheticSourceConfig
    from occkit.synthetic.sensors import LidarConfig
    from occkit.synthetic.world import generate_sample

    box = (-19.2, -19.2, -10.0, 19.2, 19.2, 50.5)
    lidar = LidarConfig(range_noise_m=0.0, dropout=0.0, points_per_frame=6000)
    whole = SyntheticSourceConfig(preset="uav_town", seed=3, val_frames=2, frames_per_scene=2, accumulate_poses=5,
                                  accumulate_dt=2.0, lidar=lidar)
    cut = whole.model_copy(update={"accumulate_region": box})

    def inside(cfg: SyntheticSourceConfig, i: int) -> tuple[np.ndarray, int]:
        s = generate_sample(cfg, "val", i)
        p = s.target_points.astype(np.float64) @ (T := invert_transform(s.T_world_ego) @ s.T_world_lidar)[:3, :3].T
        p += T[:3, 3]
        keep = np.all((p >= np.array(box[:3])) & (p <= np.array(box[3:])), axis=1)
        return np.round(p[keep], 4), len(s.target_points)

    for i in range(2):
        (a, n_whole), (b, n_cut) = inside(whole, i), inside(cut, i)
        assert len(a) > 1000 and n_cut < n_whole  # fewer points in all, the same ones inside the box
        np.testing.assert_array_equal(a[np.lexsort(a.T)], b[np.lexsort(b.T)])
