"""Vectorized ray casting against a Scene's analytic primitives and terrain.

Rays share one origin (a sensor position). To avoid testing every ray against every primitive, rays
are binned by direction (azimuth x elevation cells) and a primitive is tested only against the rays of
bins whose cone meets its bounding sphere. Intersections are exact: slab test for yaw-rotated boxes,
quadratics for ellipsoids and vertical cylinders, and a bracketed march + bisection + Newton for terrain.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from occkit.synthetic import classes as C
from occkit.synthetic.scene import Scene, Terrain

EPS = 1e-9
_BIN_DEG = 4.0


@dataclass
class RayHits:
    """First hit per ray: distance ``t`` (inf if none), internal class (NO_HIT if none), unit normal."""

    t: np.ndarray
    cls: np.ndarray
    normal: np.ndarray

    @property
    def hit(self) -> np.ndarray:
        return np.isfinite(self.t)


def rays_crossing_box(origin: np.ndarray, dirs: np.ndarray, centre: np.ndarray, half: np.ndarray, yaw: float,
                      max_range: float) -> np.ndarray:
    """Which rays ``origin + t * dirs``, 0 <= t <= max_range, pass through the box (centre, half extents, yaw
    about z; the rays' frame), by the scene's own box slab test: a ray that misses it cannot put a point in it."""
    o = np.asarray(origin, dtype=np.float64).reshape(3)
    c, h = np.asarray(centre, np.float64).reshape(1, 3), np.asarray(half, np.float64).reshape(1, 3)
    t, _ = _hit_boxes(o, np.asarray(dirs, dtype=np.float64).reshape(-1, 3), c, h, np.array([float(yaw)]))
    cs, sn = np.cos(yaw), np.sin(yaw)
    rel = o - c[0]
    inside = bool(np.all(np.abs([cs * rel[0] + sn * rel[1], -sn * rel[0] + cs * rel[1], rel[2]]) <= h[0]))
    return np.isfinite(t) & ((t <= max_range) | inside)  # from inside, the slab test returns the exit


def cast_rays(scene: Scene, origin: np.ndarray, dirs: np.ndarray, max_range: float = np.inf) -> RayHits:
    """First intersection of rays ``origin + t * dirs`` (dirs unit (N, 3)) with the scene, t <= max_range."""
    o = np.asarray(origin, dtype=np.float64).reshape(3)
    d = np.asarray(dirs, dtype=np.float64).reshape(-1, 3)
    n = len(d)
    best_t = np.full(n, np.inf)
    best_cls = np.full(n, C.NO_HIT, dtype=np.int16)
    best_n = np.zeros((n, 3))
    if n == 0:
        return RayHits(best_t, best_cls, best_n)
    bins = _DirectionBins(d)
    spheres = scene.bounding_spheres()
    kinds = {"box": (_hit_boxes, (scene.box_center, scene.box_half, scene.box_yaw), scene.box_cls),
             "ell": (_hit_ellipsoids, (scene.ell_center, scene.ell_radii), scene.ell_cls),
             "cyl": (_hit_cylinders, (scene.cyl_xy, scene.cyl_z, scene.cyl_radius), scene.cyl_cls)}
    for kind, (fn, params, cls) in kinds.items():
        if len(cls) == 0:
            continue
        ray, prim = bins.candidates(o, *spheres[kind], max_range)
        if len(ray) == 0:
            continue
        t, normal = fn(o, d[ray], *(p[prim] for p in params))
        ok = np.isfinite(t) & (t <= max_range)
        ray, prim, t, normal = ray[ok], prim[ok], t[ok], normal[ok]
        # nearest hit per ray among this kind, then merge with the best so far
        order = np.lexsort((t, ray))
        first = np.ones(len(order), dtype=bool)
        first[1:] = ray[order[1:]] != ray[order[:-1]]
        sel = order[first]
        r = ray[sel]
        better = t[sel] < best_t[r]
        r, sel = r[better], sel[better]
        best_t[r], best_cls[r], best_n[r] = t[sel], cls[prim[sel]], normal[sel]
    t_ground, n_ground = _hit_terrain(scene.terrain, o, d, np.minimum(best_t, max_range))
    g = t_ground < best_t
    best_t[g], best_n[g] = t_ground[g], n_ground[g]
    if g.any():
        p = o + t_ground[g, None] * d[g]
        best_cls[g] = scene.terrain.surface_class(p[:, 0], p[:, 1])
    return RayHits(best_t, best_cls, best_n)


class _DirectionBins:
    """Rays grouped by (azimuth, elevation) cell, each cell with a mean direction and half-angle."""

    def __init__(self, d: np.ndarray) -> None:
        step = np.deg2rad(_BIN_DEG)
        az = np.arctan2(d[:, 1], d[:, 0])
        el = np.arcsin(np.clip(d[:, 2], -1, 1))
        n_az = int(np.ceil(2 * np.pi / step))
        ia = np.clip(((az + np.pi) / step).astype(np.int64), 0, n_az - 1)
        ie = np.clip(((el + np.pi / 2) / step).astype(np.int64), 0, int(np.ceil(np.pi / step)))
        key = ie * n_az + ia
        self.order = np.argsort(key, kind="stable")
        uniq, start, count = np.unique(key[self.order], return_index=True, return_counts=True)
        inv = np.repeat(np.arange(len(uniq)), count)
        ds = d[self.order]
        sums = np.add.reduceat(ds, start, axis=0)  # rays are sorted by bin: segment reductions
        mean = sums / np.linalg.norm(sums, axis=1, keepdims=True)
        min_cos = np.minimum.reduceat(np.einsum("ij,ij->i", ds, mean[inv]), start)
        self.dir, self.start, self.count = mean, start, count
        self.half = np.arccos(np.clip(min_cos, -1, 1)) + 1e-6

    def candidates(self, o: np.ndarray, centers: np.ndarray, radii: np.ndarray,
                   max_range: float) -> tuple[np.ndarray, np.ndarray]:
        """(ray, primitive) index pairs whose bin cone meets the primitive's bounding sphere."""
        v = centers - o
        dist = np.linalg.norm(v, axis=1)
        reach = dist - radii <= max_range
        inside = dist <= radii
        ang = np.arccos(np.clip((self.dir @ v.T) / np.maximum(dist, EPS), -1, 1))  # (bins, prims)
        spread = np.arcsin(np.clip(radii / np.maximum(dist, EPS), 0, 1))
        cand = (ang <= self.half[:, None] + spread[None, :]) & reach[None, :] | inside[None, :]
        b, prim = np.nonzero(cand)
        rep = self.count[b]
        pair = np.repeat(np.arange(len(b)), rep)
        offset = np.arange(rep.sum()) - np.repeat(np.cumsum(rep) - rep, rep)
        ray = self.order[self.start[b][pair] + offset]
        return ray, prim[pair]


def _hit_boxes(o: np.ndarray, d: np.ndarray, c: np.ndarray, h: np.ndarray,
               yaw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Slab test in each box's local frame (rotation about z by yaw)."""
    cs, sn = np.cos(yaw), np.sin(yaw)
    rel = o - c
    lo = np.column_stack([cs * rel[:, 0] + sn * rel[:, 1], -sn * rel[:, 0] + cs * rel[:, 1], rel[:, 2]])
    ld = np.column_stack([cs * d[:, 0] + sn * d[:, 1], -sn * d[:, 0] + cs * d[:, 1], d[:, 2]])
    ld = np.where(np.abs(ld) < 1e-15, 1e-15, ld)
    t1, t2 = (-h - lo) / ld, (h - lo) / ld
    tmin, tmax = np.minimum(t1, t2), np.maximum(t1, t2)
    near, far = tmin.max(axis=1), tmax.min(axis=1)
    ok = (near <= far) & (far > EPS)
    t = np.where(ok, np.where(near > EPS, near, far), np.inf)
    axis = tmin.argmax(axis=1)
    ln = np.zeros_like(ld)
    ln[np.arange(len(ld)), axis] = -np.sign(ld[np.arange(len(ld)), axis])
    normal = np.column_stack([cs * ln[:, 0] - sn * ln[:, 1], sn * ln[:, 0] + cs * ln[:, 1], ln[:, 2]])
    return t, normal


def _solve_quadratic(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Smallest root > EPS of a t^2 + b t + c (inf if none), in the cancellation-free form."""
    disc = b * b - 4 * a * c
    ok = disc >= 0
    sq = np.sqrt(np.where(ok, disc, 0.0))
    q = -0.5 * (b + np.where(b >= 0, sq, -sq))
    with np.errstate(divide="ignore", invalid="ignore"):
        r1, r2 = q / a, c / q
    lo, hi = np.minimum(r1, r2), np.maximum(r1, r2)
    t = np.where(lo > EPS, lo, np.where(hi > EPS, hi, np.inf))
    return np.where(ok & np.isfinite(t), t, np.inf)


def _hit_ellipsoids(o: np.ndarray, d: np.ndarray, c: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lo, ld = (o - c) / r, d / r
    t = _solve_quadratic((ld * ld).sum(1), 2 * (lo * ld).sum(1), (lo * lo).sum(1) - 1.0)
    p = o + np.where(np.isfinite(t), t, 0.0)[:, None] * d
    normal = (p - c) / (r * r)
    return t, normal / np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), EPS)


def _hit_cylinders(o: np.ndarray, d: np.ndarray, xy: np.ndarray, z: np.ndarray,
                   r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vertical cylinder: the side (quadratic in x, y, checked against z0..z1) or a cap disc."""
    rx, ry = o[0] - xy[:, 0], o[1] - xy[:, 1]
    a = d[:, 0] ** 2 + d[:, 1] ** 2
    t_side = _solve_quadratic(np.maximum(a, 1e-30), 2 * (rx * d[:, 0] + ry * d[:, 1]), rx * rx + ry * ry - r * r)
    zs = o[2] + np.where(np.isfinite(t_side), t_side, 0.0) * d[:, 2]
    t_side = np.where((zs >= z[:, 0]) & (zs <= z[:, 1]), t_side, np.inf)
    dz = np.where(np.abs(d[:, 2]) < 1e-15, 1e-15, d[:, 2])
    ts = np.where(np.isfinite(t_side), t_side, 0.0)
    best, normal = t_side, np.column_stack([rx + ts * d[:, 0], ry + ts * d[:, 1], np.zeros(len(d))])
    for k, sign in ((0, -1.0), (1, 1.0)):
        tc = (z[:, k] - o[2]) / dz
        px, py = rx + tc * d[:, 0], ry + tc * d[:, 1]
        tc = np.where((tc > EPS) & (px * px + py * py <= r * r), tc, np.inf)
        take = tc < best
        best = np.where(take, tc, best)
        normal[take] = [0.0, 0.0, sign]
    normal = normal / np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), EPS)
    return best, normal


def _hit_terrain(terrain: Terrain, o: np.ndarray, d: np.ndarray, t_limit: np.ndarray,
                 march_steps: int = 8, bisect_steps: int = 4, newton_steps: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """First crossing of z = h(x, y) before ``t_limit``: bracket by the terrain's bounds, march, refine.

    The march finds the first sample below ground; bisection shrinks that bracket, then safeguarded Newton
    steps (f'(t) = d_z - grad h . d_xy) converge to machine precision on the smooth terrain.
    """
    n = len(d)
    t_out = np.full(n, np.inf)
    normal = np.zeros((n, 3))
    h_lo, h_hi = terrain.bounds
    dz = d[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        t_enter = np.where(dz < 0, (o[2] - h_hi) / -dz, 0.0)
        t_exit = np.where(dz < 0, (o[2] - h_lo) / -dz, np.inf)
    t_enter = np.maximum(t_enter, 0.0)
    t_exit = np.minimum(t_exit, np.where(np.isfinite(t_limit), t_limit, 1e4))
    if o[2] > h_hi:
        t_exit = np.where(dz < 0, t_exit, -1.0)
    idx = np.flatnonzero(t_exit > t_enter)
    if len(idx) == 0:
        return t_out, normal
    dd, a, b = d[idx], t_enter[idx], t_exit[idx]

    # rays steeper than the steepest slope cross the terrain at most once in [a, b]: no march needed
    monotone = np.abs(dd[:, 2]) > terrain.max_slope * np.hypot(dd[:, 0], dd[:, 1])
    lo, hi = a.copy(), b.copy()
    pb = o + b[:, None] * dd
    crosses = pb[:, 2] <= terrain.height(pb[:, 0], pb[:, 1])
    bumpy = np.flatnonzero(~monotone)
    if len(bumpy):
        ts = a[bumpy, None] + (b - a)[bumpy, None] * np.linspace(0.0, 1.0, march_steps + 1)[None, :]
        p = o + ts[..., None] * dd[bumpy, None, :]
        below = p[..., 2] <= terrain.height(p[..., 0], p[..., 1])
        k = np.argmax(below, axis=1)  # first sample below ground (0 if none, or if the ray starts below)
        ok = k > 0
        lo[bumpy[ok]], hi[bumpy[ok]] = ts[ok, k[ok] - 1], ts[ok, k[ok]]
        crosses[bumpy] = ok
    rows = np.flatnonzero(crosses)
    dr = dd[rows]
    lo, hi = lo[rows], hi[rows]

    def f(t: np.ndarray) -> np.ndarray:
        q = o + t[:, None] * dr
        return q[:, 2] - terrain.height(q[:, 0], q[:, 1])

    for _ in range(bisect_steps):
        mid = 0.5 * (lo + hi)
        above = f(mid) > 0
        lo, hi = np.where(above, mid, lo), np.where(above, hi, mid)
    t = 0.5 * (lo + hi)
    for _ in range(newton_steps):
        q = o + t[:, None] * dr
        h, gx, gy = terrain.height_and_gradient(q[:, 0], q[:, 1])
        slope = dr[:, 2] - gx * dr[:, 0] - gy * dr[:, 1]
        t = np.clip(t - (q[:, 2] - h) / np.where(np.abs(slope) < 1e-12, -1e-12, slope), lo, hi)
    q = o + t[:, None] * dr
    gx, gy = terrain.gradient(q[:, 0], q[:, 1])
    nrm = np.column_stack([-gx, -gy, np.ones(len(rows))])
    t_out[idx[rows]] = t
    normal[idx[rows]] = nrm / np.linalg.norm(nrm, axis=1, keepdims=True)
    return t_out, normal
