"""Data files never run code: checkpoints and info pickles whose payload would write a marker file are refused,
and the marker never appears. Also the info layouts other than OccWorld's, read through the same safe path."""

import os
import pickle

import numpy as np
import pytest
import torch
from test_occ3d_source import SMALL, T_EGO_LIDAR, _dataset
from typer.testing import CliRunner

from occkit.cli import app
from occkit.errors import InputFileError
from occkit.io.safe_pickle import safe_load_pickle
from occkit.sources.config import Occ3DSourceConfig
from occkit.train.checkpoint import read_checkpoint


class _Payload:
    """Pickles to ``os.system("touch <marker>")``: what a hostile file would carry."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_checkpoint_with_code_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "PWNED"
    ckpt = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {"config": _Payload(marker)}}, ckpt)
    with pytest.raises(InputFileError, match=r"evil\.ckpt: refused: .*system.*run code"):
        read_checkpoint(ckpt)
    assert not marker.exists()


def test_checkpoint_cli_refusal_is_one_line(tmp_path):
    marker = tmp_path / "PWNED"
    ckpt = tmp_path / "evil.ckpt"
    torch.save({"x": _Payload(marker)}, ckpt)
    result = CliRunner().invoke(app, ["eval", "--checkpoint", str(ckpt)])
    assert result.exit_code == 2, result.output
    assert result.output.strip().count("\n") == 0 and "refused" in result.output
    assert not marker.exists()


def test_legacy_and_plain_pickles_with_code_are_refused_and_a_text_file_is_no_checkpoint(tmp_path):
    marker = tmp_path / "PWNED"
    legacy = tmp_path / "legacy.ckpt"
    torch.save({"x": _Payload(marker)}, legacy, _use_new_zipfile_serialization=False)
    plain = tmp_path / "plain.ckpt"
    plain.write_bytes(pickle.dumps({"x": _Payload(marker)}, protocol=4))
    for path in (legacy, plain):
        with pytest.raises(InputFileError, match=rf"{path.name}: refused: the checkpoint holds pickled objects.*code"):
            read_checkpoint(path)
    assert not marker.exists()
    text = tmp_path / "notes.ckpt"
    text.write_text("garbage\n")
    with pytest.raises(InputFileError, match=r"notes\.ckpt: not a PyTorch checkpoint: neither the zip archive"):
        read_checkpoint(text)


def test_empty_checkpoint_is_named(tmp_path):
    (tmp_path / "last.ckpt").write_bytes(b"")
    with pytest.raises(InputFileError, match="empty file"):
        read_checkpoint(tmp_path / "last.ckpt")


def test_info_pickle_with_code_is_refused_even_when_found_automatically(tmp_path):
    _dataset(tmp_path, scenes=("scene-0001",), per_scene=1)
    marker = tmp_path / "PWNED"
    (tmp_path / "occ_infos_train.pkl").write_bytes(pickle.dumps({"infos": {"scene-0001": [_Payload(marker)]}}))
    with pytest.raises(InputFileError, match=r"occ_infos_train\.pkl: refused: .*system.*trust_pickle=True"):
        Occ3DSourceConfig(root=tmp_path, grid=SMALL).build("train")  # no info_file configured
    assert not marker.exists()


def test_trusted_pickle_is_the_explicit_legacy_path(tmp_path):
    from collections import Counter

    path = tmp_path / "legacy.pkl"
    path.write_bytes(pickle.dumps({"infos": Counter(a=1)}))
    with pytest.raises(InputFileError, match="collections.Counter"):
        safe_load_pickle(path)
    assert safe_load_pickle(path, trust=True) == {"infos": Counter(a=1)}


def test_plain_data_with_numpy_loads_safely(tmp_path):
    from collections import OrderedDict

    data = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": OrderedDict(x=np.float64(2.5)),
            "c": [np.int64(3), (1, "s")], "d": np.array([1, 2], dtype=np.uint8)}
    for protocol in (2, 4, 5):
        path = tmp_path / f"p{protocol}.pkl"
        path.write_bytes(pickle.dumps(data, protocol=protocol))
        back = safe_load_pickle(path)
        np.testing.assert_array_equal(back["a"], data["a"])
        assert back["b"]["x"] == 2.5 and back["c"][1] == (1, "s") and back["d"].dtype == np.uint8


def _challenge_record(scene, token):
    return {"token": token, "scene_name": scene, "occ_gt_path": f"./data/occ3d-nus/gts/{scene}/{token}/labels.npz",
            "lidar_path": f"./data/nuscenes/samples/LIDAR_TOP/{token}.pcd.bin",
            "lidar2ego_translation": [0.943713, 0.0, 1.84023],
            "lidar2ego_rotation": [0.7071067811865476, 0.0, 0.0, -0.7071067811865476],
            "ego2global_translation": [10.0, 5.0, 0.0], "ego2global_rotation": [1.0, 0.0, 0.0, 0.0],
            "timestamp": 1533151603547590}


def test_occupancy_challenge_infos_list(tmp_path):
    written = _dataset(tmp_path, scenes=("scene-0001", "scene-0002"))
    infos = [_challenge_record("scene-0002", "0002tok1"), _challenge_record("scene-0001", "0001tok0")]
    with open(tmp_path / "occ_infos_temporal_val.pkl", "wb") as f:
        pickle.dump({"infos": infos, "metadata": {"version": "v1.0-trainval"}}, f)
    src = Occ3DSourceConfig(root=tmp_path, grid=SMALL, info_file="occ_infos_temporal_{split}.pkl").build("val")
    assert src.frame_ids == ["scene-0002/0002tok1", "scene-0001/0001tok0"]
    frame = src[0]
    np.testing.assert_array_equal(frame.points, written[("scene-0002", "0002tok1")][0])
    np.testing.assert_allclose(frame.T_world_sensor[:3, 3], [10.0 + 0.943713, 5.0, 1.84023], atol=1e-6)


def test_mmdet3d_v1_data_list(tmp_path):
    written = _dataset(tmp_path, scenes=("scene-0001", "scene-0002"))
    T_world_ego = np.eye(4)
    T_world_ego[:3, 3] = [3.0, 4.0, 0.0]
    data_list = [{"sample_idx": i, "token": tok, "timestamp": 1533151603.54759,
                  "ego2global": T_world_ego.tolist(),
                  "lidar_points": {"lidar_path": f"{tok}.pcd.bin", "num_pts_feats": 5,
                                   "lidar2ego": T_EGO_LIDAR.tolist()}}
                 for i, tok in enumerate(["0001tok1", "0002tok0"])]
    with open(tmp_path / "nuscenes_infos_val.pkl", "wb") as f:
        pickle.dump({"metainfo": {"dataset": "nuscenes", "version": "v1.0-trainval"}, "data_list": data_list}, f)
    src = Occ3DSourceConfig(root=tmp_path, grid=SMALL, info_file="nuscenes_infos_{split}.pkl").build("val")
    assert src.frame_ids == ["scene-0001/0001tok1", "scene-0002/0002tok0"]  # scenes found by token under gts/
    frame = src[1]
    np.testing.assert_array_equal(frame.points, written[("scene-0002", "0002tok0")][0])
    np.testing.assert_allclose(frame.T_world_sensor, T_world_ego @ T_EGO_LIDAR)


def test_unknown_layout_and_unplaceable_token_are_named(tmp_path):
    _dataset(tmp_path, scenes=("scene-0001",), per_scene=1)
    (tmp_path / "a.pkl").write_bytes(pickle.dumps({"data_list": [{"token": "nowhere"}]}))
    with pytest.raises(InputFileError, match=r"data_list\[0\] \(token nowhere\): no gts/<scene>/nowhere"):
        Occ3DSourceConfig(root=tmp_path, grid=SMALL, info_file="a.pkl").build("train")
    (tmp_path / "b.pkl").write_bytes(pickle.dumps([1, 2]))
    with pytest.raises(InputFileError, match="expected a dict at the top level"):
        Occ3DSourceConfig(root=tmp_path, grid=SMALL, info_file="b.pkl").build("train")
