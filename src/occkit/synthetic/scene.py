"""Procedural scenes made of analytic primitives, deterministic per seed.

A scene is a smooth analytic terrain plus arrays of primitives (yaw-rotated boxes, axis-aligned
ellipsoids, vertical cylinders), each with an internal class id from ``occkit.synthetic.classes``.
Analytic shapes let sensors intersect rays exactly and let tests know the true distance.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from occkit.synthetic import classes as C

PRESETS = ("uav_town", "uav_valley", "street")


@dataclass(frozen=True)
class Terrain:
    """Height ``h(x, y) = base + sum a*sin(kx x + ky y + phi) + sum g*exp(-|p - c|^2 / (2 s^2))``.

    Roads are straight bands: lines x = ox + i*pitch_x and y = oy + j*pitch_y, half-width
    ``road_half``, flanked by sidewalks of width ``walk``.
    """

    base: float = 0.0
    sin_amp: np.ndarray = field(default_factory=lambda: np.zeros(0))
    sin_k: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    sin_phase: np.ndarray = field(default_factory=lambda: np.zeros(0))
    gauss_amp: np.ndarray = field(default_factory=lambda: np.zeros(0))
    gauss_center: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    gauss_sigma: np.ndarray = field(default_factory=lambda: np.zeros(0))
    road_origin: tuple[float, float] = (0.0, 0.0)
    road_pitch: tuple[float, float] = (1e9, 1e9)
    road_half: float = 4.0
    walk: float = 2.0

    @property
    def bounds(self) -> tuple[float, float]:
        """Lower and upper bound of h over the whole plane (ray brackets start from these)."""
        s = float(np.abs(self.sin_amp).sum())
        gp = float(self.gauss_amp[self.gauss_amp > 0].sum())
        gn = float(self.gauss_amp[self.gauss_amp < 0].sum())
        return self.base - s + gn - 1e-6, self.base + s + gp + 1e-6

    @property
    def max_slope(self) -> float:
        """Upper bound of |grad h| (a gaussian's slope peaks at g / (s sqrt(e)))."""
        k = np.linalg.norm(self.sin_k, axis=1) if len(self.sin_k) else np.zeros(0)
        return float((np.abs(self.sin_amp) * k).sum()
                     + (np.abs(self.gauss_amp) / (self.gauss_sigma * np.sqrt(np.e))).sum()) + 1e-9

    def height(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        h = np.full(np.shape(x), self.base, dtype=np.float64)
        for a, (kx, ky), ph in zip(self.sin_amp, self.sin_k, self.sin_phase, strict=True):
            h += a * np.sin(kx * x + ky * y + ph)
        for g, (cx, cy), s in zip(self.gauss_amp, self.gauss_center, self.gauss_sigma, strict=True):
            h += g * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * s * s))
        return h

    def gradient(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        gx = np.zeros(np.shape(x))
        gy = np.zeros(np.shape(x))
        for a, (kx, ky), ph in zip(self.sin_amp, self.sin_k, self.sin_phase, strict=True):
            c = a * np.cos(kx * x + ky * y + ph)
            gx += kx * c
            gy += ky * c
        for g, (cx, cy), s in zip(self.gauss_amp, self.gauss_center, self.gauss_sigma, strict=True):
            e = g * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * s * s)) / (s * s)
            gx -= (x - cx) * e
            gy -= (y - cy) * e
        return gx, gy

    def height_and_gradient(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """h, dh/dx, dh/dy in one pass (Newton steps need all three; the exponentials are shared)."""
        h = np.full(np.shape(x), self.base, dtype=np.float64)
        gx = np.zeros(np.shape(x))
        gy = np.zeros(np.shape(x))
        for a, (kx, ky), ph in zip(self.sin_amp, self.sin_k, self.sin_phase, strict=True):
            arg = kx * x + ky * y + ph
            h += a * np.sin(arg)
            c = a * np.cos(arg)
            gx += kx * c
            gy += ky * c
        for g, (cx, cy), s in zip(self.gauss_amp, self.gauss_center, self.gauss_sigma, strict=True):
            dx, dy = x - cx, y - cy
            e = g * np.exp(-(dx * dx + dy * dy) / (2 * s * s))
            h += e
            gx -= dx * e / (s * s)
            gy -= dy * e / (s * s)
        return h, gx, gy

    def road_distance(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Distance (m) to the nearest road centreline."""
        px, py = self.road_pitch
        dx = np.abs(np.mod(x - self.road_origin[0] + px / 2, px) - px / 2)
        dy = np.abs(np.mod(y - self.road_origin[1] + py / 2, py) - py / 2)
        return np.minimum(dx, dy)

    def surface_class(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        d = self.road_distance(x, y)
        return np.where(d < self.road_half, C.ROAD, np.where(d < self.road_half + self.walk, C.SIDEWALK, C.TERRAIN))


@dataclass(frozen=True)
class Scene:
    """Terrain + primitives. Boxes: centre (M,3), half extents (M,3), yaw (M,). Ellipsoids: centre,
    radii (M,3). Cylinders (vertical): x, y (M,2), z0, z1, radius. Each with an internal class (M,)."""

    name: str
    preset: str
    seed: int
    terrain: Terrain
    box_center: np.ndarray
    box_half: np.ndarray
    box_yaw: np.ndarray
    box_cls: np.ndarray
    ell_center: np.ndarray
    ell_radii: np.ndarray
    ell_cls: np.ndarray
    cyl_xy: np.ndarray
    cyl_z: np.ndarray  # (M, 2) z0, z1
    cyl_radius: np.ndarray
    cyl_cls: np.ndarray

    @property
    def num_primitives(self) -> int:
        return len(self.box_cls) + len(self.ell_cls) + len(self.cyl_cls)

    def bounding_spheres(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Centre and radius per primitive kind, for culling rays."""
        cz = self.cyl_z.mean(axis=1)
        cyl_c = np.column_stack([self.cyl_xy, cz])
        cyl_r = np.hypot(self.cyl_radius, (self.cyl_z[:, 1] - self.cyl_z[:, 0]) / 2)
        return {"box": (self.box_center, np.linalg.norm(self.box_half, axis=1)),
                "ell": (self.ell_center, self.ell_radii.max(axis=1)),
                "cyl": (cyl_c, cyl_r)}

    def top_within(self, lo_xy: np.ndarray, hi_xy: np.ndarray, step: float = 1.0) -> float:
        """An upper bound of every surface's height over the rectangle [lo_xy, hi_xy]: the highest bounding
        sphere that reaches over it, and the terrain sampled every ``step`` metres plus what its slope allows
        between samples."""
        lo, hi = np.asarray(lo_xy, dtype=np.float64), np.asarray(hi_xy, dtype=np.float64)
        xs = np.arange(lo[0], hi[0] + step, step)
        ys = np.arange(lo[1], hi[1] + step, step)
        gx, gy = np.meshgrid(xs, ys, indexing="ij")
        top = float(self.terrain.height(gx, gy).max()) + self.terrain.max_slope * step
        for centre, radius in self.bounding_spheres().values():
            if len(radius) == 0:
                continue
            near = np.all((centre[:, :2] + radius[:, None] >= lo) & (centre[:, :2] - radius[:, None] <= hi), axis=1)
            if near.any():
                top = max(top, float((centre[near, 2] + radius[near]).max()))
        return top

    def contains(self, points: np.ndarray) -> np.ndarray:
        """Internal class of the solid each point lies in (ground counts below the terrain), else NO_HIT.

        Used for 'solid' ground truth at voxel centres; loops over primitives, vectorized over points.
        """
        p = np.asarray(points, dtype=np.float64)
        out = np.full(len(p), C.NO_HIT, dtype=np.int16)
        below = p[:, 2] <= self.terrain.height(p[:, 0], p[:, 1])
        out[below] = self.terrain.surface_class(p[below, 0], p[below, 1])
        for c, h, yaw, k in zip(self.box_center, self.box_half, self.box_yaw, self.box_cls, strict=True):
            d = p - c
            cs, sn = np.cos(yaw), np.sin(yaw)
            lx, ly = cs * d[:, 0] + sn * d[:, 1], -sn * d[:, 0] + cs * d[:, 1]
            out[(np.abs(lx) <= h[0]) & (np.abs(ly) <= h[1]) & (np.abs(d[:, 2]) <= h[2])] = k
        for c, r, k in zip(self.ell_center, self.ell_radii, self.ell_cls, strict=True):
            out[(((p - c) / r) ** 2).sum(axis=1) <= 1.0] = k
        for xy, (z0, z1), r, k in zip(self.cyl_xy, self.cyl_z, self.cyl_radius, self.cyl_cls, strict=True):
            inside = ((p[:, 0] - xy[0]) ** 2 + (p[:, 1] - xy[1]) ** 2 <= r * r) & (p[:, 2] >= z0) & (p[:, 2] <= z1)
            out[inside] = k
        return out


class _Builder:
    """Collects primitives while a preset lays out a scene."""

    def __init__(self, terrain: Terrain, rng: np.random.Generator) -> None:
        self.t, self.rng = terrain, rng
        self.boxes: list[tuple] = []
        self.ells: list[tuple] = []
        self.cyls: list[tuple] = []

    def ground(self, x: float, y: float) -> float:
        return float(self.t.height(np.array(x), np.array(y)))

    def box(self, x: float, y: float, hx: float, hy: float, height: float, yaw: float, cls: int,
            sink: float = 1.0) -> None:
        """A box standing on the terrain at (x, y), sunk ``sink`` m so slopes leave no gap."""
        z0 = self.ground(x, y) - sink
        top = self.ground(x, y) + height
        self.boxes.append(((x, y, (z0 + top) / 2), (hx, hy, (top - z0) / 2), yaw, cls))

    def tree(self, x: float, y: float, height: float, crown: float) -> None:
        g = self.ground(x, y)
        trunk_top = g + height - 1.6 * crown
        self.cyls.append(((x, y), (g - 0.5, trunk_top + 0.5 * crown), 0.1 + 0.04 * crown, C.TRUNK))
        self.ells.append(((x, y, trunk_top + 0.8 * crown), (crown, crown, 0.8 * crown), C.VEGETATION))

    def pole(self, x: float, y: float, height: float, radius: float = 0.12) -> None:
        g = self.ground(x, y)
        self.cyls.append(((x, y), (g - 0.5, g + height), radius, C.POLE))

    def vehicle(self, x: float, y: float, yaw: float) -> None:
        truck = self.rng.random() < 0.2
        hx, hy, h = (3.5, 1.25, 3.2) if truck else (2.3, 0.95, 1.55)
        self.box(x, y, hx, hy, h, yaw, C.TRUCK if truck else C.CAR, sink=0.05)

    def build(self, name: str, preset: str, seed: int) -> Scene:
        def arr(rows: list, i: int, width: int | None) -> np.ndarray:
            a = np.array([r[i] for r in rows], dtype=np.float64)
            return a.reshape(-1, width) if width else a.reshape(-1)
        b, e, c = self.boxes, self.ells, self.cyls
        return Scene(name=name, preset=preset, seed=seed, terrain=self.t,
                     box_center=arr(b, 0, 3), box_half=arr(b, 1, 3), box_yaw=arr(b, 2, None),
                     box_cls=np.array([r[3] for r in b], dtype=np.int16),
                     ell_center=arr(e, 0, 3), ell_radii=arr(e, 1, 3), ell_cls=np.array([r[2] for r in e], np.int16),
                     cyl_xy=arr(c, 0, 2), cyl_z=arr(c, 1, 2), cyl_radius=arr(c, 2, None),
                     cyl_cls=np.array([r[3] for r in c], dtype=np.int16))


def _terrain(rng: np.random.Generator, relief: float, n_sin: int, n_gauss: int, extent: float,
             **roads: object) -> Terrain:
    wavelengths = rng.uniform(80.0, 300.0, n_sin)
    angles = rng.uniform(0, 2 * np.pi, n_sin)
    k = np.column_stack([np.cos(angles), np.sin(angles)]) * (2 * np.pi / wavelengths)[:, None]
    return Terrain(
        base=0.0,
        sin_amp=rng.uniform(0.3, 1.0, n_sin) * relief / max(n_sin, 1),
        sin_k=k, sin_phase=rng.uniform(0, 2 * np.pi, n_sin),
        gauss_amp=rng.choice([-1.0, 1.0], n_gauss) * rng.uniform(0.5, 1.0, n_gauss) * relief,
        gauss_center=rng.uniform(-extent, extent, (n_gauss, 2)),
        gauss_sigma=rng.uniform(25.0, 60.0, n_gauss),
        **roads,  # type: ignore[arg-type]
    )


def _town(rng: np.random.Generator, relief: float, density: float) -> _Builder:
    """Blocks between a road grid; 1-4 rotated buildings per block, trees, cars, poles, walls."""
    pitch = float(rng.uniform(55.0, 75.0))
    origin = tuple(rng.uniform(0, pitch, 2))
    terrain = _terrain(rng, relief, 3, 2, 150.0, road_origin=origin, road_pitch=(pitch, pitch),
                       road_half=4.0, walk=2.0)
    b = _Builder(terrain, rng)
    extent, margin = 170.0, terrain.road_half + terrain.walk + 1.5
    n_blocks = int(np.ceil(2 * extent / pitch)) + 1
    for i in range(n_blocks):
        for j in range(n_blocks):
            bx = origin[0] - extent + (i + 0.5) * pitch - np.mod(origin[0] - extent, pitch)
            by = origin[1] - extent + (j + 0.5) * pitch - np.mod(origin[1] - extent, pitch)
            half = pitch / 2 - margin
            field = rng.random() < 0.12 * (2 - density)  # an open field: a few trees only
            for _ in range(0 if field else int(rng.integers(2, 4 + int(3 * density)))):
                hx, hy = rng.uniform(4.0, min(14.0, half * 0.6), 2)
                x, y = bx + rng.uniform(-half + hx, half - hx), by + rng.uniform(-half + hy, half - hy)
                tall = rng.random() < 0.12
                height = rng.uniform(22.0, 42.0) if tall else rng.uniform(4.0, 15.0)
                b.box(x, y, hx, hy, height, rng.uniform(-0.35, 0.35) + rng.integers(0, 2) * np.pi / 2, C.BUILDING)
            for _ in range(int(rng.integers(3, 9 if field else 7))):
                b.tree(bx + rng.uniform(-half, half), by + rng.uniform(-half, half),
                       rng.uniform(5.0, 13.0), rng.uniform(1.5, 3.5))
            if rng.random() < 0.35:  # a boundary wall along one side of the block
                side = rng.choice([-1.0, 1.0])
                b.box(bx, by + side * (half + 0.6), half * rng.uniform(0.5, 1.0), 0.15, rng.uniform(1.5, 2.5),
                      0.0, C.WALL, sink=0.3)
            # street furniture on the block's lower road: cars parked along the kerb, poles on the walk
            road_y = by - pitch / 2
            for _ in range(int(rng.poisson(2.0 * density))):
                b.vehicle(bx + rng.uniform(-half, half), road_y + rng.choice([-2.2, 2.2]), rng.choice([0.0, np.pi]))
            for k in range(2):
                b.pole(bx - half / 2 + k * half, road_y + terrain.road_half + 1.0, rng.uniform(6.0, 9.0))
    return b


def _street(rng: np.random.Generator) -> _Builder:
    """A dense city street along +x: facades on both sides, cross streets, parked cars, trees, poles."""
    cross_pitch = float(rng.uniform(70.0, 100.0))
    road_half, walk = float(rng.uniform(5.0, 7.5)), float(rng.uniform(2.5, 4.0))
    terrain = _terrain(rng, 0.15, 2, 0, 100.0, road_origin=(float(rng.uniform(0, cross_pitch)), 0.0),
                       road_pitch=(cross_pitch, 1e9), road_half=road_half, walk=walk)
    b = _Builder(terrain, rng)
    facade = road_half + walk
    for side in (-1.0, 1.0):
        x = -200.0
        while x < 200.0:
            width = rng.uniform(8.0, 25.0)
            cx = x + width / 2
            if terrain.road_distance(np.array([cx]), np.array([60.0]))[0] > width / 2 + road_half + walk:
                depth = rng.uniform(10.0, 25.0)
                b.box(cx, side * (facade + rng.uniform(0.0, 1.5) + depth / 2), width / 2 - 0.2, depth / 2,
                      rng.uniform(8.0, 40.0), 0.0, C.BUILDING)
            x += width
        for x in np.arange(-200.0, 200.0, rng.uniform(7.0, 12.0)):  # trees and poles on the sidewalk
            if terrain.road_distance(np.array([x]), np.array([60.0]))[0] < road_half + walk + 1:
                continue
            if rng.random() < 0.6:
                b.tree(x, side * (road_half + walk * 0.5), rng.uniform(5.0, 9.0), rng.uniform(1.2, 2.5))
            else:
                b.pole(x, side * (road_half + 0.6), rng.uniform(5.0, 9.0))
        for x in rng.uniform(-200.0, 200.0, 45):  # parked cars along the kerb
            b.vehicle(x, side * (road_half - 1.3), 0.0)
        for x in np.arange(-200.0, 200.0, rng.uniform(10.0, 16.0)):  # hedges and planters along the facades
            if rng.random() < 0.55 and terrain.road_distance(np.array([x]), np.array([60.0]))[0] > road_half + walk:
                b.box(x, side * (facade - 0.6), rng.uniform(1.5, 4.0), 0.5, rng.uniform(0.8, 1.6), 0.0,
                      C.VEGETATION, sink=0.2)
        if rng.random() < 0.5:  # a barrier along the kerb
            x0 = rng.uniform(-150, 150)
            b.box(x0, side * (road_half + 0.2), rng.uniform(5, 20), 0.15, 1.0, 0.0, C.WALL, sink=0.2)
    for x in rng.uniform(-200.0, 200.0, 20):  # moving traffic, kept off the ego lane at y = -road_half/2
        b.vehicle(x, road_half / 2 + rng.uniform(-0.5, 0.5), np.pi)
    return b


def make_scene(preset: str, seed: int) -> Scene:
    """Build the scene of ``preset`` for ``seed`` (same seed -> identical scene)."""
    if preset not in PRESETS:
        raise ValueError(f"synthetic preset must be one of {PRESETS}, got {preset!r}")
    rng = np.random.default_rng(seed)
    if preset == "uav_town":
        builder = _town(rng, relief=1.5, density=1.0)
        name = "AMtown"
    elif preset == "uav_valley":
        builder = _town(rng, relief=5.0, density=0.4)  # typically +-6 m: inside the uav grid (z >= -10 m)
        name = "AMvalley"
    else:
        builder = _street(rng)
        name = "street"
    return builder.build(name, preset, seed)
