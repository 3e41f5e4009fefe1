"""The synthetic world's class table and its maps to the Occ3D and UAVScenes-like id spaces.

Primitives carry an internal class id (row of ``CLASSES``). Writers and frames map it to the id space
of the format they imitate: Occ3D-nuScenes 0-16 (17 = free) or a UAVScenes-like 26-id palette.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

OCC3D_FREE = 17
OCC3D_NAMES = ("others", "barrier", "bicycle", "bus", "car", "construction_vehicle", "motorcycle", "pedestrian",
               "traffic_cone", "trailer", "truck", "driveable_surface", "other_flat", "sidewalk", "terrain",
               "manmade", "vegetation")
UAVSCENES_NUM_IDS = 26


class SynClass(NamedTuple):
    name: str
    occ3d: int
    uavscenes: int
    rgb: tuple[int, int, int]
    reflectivity: float  # LiDAR intensity scale in [0, 1]


# Internal ids are the row numbers. Keep the order: scenes store these ints.
CLASSES: tuple[SynClass, ...] = (
    SynClass("terrain", 14, 13, (110, 150, 70), 0.35),      # 0 grass / field
    SynClass("road", 11, 3, (90, 90, 95), 0.15),            # 1 paved road
    SynClass("sidewalk", 13, 19, (170, 165, 155), 0.30),    # 2 paved walk
    SynClass("building", 15, 1, (185, 120, 100), 0.45),     # 3 walls and roofs
    SynClass("vegetation", 16, 14, (40, 110, 40), 0.55),    # 4 tree crowns
    SynClass("trunk", 16, 14, (95, 70, 45), 0.40),          # 5 tree trunks
    SynClass("car", 4, 20, (200, 30, 40), 0.60),            # 6 sedans
    SynClass("truck", 10, 24, (230, 200, 40), 0.60),        # 7 trucks / vans
    SynClass("pole", 15, 11, (150, 150, 160), 0.70),        # 8 poles, lamp posts
    SynClass("wall", 1, 11, (200, 200, 190), 0.50),         # 9 walls, barriers
)
TERRAIN, ROAD, SIDEWALK, BUILDING, VEGETATION, TRUNK, CAR, TRUCK, POLE, WALL = range(len(CLASSES))
NO_HIT = -1  # class of a ray that hit nothing (sky)

TO_OCC3D = np.array([c.occ3d for c in CLASSES], dtype=np.uint8)
TO_UAVSCENES = np.array([c.uavscenes for c in CLASSES], dtype=np.uint8)
COLORS = np.array([c.rgb for c in CLASSES], dtype=np.float32) / 255.0
REFLECTIVITY = np.array([c.reflectivity for c in CLASSES], dtype=np.float32)
SKY_RGB = np.array([170, 200, 235], dtype=np.float32) / 255.0

LABEL_SPACES = ("occ3d", "uavscenes")


def to_label_space(internal: np.ndarray, space: str, no_hit: int = 0) -> np.ndarray:
    """Map internal class ids (``NO_HIT`` allowed) to ``space`` ids; ``no_hit`` marks sky pixels."""
    table = {"occ3d": TO_OCC3D, "uavscenes": TO_UAVSCENES}.get(space)
    if table is None:
        raise ValueError(f"label space must be one of {LABEL_SPACES}, got {space!r}")
    ids = np.asarray(internal)
    out = np.full(ids.shape, no_hit, dtype=np.uint8)
    hit = ids >= 0
    out[hit] = table[ids[hit]]
    return out
