"""Benchmark the synthetic world: seconds per frame, target occupancy, and ray-casting throughput.

Run: python benchmarks/synth.py [--frames 8] [--seed 0]   (frames come from frames/2 scenes, two per scene)
For uav_town and street: mean / max seconds per generated frame (LiDAR sweep + camera render + mono-depth
stand-in + LiDAR accumulated over ``accumulate_poses`` sweeps), against the 1 s/frame budget; the occupied
fraction of the target (accumulated LiDAR voxelized with occkit.geometry.voxelize in the ego frame) on the
200x200x121 "uav" grid (target 0.3-3 %) and the 200x200x16 Occ3D grid (target 2-10 %); and rays/s of the
direction-binned caster against brute force (every ray against every primitive) on the same camera rays.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from occkit.data.alignment import ego_transform
from occkit.geometry import GridSpec, voxelize
from occkit.geometry.visibility import lidar_visibility
from occkit.sources.synthetic import SyntheticSourceConfig
from occkit.synthetic import raycast
from occkit.synthetic.world import cached_scene, generate_sample

BUDGET_S = 1.0


def bench_preset(preset: str, grid: str, frames: int, seed: int) -> dict:
    cfg = SyntheticSourceConfig(preset=preset, seed=seed, train_frames=frames, frames_per_scene=2)  # many scenes
    spec = GridSpec.preset(grid)
    generate_sample(cfg, "train", 0)  # warm-up: builds and caches the scene
    times, cpu, occ, inr, npts, vis_t = [], [], [], [], [], []
    for i in range(frames):
        t0, c0 = time.perf_counter(), time.process_time()
        s = generate_sample(cfg, "train", i)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        T = ego_transform(s.T_world_lidar)
        g = voxelize(s.target_points, spec, T_grid_points=T, features=("occupancy",))
        occ.append(g.occupied_fraction)
        inr.append(g.in_range_ratio)
        npts.append(len(s.points))
        t0 = time.perf_counter()
        lidar_visibility(s.points, None, spec, T_grid_points=T)
        vis_t.append(time.perf_counter() - t0)
    return {"preset": preset, "grid": spec.describe(), "s_per_frame": float(np.mean(times)),
            "s_max": float(np.max(times)), "cpu_s": float(np.mean(cpu)),
            "occ_mean": float(np.mean(occ)), "occ_min": float(np.min(occ)),
            "occ_max": float(np.max(occ)), "in_range": float(np.mean(inr)), "lidar_points": float(np.mean(npts)),
            "visibility_s": float(np.mean(vis_t))}


def brute_force_cast(scene, origin: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Nearest primitive distance per ray without any culling (the reference for the binned caster)."""
    best = np.full(len(d), np.inf)
    for fn, params in ((raycast._hit_boxes, (scene.box_center, scene.box_half, scene.box_yaw)),
                       (raycast._hit_ellipsoids, (scene.ell_center, scene.ell_radii)),
                       (raycast._hit_cylinders, (scene.cyl_xy, scene.cyl_z, scene.cyl_radius))):
        m = len(params[0])
        for start in range(0, len(d), 512):  # chunks keep the (rays x primitives) arrays small
            rays = np.arange(start, min(start + 512, len(d)))
            ray, prim = np.repeat(rays, m), np.tile(np.arange(m), len(rays))
            t, _ = fn(origin, d[ray], *(p[prim] for p in params))
            np.minimum.at(best, ray, t)
    return best


def bench_raycast(seed: int) -> dict:
    cfg = SyntheticSourceConfig(preset="uav_town", seed=seed)
    s = generate_sample(cfg, "train", 0)
    scene = cached_scene("uav_town", s.meta["scene_seed"])
    cam = s.camera
    v, u = np.mgrid[0:cam.height:2, 0:cam.width:2]
    pix = np.stack([u.ravel(), v.ravel(), np.ones(u.size)], 1) @ np.linalg.inv(cam.K).T
    d = pix / np.linalg.norm(pix, axis=1, keepdims=True) @ cam.T_world_cam[:3, :3].T
    o = cam.T_world_cam[:3, 3]
    t0 = time.perf_counter()
    hits = raycast.cast_rays(scene, o, d)
    t_binned = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref = brute_force_cast(scene, o, d)
    t_brute = time.perf_counter() - t0
    prim = np.isfinite(ref) & (ref <= hits.t + 1e-9)
    agree = float(np.mean(np.abs(hits.t[prim] - ref[prim]) < 1e-9)) if prim.any() else 1.0
    return {"rays": len(d), "primitives": scene.num_primitives, "binned_rays_s": len(d) / t_binned,
            "brute_rays_s": len(d) / t_brute, "agree": agree}


def bench_accumulation_region(frames: int) -> dict:
    """The main job's source (configs/synthetic_uav.py: 25 accumulated sweeps) with and without
    ``accumulate_region``: seconds per frame, building its scene included (each variant starts from an empty scene
    cache, so neither reuses the other's scenes), and the occupied share of the main job's grid (reference: whole
    sweeps, in the same run)."""
    from pathlib import Path

    from occkit.config import load_config

    cfg = load_config(Path(__file__).resolve().parents[1] / "configs" / "synthetic_uav.py")
    region = cfg.data.source
    whole = region.model_copy(update={"accumulate_region": None})
    spec = cfg.data.grid
    out = {}
    for name, src in (("whole", whole), ("region", region)):
        cached_scene.cache_clear()  # with one frame per scene the second variant would otherwise skip every build
        times, occ = [], []
        for i in range(frames):
            t0 = time.perf_counter()
            s = generate_sample(src, "val", i)
            times.append(time.perf_counter() - t0)
            T = np.linalg.inv(s.T_world_ego) @ s.T_world_lidar
            occ.append(voxelize(s.target_points, spec, T_grid_points=T, features=("occupancy",)).occupied_fraction)
        out[name] = {"s": float(np.mean(times)), "occ": float(np.mean(occ)), "sweeps": src.accumulate_poses}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load average {load:.1f}, "
          f"python {platform.python_version()}, numpy {np.__version__}")
    print(f"frames per preset: {args.frames}, seed {args.seed}, default SyntheticSourceConfig "
          "(LiDAR + 320x256 camera + mono-depth + 5 accumulated sweeps)\n")
    print("| preset | grid | wall s/frame (mean) | wall s/frame (max) | CPU s/frame | budget ratio (1 s / CPU) | "
          "LiDAR pts | target occupied % (mean, min-max) | in-range | visibility s (1 sweep) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for preset, grid in (("uav_town", "uav"), ("street", "occ3d_nuscenes")):
        r = bench_preset(preset, grid, args.frames, args.seed)
        print(f"| {r['preset']} | {r['grid'].split(',')[0]}) | {r['s_per_frame']:.3f} | {r['s_max']:.3f} | "
              f"{r['cpu_s']:.3f} | {BUDGET_S / r['cpu_s']:.2f}x | {r['lidar_points']:.0f} | {100 * r['occ_mean']:.2f} "
              f"({100 * r['occ_min']:.2f}-{100 * r['occ_max']:.2f}) | {r['in_range']:.2f} | {r['visibility_s']:.3f} |")
    acc = bench_accumulation_region(args.frames)
    w, r = acc["whole"], acc["region"]
    print(f"\nmain job's accumulation ({w['sweeps']} sweeps, configs/synthetic_uav.py, {args.frames} val frames): "
          f"whole sweeps {w['s']:.2f} s/frame, accumulate_region {r['s']:.2f} s/frame = {w['s'] / r['s']:.2f}x "
          f"faster; occupied share of its grid {100 * w['occ']:.2f} % vs {100 * r['occ']:.2f} % (other noise draws)")
    rc = bench_raycast(args.seed)
    print(f"\nray casting, {rc['rays']} camera rays vs {rc['primitives']} primitives (uav_town, frame 0):")
    print(f"  direction-binned: {rc['binned_rays_s']:,.0f} rays/s (terrain included)")
    print(f"  brute force     : {rc['brute_rays_s']:,.0f} rays/s (primitives only)")
    print(f"  speed-up        : {rc['binned_rays_s'] / rc['brute_rays_s']:.1f}x; "
          f"agreement on primitive hits: {100 * rc['agree']:.2f} %")


if __name__ == "__main__":
    main()
