"""Sensor rigs and trajectories: where the vehicle is at time tau, and where its sensors sit on it.

The body frame is gravity-aligned (x = heading, z up). The ego frame of a frame is the body frame moved
under the LiDAR and dropped to the map datum (z = 0): the "uav" GridSpec measures z from the datum, and the street
vehicle drives on ground at z ~ 0, so both presets share one definition of T_world_ego.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from occkit.geometry.transforms import invert_transform, make_transform, yaw_transform


def rot_y(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


# OpenCV camera looking along body +x: x_cam = -y_body, y_cam = -z_body, z_cam = +x_body
R_BODY_CAM_FORWARD = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


@dataclass(frozen=True)
class Rig:
    """Fixed sensor mounts on the body."""

    T_body_lidar: np.ndarray
    T_body_cam: np.ndarray

    @property
    def T_cam_lidar(self) -> np.ndarray:
        return invert_transform(self.T_body_cam) @ self.T_body_lidar


def make_rig(uav: bool, lidar_pitch_deg: float, cam_pitch_deg: float) -> Rig:
    """UAV: LiDAR and camera under the airframe; street: roof LiDAR at 1.84 m, camera at 1.5 m."""
    lp, cp = np.deg2rad(lidar_pitch_deg), np.deg2rad(cam_pitch_deg)
    if uav:
        return Rig(make_transform(rot_y(lp), [0.05, 0.0, -0.15]),
                   make_transform(rot_y(cp) @ R_BODY_CAM_FORWARD, [0.12, 0.02, -0.18]))
    return Rig(make_transform(rot_y(lp), [0.94, 0.0, 1.84]),
               make_transform(rot_y(cp) @ R_BODY_CAM_FORWARD, [1.70, 0.0, 1.51]))


@dataclass(frozen=True)
class Trajectory:
    """A smooth closed path: p(tau) = centre + (ax sin(w tau), ay sin(2 w tau + phi)), altitude z(tau)."""

    center: tuple[float, float]
    amp: tuple[float, float]
    omega: float
    phase: float
    altitude: float
    altitude_amp: float
    ground_following: bool = False  # street: z tracks the terrain, body stays level

    def position(self, tau: float) -> np.ndarray:
        w = self.omega
        x = self.center[0] + self.amp[0] * np.sin(w * tau)
        y = self.center[1] + self.amp[1] * np.sin(2 * w * tau + self.phase)
        z = self.altitude + self.altitude_amp * np.sin(0.5 * w * tau + self.phase)
        return np.array([x, y, z])

    def heading(self, tau: float) -> float:
        w = self.omega
        vx = self.amp[0] * w * np.cos(w * tau)
        vy = self.amp[1] * 2 * w * np.cos(2 * w * tau + self.phase)
        return float(np.arctan2(vy, vx)) if abs(vx) + abs(vy) > 1e-9 else 0.0

    def T_world_body(self, tau: float, ground_height: float = 0.0) -> np.ndarray:
        p = self.position(tau)
        if self.ground_following:
            p[2] = ground_height
        return yaw_transform(self.heading(tau), p)


def T_world_ego(T_world_body: np.ndarray, T_world_lidar: np.ndarray) -> np.ndarray:
    """The body's heading, origin under the LiDAR on the datum (z = 0): the same gravity-aligned ego frame
    the data pipeline builds from a pose (``occkit.data.alignment.ego_transform``)."""
    T = T_world_body.copy()
    T[:2, 3] = T_world_lidar[:2, 3]
    T[2, 3] = 0.0
    return T


def make_trajectory(uav: bool, rng: np.random.Generator) -> Trajectory:
    if uav:
        return Trajectory(center=tuple(rng.uniform(-15, 15, 2)), amp=tuple(rng.uniform(25, 55, 2)),
                          omega=float(rng.uniform(0.02, 0.04)), phase=float(rng.uniform(0, 2 * np.pi)),
                          altitude=float(rng.uniform(50.0, 130.0)), altitude_amp=float(rng.uniform(0.0, 10.0)))
    # street: drive along +x on the right lane (y < 0); amp_y = 0 keeps the path straight
    return Trajectory(center=(float(rng.uniform(-20, 20)), -float(rng.uniform(1.5, 2.5))), amp=(110.0, 0.0),
                      omega=float(rng.uniform(0.025, 0.04)), phase=0.0, altitude=0.0, altitude_amp=0.0,
                      ground_following=True)
