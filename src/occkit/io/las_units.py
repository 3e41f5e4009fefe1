"""The length unit a LAS file declares, so that clouds in feet are converted to metres, never binned as metres.

LAS stores the coordinate system in a WKT VLR (record 2112) or GeoTIFF keys (record 34735). The WKT names
its units with their size in metres (``UNIT["Foot_US",0.3048006096012192]``); the GeoTIFF keys give EPSG unit
codes for the horizontal (ProjLinearUnitsGeoKey 3076) and vertical (VerticalUnitsGeoKey 4099) axes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# EPSG linear unit codes -> metres per unit (the ones LAS files use)
EPSG_UNITS = {9001: ("metre", 1.0), 9002: ("foot", 0.3048), 9003: ("US survey foot", 1200.0 / 3937.0),
              9030: ("nautical mile", 1852.0), 9036: ("kilometre", 1000.0)}
_UNIT = re.compile(r'UNIT\[\s*"([^"]+)"\s*,\s*([0-9.eE+-]+)')
_ANGULAR = ("degree", "radian", "grad", "arc", "minute", "second")


@dataclass(frozen=True)
class LasUnits:
    """Metres per unit of x/y and of z, and the unit names as the file gives them."""

    horizontal: float = 1.0
    vertical: float = 1.0
    horizontal_name: str = "metre"
    vertical_name: str = "metre"

    @property
    def is_metric(self) -> bool:
        return abs(self.horizontal - 1.0) < 1e-9 and abs(self.vertical - 1.0) < 1e-9


def las_units(header: Any) -> LasUnits:
    """The units a laspy header's VLRs declare (metres when none are declared)."""
    h_unit = v_unit = None
    for vlr in list(getattr(header, "vlrs", [])) + list(getattr(header, "evlrs", None) or []):
        text = getattr(vlr, "string", None)
        if isinstance(text, str) and "UNIT" in text:
            h_unit, v_unit = _wkt_units(text)
            break
        keys = getattr(vlr, "geo_keys", None)
        if keys:
            codes = {int(k.id): int(k.value_offset) for k in keys}
            h_unit = EPSG_UNITS.get(codes.get(3076, 9001)) or h_unit
            v_unit = EPSG_UNITS.get(codes[4099]) if 4099 in codes else None
    if h_unit is None:
        return LasUnits()
    v_unit = v_unit or h_unit  # a LAS with feet on x/y and no vertical unit keeps z in the same unit
    return LasUnits(h_unit[1], v_unit[1], h_unit[0], v_unit[0])


def _wkt_units(wkt: str) -> tuple[tuple[str, float] | None, tuple[str, float] | None]:
    """(horizontal, vertical) linear units of a WKT: the PROJCS unit, and the VERT_CS unit when there is one."""
    vert_at = max(wkt.find("VERT_CS"), wkt.find("VERTCRS"))
    linear = [(m.start(), m.group(1), float(m.group(2))) for m in _UNIT.finditer(wkt)
              if not m.group(1).lower().startswith(_ANGULAR)]
    horizontal = [(n, f) for at, n, f in linear if vert_at < 0 or at < vert_at]
    vertical = [(n, f) for at, n, f in linear if vert_at >= 0 and at > vert_at]
    return (horizontal[-1] if horizontal else None), (vertical[-1] if vertical else None)
