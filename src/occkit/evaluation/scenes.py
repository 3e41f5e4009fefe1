"""Which scene a frame belongs to, read from its id.

Every source names frames ``.../<scene>/<frame>``: Occ3D ``<scene>/<token>``, SemanticKITTI
``<sequence>/<frame>``, UAVScenes ``<run>/<timestamp>``, the folder source ``<sequence>/<name>``, the synthetic
world ``synthetic/<preset>/<split>/<scene>/<k>``. The scene is the component before the last; an id without a
``/`` belongs to the scene ``"all"``.
"""

from __future__ import annotations


def scene_of(frame_id: str) -> str:
    """``"a/b/AMtown01/0003"`` -> ``"AMtown01"``; ``"x"`` -> ``"all"``."""
    parts = [p for p in str(frame_id).split("/") if p]
    return parts[-2] if len(parts) >= 2 else "all"
