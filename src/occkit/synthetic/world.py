"""One synthetic sample, generated on demand and deterministically from (seed, split, index).

``generate_sample`` runs the whole chain for a frame: scene (cached per scene seed), trajectory pose,
LiDAR sweep, camera render, monocular-depth stand-in -> pseudo points, and LiDAR accumulated over
neighbouring poses (the Occ3D-style target). ``SyntheticSample.to_frame()`` gives the Frame every
source yields; writers use the richer sample (intensity, ring, labels of accumulated points).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from occkit.errors import ConfigError
from occkit.frame import CameraView, Frame
from occkit.geometry.grid import GridSpec
from occkit.geometry.transforms import invert_transform
from occkit.synthetic import classes as C
from occkit.synthetic.monodepth import degrade_depth, draw_scale_shift, pseudo_points_of
from occkit.synthetic.rig import T_world_ego, make_rig, make_trajectory
from occkit.synthetic.scene import Scene, make_scene
from occkit.synthetic.sensors import Region, intrinsics, render_camera, scan_lidar

if TYPE_CHECKING:
    from occkit.sources.synthetic import SyntheticSourceConfig

SPLIT_CODES = {"train": 0, "val": 1, "test": 2}
FRAME_DT = 4.0  # trajectory time between frames (a few metres of travel)
BASE_TIMESTAMP_NS = 1658137057_641204937  # an AMtown-like epoch for file names


def is_uav(preset: str) -> bool:
    return preset.startswith("uav")


def label_space(preset: str) -> str:
    return "uavscenes" if is_uav(preset) else "occ3d"


def derive_seed(*parts: int) -> int:
    """A 63-bit seed from integers, stable across numpy versions and platforms."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(2, np.uint64)[0] >> np.uint64(1))


def frame_id(cfg: SyntheticSourceConfig, split: str, index: int) -> str:
    """Stable id of frame ``index`` (no generation needed)."""
    scene_index, k = divmod(int(index), cfg.frames_per_scene)
    name = {"uav_town": "AMtown", "uav_valley": "AMvalley"}.get(cfg.preset, "street")
    return f"synthetic/{cfg.preset}/{split}/{name}{scene_index + 1:02d}/{k:04d}"


@lru_cache(maxsize=8)
def cached_scene(preset: str, scene_seed: int) -> Scene:
    return make_scene(preset, scene_seed)


@dataclass
class SyntheticSample:
    """Everything generated for one frame. Points are in the LiDAR (sensor) frame."""

    frame_id: str
    scene_name: str
    scene_index: int
    index_in_scene: int
    timestamp: float
    T_world_lidar: np.ndarray
    T_world_ego: np.ndarray
    T_cam_lidar: np.ndarray
    points: np.ndarray
    labels: np.ndarray  # internal class per LiDAR point
    intensity: np.ndarray
    ring: np.ndarray
    # the camera side; None when the source does not render it (render_camera=False)
    camera: CameraView | None  # image, true depth, semantics (label space), K, T_world_cam
    camera_cls: np.ndarray | None  # internal class per pixel (NO_HIT = sky)
    noisy_depth: np.ndarray | None  # the monocular-depth stand-in (what DA3 would give)
    noisy_conf: np.ndarray | None
    pseudo_points: np.ndarray | None
    pseudo_origins: np.ndarray | None  # (N, 3) camera per pseudo point when views merge (camera_views > 1)
    target_points: np.ndarray
    target_labels: np.ndarray  # internal class per target point
    target_sweep: np.ndarray  # sweep index per target point (0 = this frame's own sweep)
    accumulation_origins: np.ndarray  # (P, 3) LiDAR origins of the accumulated sweeps, sensor frame
    meta: dict = field(default_factory=dict)

    def to_frame(self) -> Frame:
        space = self.meta["label_space"]
        return Frame(
            frame_id=self.frame_id,
            points=self.points,
            T_world_sensor=self.T_world_lidar,
            point_fields={"intensity": self.intensity, "ring": self.ring},
            point_labels=C.to_label_space(self.labels, space),
            cameras=[self.camera] if self.camera is not None else [],
            pseudo_points=self.pseudo_points,
            pseudo_origins=self.pseudo_origins,
            target_points=self.target_points,
            # where the accumulated sweeps were taken (sensor frame): RayIoU casts from them
            meta={**self.meta, "sensor_origins": np.asarray(self.accumulation_origins, np.float64)},
        )


def generate_sample(cfg: SyntheticSourceConfig, split: str, index: int) -> SyntheticSample:
    """Generate frame ``index`` of ``split``; same (cfg, split, index) -> identical arrays."""
    if split not in SPLIT_CODES:
        raise ValueError(f"split must be one of {tuple(SPLIT_CODES)}, got {split!r}")
    preset, uav = cfg.preset, is_uav(cfg.preset)
    scene_index, k = divmod(int(index), cfg.frames_per_scene)
    scene_seed = derive_seed(cfg.seed, SPLIT_CODES[split], scene_index)
    scene = cached_scene(preset, scene_seed)
    traj = make_trajectory(uav, np.random.default_rng(derive_seed(scene_seed, 1)))
    lidar_cfg, cam_cfg = cfg.lidar, cfg.camera
    pattern = lidar_cfg.pattern if lidar_cfg.pattern != "auto" else ("rosette" if uav else "spinning")
    max_range = lidar_cfg.max_range or (300.0 if pattern == "rosette" else 80.0)
    lidar_pitch = 90.0 if pattern == "rosette" and uav else 0.0
    cam_pitch = cam_cfg.pitch_deg if cam_cfg.pitch_deg is not None else (90.0 if uav else 0.0)
    rig = make_rig(uav, lidar_pitch, cam_pitch)

    def body_pose(tau: float) -> np.ndarray:
        p = traj.position(tau)
        return traj.T_world_body(tau, float(scene.terrain.height(np.array(p[0]), np.array(p[1]))))

    tau = k * FRAME_DT
    T_world_body = body_pose(tau)
    T_world_lidar = T_world_body @ rig.T_body_lidar
    T_world_cam = T_world_body @ rig.T_body_cam
    T_lidar_world = invert_transform(T_world_lidar)
    rng = np.random.default_rng(derive_seed(scene_seed, 2, k))

    scan = scan_lidar(scene, T_world_lidar, lidar_cfg, pattern, max_range, rng, t0=tau)

    space = label_space(preset)
    camera = camera_cls = noisy = conf = pseudo = pseudo_origins = None
    if cfg.render_camera:
        K = intrinsics(cam_cfg)
        render = render_camera(scene, T_world_cam, K, cam_cfg.width, cam_cfg.height, rng)
        scale_shift = draw_scale_shift(cfg.depth_noise, rng)  # what degrade_depth would draw first, in its order
        noisy, conf = degrade_depth(render.depth, cfg.depth_noise, rng, scale_shift=scale_shift)
        pseudo = pseudo_points_of(noisy, conf, K, T_lidar_world @ T_world_cam, cfg.depth_noise)
        if cfg.camera_views > 1:
            pseudo, pseudo_origins = _merged_views(cfg, scene, body_pose, rig, tau, K, T_lidar_world, pseudo,
                                                   T_world_cam, scale_shift, derive_seed(scene_seed, 6, k))
        camera = CameraView(name="CAM", K=K, T_world_cam=T_world_cam, width=cam_cfg.width, height=cam_cfg.height,
                            image=render.image, depth=render.depth, depth_conf=None,
                            semantics=C.to_label_space(render.cls, space), distortion=np.zeros(5))
        camera_cls = render.cls

    # Occ3D-style target: sweeps from poses around this one, moved into this sensor frame
    targets, target_cls, origins = [scan.points], [scan.cls], [np.zeros(3)]
    region = _accumulation_region(cfg, scene, T_world_body, T_world_lidar)
    n_acc = cfg.accumulate_poses
    offsets = (np.arange(n_acc) - (n_acc - 1) / 2) * cfg.accumulate_dt
    for j, dt in enumerate(offsets):
        if dt == 0:
            continue
        T_wl = body_pose(tau + dt) @ rig.T_body_lidar
        parts = (scene_seed, 3, k, j) + ((cfg.accumulation_seed,) if cfg.accumulation_seed else ())
        acc_rng = np.random.default_rng(derive_seed(*parts))
        s = scan_lidar(scene, T_wl, lidar_cfg, pattern, max_range, acc_rng, t0=tau + dt, region=region)
        T = T_lidar_world @ T_wl @ _pose_error(cfg, acc_rng)
        targets.append((s.points.astype(np.float64) @ T[:3, :3].T + T[:3, 3]).astype(np.float32))
        target_cls.append(s.cls)
        origins.append(T[:3, 3])

    scene_name = f"{scene.name}{scene_index + 1:02d}"
    timestamp_ns = (BASE_TIMESTAMP_NS + (SPLIT_CODES[split] * 100_000 + 1000 * scene_index) * 10**9
                    + int(round(tau * 1e9)) + int(rng.integers(0, 5_000_000)))  # a few ms of trigger jitter
    timestamp = timestamp_ns / 1e9
    meta = {"scene": scene_name, "preset": preset, "seed": cfg.seed, "split": split, "index": int(index),
            "scene_seed": scene_seed, "label_space": space, "timestamp": timestamp, "timestamp_ns": timestamp_ns,
            "T_world_ego": T_world_ego(T_world_body, T_world_lidar),
            "ground_dem": dem_tile(scene, T_world_lidar[:2, 3], cfg.dem_noise_m,
                                   np.random.default_rng(derive_seed(scene_seed, 5, k)))}
    return SyntheticSample(
        frame_id=frame_id(cfg, split, index), scene_name=scene_name, scene_index=scene_index,
        index_in_scene=k, timestamp=timestamp, T_world_lidar=T_world_lidar, T_world_ego=meta["T_world_ego"],
        T_cam_lidar=invert_transform(T_world_cam) @ T_world_lidar, points=scan.points, labels=scan.cls,
        intensity=scan.intensity, ring=scan.ring, camera=camera, camera_cls=camera_cls,
        noisy_depth=noisy, noisy_conf=conf,
        pseudo_points=pseudo, pseudo_origins=pseudo_origins, target_points=np.concatenate(targets),
        target_labels=np.concatenate(target_cls),
        target_sweep=np.repeat(np.arange(len(targets)), [len(t) for t in targets]).astype(np.int32),
        accumulation_origins=np.array(origins), meta=meta)


def _merged_views(cfg: SyntheticSourceConfig, scene: Scene, body_pose, rig, tau: float, K: np.ndarray,
                  T_lidar_world: np.ndarray, own: np.ndarray, T_world_cam: np.ndarray,
                  scale_shift: tuple[float, float], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """This frame's pseudo points (``own``, from its camera at ``T_world_cam``) merged with its neighbours' views
    (``cfg.camera_views``, centred on it, ``cfg.accumulate_dt`` apart), all in this frame's sensor frame: this
    view's ``scale_shift`` for every view, each view its own noise (``SyntheticSourceConfig.camera_views``). Returns
    (points, the camera of each point)."""
    rng = np.random.default_rng(seed)
    cam_cfg = cfg.camera
    parts = [own]
    origins = [np.broadcast_to((T_lidar_world @ T_world_cam)[:3, 3], own.shape)]
    n = cfg.camera_views
    for dt in (np.arange(n) - (n - 1) / 2) * cfg.accumulate_dt:
        if dt == 0:
            continue
        T_wc = body_pose(tau + dt) @ rig.T_body_cam
        render = render_camera(scene, T_wc, K, cam_cfg.width, cam_cfg.height, rng)
        noisy, conf = degrade_depth(render.depth, cfg.depth_noise, rng, scale_shift=scale_shift)
        T_lidar_cam = T_lidar_world @ T_wc
        pts = pseudo_points_of(noisy, conf, K, T_lidar_cam, cfg.depth_noise)
        parts.append(pts)
        origins.append(np.broadcast_to(T_lidar_cam[:3, 3], pts.shape))
    return np.concatenate(parts), np.concatenate(origins).astype(np.float32)


DEM_HALF_WIDTH_M, DEM_CELL_M = 150.0, 2.5  # covers a 70-degree camera's view from 130 m up


def dem_tile(scene: Scene, xy: np.ndarray, noise: float, rng: np.random.Generator) -> dict:
    """The terrain around ``xy`` as an elevation model gives it (world frame, ``DEM_CELL_M`` cells, one offset of
    ``noise`` sigma for its vertical error): what a user reads from a DEM to fix pseudo-LiDAR's scale where the
    ground is not flat at the datum (``occkit.depth.scale_align.GroundRaster``)."""
    g = np.arange(-DEM_HALF_WIDTH_M, DEM_HALF_WIDTH_M + 1e-9, DEM_CELL_M)
    gx, gy = np.meshgrid(xy[0] + g, xy[1] + g, indexing="ij")
    heights = scene.terrain.height(gx, gy) + (rng.normal(0.0, noise) if noise > 0 else 0.0)
    return {"origin": (float(xy[0] + g[0]), float(xy[1] + g[0])), "cell": DEM_CELL_M,
            "heights": heights.astype(np.float32)}


REGION_MARGIN_M = 2.0  # registration noise moves accumulated points by centimetres; this keeps every one of them


def _accumulation_region(cfg: SyntheticSourceConfig, scene: Scene, T_world_body: np.ndarray,
                         T_world_lidar: np.ndarray) -> Region | None:
    """The box the accumulated sweeps are cast into: ``cfg.accumulate_region`` in this frame's ego frame, its
    top lowered to the highest surface under it (rays from far above pass over the grid's empty sky)."""
    if cfg.accumulate_region is None:
        return None
    box = np.asarray(cfg.accumulate_region, dtype=np.float64)
    lo, hi = box[:3] - REGION_MARGIN_M, box[3:] + REGION_MARGIN_M
    T = T_world_ego(T_world_body, T_world_lidar)
    corners = np.array([[x, y, 0.0] for x in (lo[0], hi[0]) for y in (lo[1], hi[1])]) @ T[:3, :3].T + T[:3, 3]
    top_world = scene.top_within(corners[:, :2].min(axis=0), corners[:, :2].max(axis=0))
    # the ego frame is gravity-aligned (a turn about z), so a world height is an ego height less the frame's own
    hi[2] = max(lo[2], min(hi[2], top_world - T[2, 3] + REGION_MARGIN_M))
    return Region(T[:3, :3] @ ((lo + hi) / 2) + T[:3, 3], (hi - lo) / 2, float(np.arctan2(T[1, 0], T[0, 0])))


def _pose_error(cfg: SyntheticSourceConfig, rng: np.random.Generator) -> np.ndarray:
    """A small rigid error (sensor frame) for one accumulated sweep: what imperfect registration leaves."""
    from occkit.geometry.transforms import make_transform
    from occkit.synthetic.rig import rot_y

    T = np.eye(4)
    if cfg.accumulate_pose_noise_m <= 0 and cfg.accumulate_pose_noise_deg <= 0:
        return T
    sigma_deg = cfg.accumulate_pose_noise_deg
    a = np.deg2rad(rng.normal(0.0, sigma_deg, 3)) if sigma_deg > 0 else np.zeros(3)
    cz, sz, cx, sx = np.cos(a[2]), np.sin(a[2]), np.cos(a[0]), np.sin(a[0])
    Rz = np.array([[cz, -sz, 0.0], [sz, cz, 0.0], [0.0, 0.0, 1.0]])
    Rx = np.array([[1.0, 0.0, 0.0], [0.0, cx, -sx], [0.0, sx, cx]])
    return make_transform(Rz @ rot_y(a[1]) @ Rx, rng.normal(0.0, cfg.accumulate_pose_noise_m, 3))


def sample_camera(sample: SyntheticSample, use: str) -> CameraView:
    """The sample's camera, or one line saying that ``use`` needs it when the source did not render one."""
    if sample.camera is None:
        raise ConfigError(f"synthetic frame {sample.frame_id}: {use} needs its camera; generate it with "
                          "data.source.render_camera=True")
    return sample.camera


def target_grids(sample: SyntheticSample, spec: GridSpec, kind: str = "lidar",
                 scene: Scene | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Occ3D-style ground truth of a sample on ``spec`` in its ego frame.

    Returns (semantics uint8 with 17 = free, mask_lidar bool, mask_camera bool, T_ego_lidar). ``kind="lidar"``
    votes labels of the accumulated LiDAR points; ``"solid"`` fills the primitives exactly (needs ``scene``).
    Every occupied voxel counts as LiDAR-observed.
    """
    from occkit.synthetic.groundtruth import camera_mask, lidar_mask, semantic_grid, solid_grid

    T_ego_lidar = invert_transform(sample.T_world_ego) @ sample.T_world_lidar
    if kind == "solid":
        if scene is None:
            raise ValueError("target_grids(kind='solid') needs the scene")
        solid = solid_grid(scene, spec, sample.T_world_ego)
        sem = np.where(solid >= 0, C.TO_OCC3D[np.maximum(solid, 0)], C.OCC3D_FREE).astype(np.uint8)
    elif kind == "lidar":
        sem = semantic_grid(sample.target_points, C.TO_OCC3D[sample.target_labels], spec, T_ego_lidar)
    else:
        raise ValueError(f"target kind must be 'lidar' or 'solid', got {kind!r}")
    m_lidar = lidar_mask(sample.target_points, sample.target_sweep, sample.accumulation_origins, spec, T_ego_lidar)
    camera = sample_camera(sample, "the camera visibility mask")
    m_cam = camera_mask(camera.depth, camera.K, invert_transform(sample.T_cam_lidar), spec, T_ego_lidar)
    return sem, m_lidar | (sem != C.OCC3D_FREE), m_cam, T_ego_lidar


def attach_target(frame: Frame, sample: SyntheticSample, cfg: SyntheticSourceConfig) -> Frame:
    """Give ``frame`` a shipped target grid in its ego frame (Occ3D ids, 17 = free) with LiDAR and camera
    masks, and state that grid frame in ``meta["T_grid_sensor"]`` so the data pipeline uses it as is."""
    from occkit.frame import OccupancyTarget

    spec = cfg.target_spec()
    scene = cached_scene(cfg.preset, sample.meta["scene_seed"])
    sem, m_lidar, m_cam, T_ego_lidar = target_grids(sample, spec, cfg.ship_target, scene)
    frame.target = OccupancyTarget(spec=spec, semantics=sem, free_label=C.OCC3D_FREE, mask_lidar=m_lidar,
                                   mask_camera=m_cam)
    frame.meta["T_grid_sensor"] = T_ego_lidar
    return frame
