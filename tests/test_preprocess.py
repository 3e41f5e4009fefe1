"""Preprocessing cache: read back instead of the source, stale caches refused, resumable, atomic."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from occkit.data import MemorySource
from occkit.data import cache as C
from occkit.data.config import DataConfig, InputConfig, TargetConfig
from occkit.data.dataset import OccupancyDataset
from occkit.data.preprocessing import preprocess
from occkit.errors import InputFileError
from occkit.frame import Frame
from occkit.geometry import GridSpec, make_transform

SPEC = GridSpec(pc_range=(-8.0, -8.0, -2.0, 8.0, 8.0, 6.0), voxel_size=(0.5, 0.5, 0.5))  # 32 x 32 x 16


def _frames(n: int = 5) -> list[Frame]:
    """Drone-like frames: ground + a box under a sensor 20 m up; the last one has an altitude 500 m off."""
    out = []
    for i in range(n):
        rng = np.random.default_rng(i)
        ground = np.c_[rng.uniform(-6, 6, 400), rng.uniform(-6, 6, 400), rng.normal(0, 0.03, 400)]
        box = np.c_[rng.uniform(1, 2, 100), rng.uniform(-2, -1, 100), rng.uniform(0, 3, 100)]
        world = np.vstack([ground, box]) + [10.0 * i, 0, 0]
        z = 520.0 if i == n - 1 else 20.0
        T = make_transform(translation=[10.0 * i, 0.0, z])
        pts = (world - [10.0 * i, 0.0, 20.0]).astype(np.float32)  # sensor frame (identity rotation)
        out.append(Frame(frame_id=f"run1/{i:04d}", points=pts, T_world_sensor=T))
    return out


class FlakySource(MemorySource):
    """A source whose disk fails once on one frame (a real Source: same frames, same fingerprint)."""

    def __init__(self, frames: list[Frame], fail_at: int) -> None:
        super().__init__(frames)
        self.fail_at = fail_at

    def __getitem__(self, index: int) -> Frame:
        if index == self.fail_at:
            self.fail_at = -1
            raise InputFileError(f"/data/run1/{index:04d}.txt", "truncated file (read 12 of 400 lines)")
        return super().__getitem__(index)


def _cfg(tmp_path: Path, **kw) -> DataConfig:
    return DataConfig(grid=kw.pop("grid", SPEC), cache_dir=str(tmp_path / "cache"),
                      input=InputConfig(features=["soft", "max_height"]), target=TargetConfig(kind="soft"), **kw)


def _same(a: dict, b: dict) -> None:
    for key in ("input", "target"):
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    assert a["frame_id"] == b["frame_id"] and a["alignment_path"] == b["alignment_path"]


def test_second_pass_reads_the_cache_not_the_source(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    frames = _frames()
    src = MemorySource(frames)
    (rep,) = preprocess(cfg, ["train"], sources={"train": src}, progress=False)
    assert (rep.total, rep.written, rep.skipped) == (5, 5, 0) and src.reads == 5
    assert rep.paths == {"ego": 4, "lidar_center": 1}
    manifest = json.loads((tmp_path / "cache" / "manifest.json").read_text())
    rec = manifest["splits"]["train"]
    assert rec["complete"] and rec["fingerprint"] == src.fingerprint()
    assert rec["frames"]["run1/0004"]["path"] == "lidar_center" and rec["frames"]["run1/0000"]["path"] == "ego"
    assert manifest["settings"]["grid"]["voxel_size"] == [0.5, 0.5, 0.5]
    files = sorted(p.name for p in (tmp_path / "cache" / "train").iterdir())
    assert len(files) == 5 and all(f.startswith("run1_000") and f.endswith(".npz") for f in files)

    cached_src = MemorySource(frames)
    ds = OccupancyDataset(cfg, "train", source=cached_src, augment=False)
    fresh = OccupancyDataset(cfg.model_copy(update={"cache_dir": None}), "train", source=MemorySource(frames),
                             augment=False)
    for i in range(5):
        _same(ds.load(i), fresh.load(i))  # exact: sparse float32 storage
    assert cached_src.reads == 0
    # a re-run skips everything
    (rep2,) = preprocess(cfg, ["train"], sources={"train": MemorySource(frames)}, progress=False)
    assert (rep2.written, rep2.skipped) == (0, 5)
    # --overwrite rebuilds even an up-to-date split (e.g. after changing occkit itself)
    again = MemorySource(frames)
    (rep3,) = preprocess(cfg, ["train"], sources={"train": again}, overwrite=True, progress=False)
    assert (rep3.written, rep3.skipped) == (5, 0) and again.reads == 5


def test_changed_grid_or_data_is_refused_until_overwrite(tmp_path: Path) -> None:
    frames = _frames(3)
    cfg = _cfg(tmp_path)
    preprocess(cfg, ["train"], sources={"train": MemorySource(frames)}, progress=False)
    other = GridSpec(pc_range=(-8.0, -8.0, -2.0, 8.0, 8.0, 6.0), voxel_size=(0.25, 0.25, 0.5))
    cfg2 = _cfg(tmp_path, grid=other)
    with pytest.raises(C.CacheError, match=r"(?s)stale.*grid.*0\.25.*--overwrite"):
        OccupancyDataset(cfg2, "train", source=MemorySource(frames))
    with pytest.raises(C.CacheError, match="grid"):
        preprocess(cfg2, ["train"], sources={"train": MemorySource(frames)}, progress=False)
    # the source's data changed (one point moved): its fingerprint differs
    moved = _frames(3)
    moved[1].points[0, 0] += 1.0
    with pytest.raises(C.CacheError, match="fingerprint"):
        OccupancyDataset(cfg, "train", source=MemorySource(moved))
    # --overwrite rebuilds with the new grid, and the dataset then reads it
    src = MemorySource(frames)
    (rep,) = preprocess(cfg2, ["train"], sources={"train": src}, overwrite=True, progress=False)
    assert rep.written == 3 and src.reads == 3
    ds = OccupancyDataset(cfg2, "train", source=MemorySource(frames), augment=False)
    assert ds[0]["input"].shape == (2 * 16, 64, 64)


def test_resumes_after_a_failed_run_and_leaves_no_partial_files(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    frames = _frames(5)
    flaky = FlakySource(frames, fail_at=3)
    with pytest.raises(InputFileError, match="0003.txt.*truncated"):
        preprocess(cfg, ["train"], sources={"train": flaky}, progress=False)
    split_dir = tmp_path / "cache" / "train"
    assert len(list(split_dir.glob("*.npz"))) == 3
    assert not list(split_dir.glob(".*"))  # no temp files
    manifest = json.loads((tmp_path / "cache" / "manifest.json").read_text())
    assert manifest["splits"]["train"]["complete"] is False
    # a dataset over the partial cache computes the missing frames on the fly (with a warning)
    with pytest.warns(UserWarning, match="incomplete"):
        OccupancyDataset(cfg, "train", source=MemorySource(frames), augment=False).load(4)
    # re-run: the three good entries are skipped, the rest written
    (rep,) = preprocess(cfg, ["train"], sources={"train": flaky}, progress=False)
    assert (rep.written, rep.skipped) == (2, 3)
    assert json.loads((tmp_path / "cache" / "manifest.json").read_text())["splits"]["train"]["complete"]


def test_writes_are_atomic_and_damaged_entries_are_rebuilt(tmp_path: Path, monkeypatch) -> None:
    cfg = _cfg(tmp_path)
    frames = _frames(2)
    preprocess(cfg, ["train"], sources={"train": MemorySource(frames)}, progress=False)
    split_dir = tmp_path / "cache" / "train"
    victim = C.entry_path(cfg.cache_dir, "train", "run1/0001")
    good = victim.read_bytes()

    def crash(fh, **arrays):  # the process dies half way through writing
        fh.write(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt

    monkeypatch.setattr(C, "savez_fast", crash)
    with pytest.raises(KeyboardInterrupt):
        C.write_entry(victim, {"input": np.zeros((32, 32, 32), np.float32), "target": np.zeros((16, 32, 32)),
                               "frame_id": "run1/0001", "alignment_path": "ego", "alignment_message": "",
                               "in_range_ratio": 1.0, "target_rate": 0.0})
    monkeypatch.undo()
    assert victim.read_bytes() == good and not list(split_dir.glob(".*"))

    # damage from outside occkit (a truncated copy) and a temp file left by a killed worker
    victim.write_bytes(good[: len(good) // 2])
    (split_dir / ".run1_0000.npz.abc.tmp").write_bytes(b"junk")
    with pytest.raises(C.CacheError, match="corrupt cache entry"):
        OccupancyDataset(cfg, "train", source=MemorySource(frames)).load(1)
    src = MemorySource(frames)
    (rep,) = preprocess(cfg, ["train"], sources={"train": src}, progress=False)
    assert (rep.written, rep.skipped) == (1, 1) and src.reads == 1
    assert not list(split_dir.glob(".*"))
    assert C.entry_is_valid(victim)


def test_parallel_workers_write_the_same_entries(tmp_path: Path) -> None:
    frames = _frames(4)
    one = _cfg(tmp_path / "a")
    two = _cfg(tmp_path / "b")
    preprocess(one, ["train"], sources={"train": MemorySource(frames)}, workers=1, progress=False)
    (rep,) = preprocess(two, ["train"], sources={"train": MemorySource(frames)}, workers=2, progress=False)
    assert rep.written == 4
    for f in frames:
        a = C.read_entry(C.entry_path(one.cache_dir, "train", f.frame_id))
        b = C.read_entry(C.entry_path(two.cache_dir, "train", f.frame_id))
        _same(a, b)


def test_entry_names_are_safe_and_unique() -> None:
    names = {C.entry_name(x) for x in ["a/b", "a_b", "a:b", "..", "plain"]}
    assert len(names) == 5 and C.entry_name("plain") == "plain.npz"
    assert all("/" not in n and not n.startswith(".") for n in names)


def _foreign_folder(root: Path) -> Path:
    """A user's folder that happens to be named as data.cache_dir: train/ and val/ of their own files."""
    for split in ("train", "val"):
        (root / split).mkdir(parents=True)
        (root / split / "scan_0001.npz").write_bytes(b"theirs")
        (root / split / "notes.txt").write_text("do not delete")
    return root


@pytest.mark.parametrize("overwrite", [False, True])
def test_a_foreign_folder_is_refused_and_survives(tmp_path: Path, overwrite: bool) -> None:
    folder = _foreign_folder(tmp_path / "cache")
    before = sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))
    with pytest.raises(C.CacheError, match=r"cache: data.cache_dir is not empty and holds no occkit manifest.json"):
        preprocess(_cfg(tmp_path), ["train"], sources={"train": MemorySource(_frames(2))}, overwrite=overwrite,
                   progress=False)
    assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) == before
    assert (folder / "train" / "notes.txt").read_text() == "do not delete"


def test_overwrite_deletes_only_the_entries_the_manifest_names(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    preprocess(cfg, ["train"], sources={"train": MemorySource(_frames(2))}, progress=False)
    mine = tmp_path / "cache" / "train" / "my_notes.txt"  # a file the user put beside the entries
    mine.write_text("keep")
    other_grid = _cfg(tmp_path, grid=GridSpec(pc_range=SPEC.pc_range, voxel_size=(0.25, 0.25, 0.5)))
    preprocess(other_grid, ["train"], sources={"train": MemorySource(_frames(2))}, overwrite=True, progress=False)
    assert mine.read_text() == "keep"
    assert len(list((tmp_path / "cache" / "train").glob("*.npz"))) == 2


def test_a_loader_reads_each_cache_file_once_within_its_memory_budget(tmp_path: Path) -> None:
    frames = _frames(3)
    cfg = _cfg(tmp_path)
    preprocess(cfg, ["train"], sources={"train": MemorySource(frames)}, progress=False)
    victim = C.entry_path(cfg.cache_dir, "train", frames[1].frame_id)
    reference = C.read_entry(victim)
    kept = OccupancyDataset(cfg, "train", source=MemorySource(frames))
    first = kept.load(1)
    first["input"][:] = -1.0  # what a batch does to its arrays must not reach the kept entry
    victim.write_bytes(b"damaged after it was read")
    _same(kept.load(1), reference)  # from memory: the file is not opened again
    without = OccupancyDataset(cfg.model_copy(update={"memory_cache_mb": 0}), "train", source=MemorySource(frames))
    with pytest.raises(C.CacheError, match="corrupt cache entry"):
        without.load(1)


def test_the_fast_npz_writer_reads_back_as_numpy_writes_it_and_never_pickles(tmp_path: Path) -> None:
    import io

    from occkit.utils.npz import savez_fast

    arrays = {"idx": np.arange(0, 10**6, 7, dtype=np.int32), "val": np.random.default_rng(0).random(5, np.float32),
              "frame_id": np.asarray("run1/0001"), "shape": np.asarray((3, 4), np.int64)}
    path = tmp_path / "entry.npz"
    with open(path, "wb") as fh:
        savez_fast(fh, **arrays)
    with np.load(path, allow_pickle=False) as back:
        assert sorted(back.files) == sorted(arrays)
        for key, value in arrays.items():
            np.testing.assert_array_equal(back[key], value)
            assert back[key].dtype == value.dtype
    reference = io.BytesIO()
    np.savez_compressed(reference, **arrays)
    assert path.stat().st_size < 1.2 * len(reference.getvalue())  # light compression, not none
    with pytest.raises(ValueError, match="pickle"):
        savez_fast(io.BytesIO(), bad=np.array([{"a": 1}], dtype=object))


def test_a_setting_added_later_and_left_at_its_default_keeps_the_cache_folder(tmp_path: Path) -> None:
    from occkit.config import load_config

    cfg = load_config("configs/synthetic_refinement.py").data
    # the folder this config's cache had before data.source.camera_views and depth_noise.conf_percentile existed,
    # at pipeline version 6 (edit with the config or the pipeline version)
    before = "synthetic_refinement-7354ea772227"
    assert C.default_cache_dir(cfg, tmp_path, "synthetic_refinement").name == before
    views = cfg.model_copy(update={"source": cfg.source.model_copy(update={"camera_views": 3})})
    assert C.default_cache_dir(views, tmp_path, "synthetic_refinement").name != before
    noise = cfg.source.depth_noise.model_copy(update={"conf_percentile": 40.0})
    dropped = cfg.model_copy(update={"source": cfg.source.model_copy(update={"depth_noise": noise})})
    assert C.default_cache_dir(dropped, tmp_path, "synthetic_refinement").name != before
    assert views.source.build("val").fingerprint() != cfg.source.build("val").fingerprint()
