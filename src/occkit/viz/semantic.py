"""Semantic grids drawn in their dataset's own class colours, with a legend of the classes present.

Palettes: Occ3D / nuScenes (the colours the Occ3D and SurroundOcc visualisers use), Occ3D-Waymo, SemanticKITTI (the
semantic-kitti-api ``learning_map`` classes in its config colours) and UAVScenes (the dataset's 26-id cmap).
"""

from __future__ import annotations

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from occkit.geometry.grid import GridSpec
from occkit.viz._common import IGNORED_COLOR, new_figure, plan_extent, plan_height

OCC3D = (("others", (0, 0, 0)), ("barrier", (255, 120, 50)), ("bicycle", (255, 192, 203)),
         ("bus", (255, 255, 0)), ("car", (0, 150, 245)), ("construction_vehicle", (0, 255, 255)),
         ("motorcycle", (200, 180, 0)), ("pedestrian", (255, 0, 0)), ("traffic_cone", (255, 240, 150)),
         ("trailer", (135, 60, 0)), ("truck", (160, 32, 240)), ("driveable_surface", (255, 0, 255)),
         ("other_flat", (175, 0, 75)), ("sidewalk", (75, 0, 75)), ("terrain", (150, 240, 80)),
         ("manmade", (230, 230, 250)), ("vegetation", (0, 175, 0)))
SEMANTICKITTI = (("unlabeled", (0, 0, 0)), ("car", (100, 150, 245)), ("bicycle", (100, 230, 245)),
                 ("motorcycle", (30, 60, 150)), ("truck", (80, 30, 180)), ("other-vehicle", (100, 80, 250)),
                 ("person", (255, 30, 30)), ("bicyclist", (255, 40, 200)), ("motorcyclist", (150, 30, 90)),
                 ("road", (255, 0, 255)), ("parking", (255, 150, 255)), ("sidewalk", (75, 0, 75)),
                 ("other-ground", (175, 0, 75)), ("building", (255, 200, 0)), ("fence", (255, 120, 50)),
                 ("vegetation", (0, 175, 0)), ("trunk", (135, 60, 0)), ("terrain", (150, 240, 80)),
                 ("pole", (255, 240, 150)), ("traffic-sign", (255, 0, 0)))
# Occ3D-Waymo's 15 classes (ids 0-14; its files mark free with 23), in colours of the same families as Occ3D's
OCC3D_WAYMO = (("general_object", (0, 0, 0)), ("vehicle", (0, 150, 245)), ("pedestrian", (255, 0, 0)),
               ("sign", (255, 240, 150)), ("cyclist", (255, 192, 203)), ("traffic_light", (255, 120, 50)),
               ("pole", (200, 180, 0)), ("construction_cone", (255, 160, 0)), ("bicycle", (100, 230, 245)),
               ("motorcycle", (30, 60, 150)), ("building", (230, 230, 250)), ("vegetation", (0, 175, 0)),
               ("tree_trunk", (135, 60, 0)), ("road", (255, 0, 255)), ("walkable", (75, 0, 75)))
PALETTES = ("occ3d", "occ3d_waymo", "semantickitti", "uavscenes")


def palette(name: str) -> tuple[tuple[str, tuple[int, int, int]], ...]:
    """(class name, RGB) per class id for one of :data:`PALETTES`."""
    if name == "occ3d":
        return OCC3D
    if name == "occ3d_waymo":
        return OCC3D_WAYMO
    if name == "semantickitti":
        return SEMANTICKITTI
    if name == "uavscenes":
        from occkit.sources.uavscenes_meta import LABEL_NAMES, PALETTE

        return tuple((n, tuple(int(c) for c in rgb)) for n, rgb in zip(LABEL_NAMES, PALETTE, strict=True))
    from occkit.errors import ConfigError

    raise ConfigError(f"--palette: expected one of {', '.join(PALETTES)}, got {name!r}")


def guess_palette(free_label: int, max_label: int) -> str:
    """Occ3D marks free with 17 (Occ3D-Waymo with 23), SemanticKITTI uses 0-19 with 0 free; more ids than that are
    UAVScenes."""
    if free_label == 17 and max_label <= 17:
        return "occ3d"
    if free_label == 23 and max_label <= 23:
        return "occ3d_waymo"
    return "semantickitti" if max_label <= 19 else "uavscenes"


def top_class(semantics: np.ndarray, free: np.ndarray) -> np.ndarray:
    """[x, y] class of the highest non-free voxel per column; -1 where a column is all free."""
    occ = ~free
    nz = semantics.shape[2]
    top = nz - 1 - np.argmax(occ[:, :, ::-1], axis=2)
    cls = np.take_along_axis(semantics, top[:, :, None], axis=2)[:, :, 0].astype(np.int64)
    return np.where(occ.any(axis=2), cls, -1)


def semantic_bev_figure(semantics: np.ndarray, spec: GridSpec, palette_name: str, free_label: int,
                        title: str = "semantics") -> Figure:
    """BEV of the top class per column in the dataset's colours, with a legend of the classes present."""
    classes = palette(palette_name)
    sem = np.asarray(semantics)
    spec.check_array(sem, title)
    free = (sem == free_label) | (sem == 255)
    top = top_class(sem, free)
    colours = np.array([rgb for _, rgb in classes] + [(128, 128, 128)], dtype=np.float64) / 255.0
    unknown = len(classes)  # ids beyond the palette are drawn grey
    index = np.where(top >= len(classes), unknown, top)
    fig = new_figure(8.4, plan_height(spec, 5.6) + 1.9)
    ax = fig.add_subplot()
    ax.set_facecolor(IGNORED_COLOR)
    ax.imshow(np.ma.masked_less(index, 0).T, origin="lower", extent=plan_extent(spec),
              cmap=ListedColormap(colours), vmin=-0.5, vmax=unknown + 0.5, interpolation="nearest")
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.set_aspect("equal")
    present = sorted(int(c) for c in np.unique(index[index >= 0]))
    handles = [Patch(facecolor=colours[c], edgecolor="0.4",
                     label=classes[c][0] if c < len(classes) else "id beyond the palette") for c in present]
    handles.append(Patch(facecolor=IGNORED_COLOR, edgecolor="0.5", label="free column"))
    fig.legend(handles=handles, loc="outside lower center", ncols=min(6, len(handles)), fontsize=8)
    ax.set_title(f"{title}: top class per column ({palette_name} colours)", fontsize=10)
    return fig
