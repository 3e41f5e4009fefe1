"""Info files of the nuScenes occupancy world, in the three layouts users bring, as one ``{scene: [records]}``.

- **OccWorld**: ``{"infos": {scene_name: [record, ...]}}`` (records as the source reads them).
- **CVPR2023 occupancy challenge / BEVFormer**: ``{"infos": [record, ...], "metadata": ...}`` whose records
  carry ``scene_name`` and ``occ_gt_path`` (``gts/<scene>/<token>/labels.npz``) besides the mmdet3d v0.x keys.
- **mmdetection3d v1.x**: ``{"metainfo": ..., "data_list": [record, ...]}`` with ``lidar_points.lidar_path``,
  4x4 ``lidar_points.lidar2ego`` and ``ego2global``, ``images[cam].img_path/cam2img/lidar2cam`` and a timestamp in
  seconds. Records name no scene, so the scene is found by token under ``gts/*/<token>/``.

Every layout is read through the restricted unpickler (occkit.io.safe_pickle): an info file never runs code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from occkit.errors import InputFileError

Records = dict[str, list[Mapping[str, Any]]]
LAYOUTS = ("OccWorld {'infos': {scene: [..]}}, the occupancy challenge {'infos': [..]}, "
           "or mmdet3d v1.x {'data_list': [..]}")


def normalize_infos(data: Any, path: Path, scene_of_token: Callable[[str], str | None]) -> Records:
    """Records per scene from any supported layout; ``scene_of_token`` resolves mmdet3d v1.x scenes."""
    if not isinstance(data, Mapping):
        raise InputFileError(path, f"expected a dict at the top level ({LAYOUTS}), got {type(data).__name__}")
    infos = data.get("infos")
    if isinstance(infos, Mapping):
        if not all(isinstance(v, Sequence) for v in infos.values()):
            raise InputFileError(path, "infos: expected {scene_name: [frame records]} (OccWorld layout)")
        return {str(k): list(v) for k, v in infos.items()}
    if isinstance(infos, Sequence) and not isinstance(infos, (str, bytes)):
        return _group(path, (_challenge_record(rec, i, path) for i, rec in enumerate(infos)))
    if isinstance(data.get("data_list"), Sequence):
        return _group(path, (_mmdet3d_v1_record(rec, i, path, scene_of_token)
                             for i, rec in enumerate(data["data_list"])))
    raise InputFileError(path, f"unknown info layout (keys {sorted(map(str, data))[:6]}); expected {LAYOUTS}")


def _group(path: Path, records: Any) -> Records:
    out: Records = {}
    for scene, rec in records:
        out.setdefault(scene, []).append(rec)
    if not out:
        raise InputFileError(path, "holds no frame records")
    return out


def _record(rec: Any, i: int, path: Path, key: str) -> Mapping[str, Any]:
    if not isinstance(rec, Mapping) or "token" not in rec:
        raise InputFileError(path, f"{key}[{i}] is not a frame record with a 'token'")
    return rec


def _scene_from_gt_path(raw: Any) -> str | None:
    parts = Path(str(raw)).parts
    return parts[-3] if len(parts) >= 3 else None


def _challenge_record(rec: Any, i: int, path: Path) -> tuple[str, Mapping[str, Any]]:
    rec = _record(rec, i, path, "infos")
    scene = rec.get("scene_name") or (_scene_from_gt_path(rec["occ_gt_path"]) if "occ_gt_path" in rec else None)
    if not scene:
        raise InputFileError(path, f"infos[{i}] (token {rec['token']}) has neither scene_name nor occ_gt_path")
    return str(scene), rec


def _mmdet3d_v1_record(rec: Any, i: int, path: Path,
                       scene_of_token: Callable[[str], str | None]) -> tuple[str, Mapping[str, Any]]:
    rec = _record(rec, i, path, "data_list")
    token = str(rec["token"])
    lidar = rec.get("lidar_points") or {}
    out: dict[str, Any] = {"token": token}
    if "lidar_path" in lidar:
        out["lidar_path"] = lidar["lidar_path"]
    if "lidar2ego" in lidar:
        out["T_ego_lidar"] = np.asarray(lidar["lidar2ego"], dtype=np.float64)
    if "ego2global" in rec:
        out["T_world_ego"] = np.asarray(rec["ego2global"], dtype=np.float64)
    if rec.get("timestamp") is not None:  # seconds in v1.x; occkit keeps nuScenes microseconds
        ts = float(rec["timestamp"])
        out["timestamp"] = int(round(ts * 1e6)) if ts < 1e11 else int(ts)
    for key in ("occ_gt_path", "occ_path"):
        if key in rec:
            out["occ_gt_path"] = rec[key]
    images = rec.get("images")
    if isinstance(images, Mapping):
        out["cams"] = {name: _mmdet3d_v1_camera(cam) for name, cam in images.items()
                       if isinstance(cam, Mapping) and cam.get("img_path") and "cam2img" in cam and "lidar2cam" in cam}
    scene = rec.get("scene_name") or (_scene_from_gt_path(out["occ_gt_path"]) if "occ_gt_path" in out else None)
    scene = scene or scene_of_token(token)
    if not scene:
        raise InputFileError(path, f"data_list[{i}] (token {token}): no gts/<scene>/{token}/labels.npz found under "
                                   "the dataset root, and the record names no scene")
    return str(scene), out


def _mmdet3d_v1_camera(cam: Mapping[str, Any]) -> dict[str, Any]:
    K = np.asarray(cam["cam2img"], dtype=np.float64)[:3, :3]
    T_cam_lidar = np.asarray(cam["lidar2cam"], dtype=np.float64)
    return {"data_path": cam["img_path"], "cam_intrinsic": K, "T_lidar_cam": np.linalg.inv(T_cam_lidar)}
