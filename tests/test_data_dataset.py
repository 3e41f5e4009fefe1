"""OccupancyDataset + augmentation + dataloader: input, target and mask move together; seeding is reproducible."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from occkit.data import MemorySource
from occkit.data.augment import AugmentDraw, apply_grid, can_rotate, draw
from occkit.data.config import AugmentConfig, DataConfig, InputConfig, TargetConfig
from occkit.data.dataset import OccupancyDataset, SeededSampler, build_dataloader, collate
from occkit.frame import Frame, OccupancyTarget
from occkit.geometry import GridSpec

SPEC = GridSpec(pc_range=(-4.0, -4.0, 0.0, 4.0, 4.0, 4.0), voxel_size=(1.0, 1.0, 1.0))  # 8 x 8 x 4, square
VOXELS = [(5, 1, 1), (6, 6, 2), (0, 3, 0)]  # one known occupied [x, y, z] voxel per frame


def _frame(i: int) -> Frame:
    x, y, z = VOXELS[i]
    rng = np.random.default_rng(i)
    pts = SPEC.indices_to_centers(np.array([[x, y, z]]))[0] + rng.uniform(-0.3, 0.3, (10, 3))
    sem = np.full(SPEC.shape, 17, np.uint8)
    sem[x, y, z] = 1
    cam = np.zeros(SPEC.shape, bool)
    cam[x, y, :] = True  # the column above the voxel, plus an asymmetric patch
    cam[:2, :3, 0] = True
    return Frame(frame_id=f"f{i}", points=pts.astype(np.float32), T_world_sensor=np.eye(4),
                 target=OccupancyTarget(spec=SPEC, semantics=sem, mask_camera=cam))


def _cfg(**kw) -> DataConfig:
    return DataConfig(grid=SPEC, input=InputConfig(features=["occupancy", "max_height"]),
                      target=TargetConfig(use_visibility_mask=True), **kw)


def _expected_xy(x: int, y: int, d: AugmentDraw, n: int = 8) -> tuple[int, int]:
    """Where voxel (x, y) goes, worked out geometrically on centred coordinates (independent of np.rot90)."""
    cx, cy = x + 0.5 - n / 2, y + 0.5 - n / 2
    if d.flip_x:
        cx = -cx
    if d.flip_y:
        cy = -cy
    for _ in range(d.k % 4):
        cx, cy = -cy, cx  # counter-clockwise quarter turn seen from +z
    return int(cx + n / 2 - 0.5), int(cy + n / 2 - 0.5)


@pytest.mark.parametrize("d", [AugmentDraw(fx, fy, k) for fx in (False, True) for fy in (False, True)
                               for k in range(4)])
def test_every_draw_moves_input_target_and_mask_together(d: AugmentDraw) -> None:
    ds = OccupancyDataset(_cfg(), "val", source=MemorySource([_frame(0)]))
    s = ds.load(0)
    x, y, z = VOXELS[0]
    ex, ey = _expected_xy(x, y, d)
    inp, tgt, mask = (apply_grid(s[k], d) for k in ("input", "target", "mask"))
    Z = SPEC.shape[2]
    assert np.argwhere(tgt).tolist() == [[z, ey, ex]]
    assert np.argwhere(inp[:Z]).tolist() == [[z, ey, ex]]  # occupancy channels
    assert inp[Z + z, ey, ex] > 0  # height channel moved with it, value unchanged
    assert inp[Z + z, ey, ex] == s["input"][Z + z, y, x]
    assert mask[:, ey, ex].all()  # the visible column followed the voxel
    assert mask.sum() == s["mask"].sum()


def test_train_split_augments_reproducibly_val_does_not() -> None:
    frames = [_frame(i) for i in range(3)]
    train = OccupancyDataset(_cfg(), "train", source=MemorySource(frames), seed=7)
    again = OccupancyDataset(_cfg(), "train", source=MemorySource(frames), seed=7)
    val = OccupancyDataset(_cfg(), "val", source=MemorySource(frames), seed=7)
    assert train.augment and not val.augment
    for i in range(3):
        a, b = train[(i, 0)], again[(i, 0)]
        assert torch.equal(a["input"], b["input"]) and torch.equal(a["mask"], b["mask"])
        # whatever the draw, input and target stay aligned
        Z = SPEC.shape[2]
        assert torch.equal(a["input"][:Z] > 0, a["target"] > 0)
        assert bool(a["mask"][a["target"] > 0].all())
        v = val[i]
        x, y, z = VOXELS[i]
        assert torch.nonzero(v["target"]).tolist() == [[z, y, x]]
    # over several epochs the draws differ (8 x 3 samples all identical would be a broken seed)
    positions = {tuple(torch.nonzero(train[(0, e)]["target"])[0].tolist()) for e in range(8)}
    assert len(positions) > 1


def test_rotation_only_on_square_grids() -> None:
    rect = GridSpec(pc_range=(0.0, 0.0, 0.0, 8.0, 6.0, 4.0), voxel_size=(1.0, 1.0, 1.0))
    assert can_rotate(SPEC) and not can_rotate(rect)
    rng = np.random.default_rng(0)
    assert all(draw(rng, AugmentConfig(), rect).k == 0 for _ in range(50))
    assert {draw(rng, AugmentConfig(), SPEC).k for _ in range(50)} == {0, 1, 2, 3}


def test_dataloader_batches_and_seeded_sampler() -> None:
    frames = [_frame(i) for i in range(3)]
    loader = build_dataloader(_cfg(batch_size=2), "val", seed=3, source=MemorySource(frames))
    batches = list(loader)
    assert [b["frame_id"] for b in batches] == [["f0", "f1"], ["f2"]]
    b = batches[0]
    assert b["input"].shape == (2, 8, 8, 8) and b["input"].dtype == torch.float32
    assert b["target"].shape == (2, 4, 8, 8) and b["mask"].dtype == torch.bool
    assert b["alignment_path"] == ["ego", "ego"]
    sampler = SeededSampler(10, seed=1)
    e0, e1 = list(sampler), list(sampler)
    assert [e for _, e in e0] == [0] * 10 and [e for _, e in e1] == [1] * 10
    assert sorted(i for i, _ in e0) == list(range(10)) and e0 != e1
    assert list(SeededSampler(10, seed=1)) == e0  # same seed, same order


def test_collate_rejects_mixed_masks() -> None:
    a = {"input": torch.zeros(1), "target": torch.zeros(1), "mask": torch.zeros(1, dtype=torch.bool),
         "frame_id": "a"}
    b = {"input": torch.zeros(1), "target": torch.zeros(1), "frame_id": "b"}
    with pytest.raises(ValueError, match="without a visibility mask.*b"):
        collate([a, b])


def test_augmentation_does_not_depend_on_loader_workers() -> None:
    frames = [_frame(i) for i in range(3)]
    batches = {}
    for workers in (0, 2):
        loader = build_dataloader(_cfg(batch_size=3, num_workers=workers), "train", seed=5,
                                  source=MemorySource(frames))
        batches[workers] = [list(loader) for _ in range(2)]  # two epochs
    for e in range(2):
        a, b = batches[0][e][0], batches[2][e][0]
        assert a["frame_id"] == b["frame_id"]
        assert torch.equal(a["input"], b["input"]) and torch.equal(a["mask"], b["mask"])
    assert not torch.equal(batches[0][0][0]["target"], batches[0][1][0]["target"])  # epochs differ


def test_crop_cuts_input_target_and_mask_to_one_random_window() -> None:
    frames = [_frame(i) for i in range(3)]
    cfg = _cfg(augment=AugmentConfig(flip=False, rotate90=False, crop=(5, 3)))
    train = OccupancyDataset(cfg, "train", source=MemorySource(frames), seed=1)
    val = OccupancyDataset(cfg, "val", source=MemorySource(frames), seed=1)
    assert train.augment and not val.augment
    Z = SPEC.shape[2]
    seen = set()
    for e in range(30):
        s = train[(0, e)]
        assert s["input"].shape == (2 * Z, 3, 5) and s["target"].shape == (Z, 3, 5) and s["mask"].shape == (Z, 3, 5)
        assert torch.equal(s["input"][:Z] > 0, s["target"] > 0)  # the same window of every grid
        full = train.load(0)
        # find the window in the full target by its mask (the mask has an asymmetric patch): it must be a real slice
        hits = [(y0, x0) for y0 in range(8 - 3 + 1) for x0 in range(8 - 5 + 1)
                if np.array_equal(full["mask"][:, y0:y0 + 3, x0:x0 + 5], s["mask"].numpy())
                and np.array_equal(full["target"][:, y0:y0 + 3, x0:x0 + 5], s["target"].numpy())]
        assert hits
        seen.add(hits[0])
    assert len(seen) > 4  # windows move between epochs
    assert val[0]["target"].shape == (Z, 8, 8)  # validation sees whole grids


def test_crop_settings_are_checked() -> None:
    from occkit.config import ConfigError, validate_config

    base = {"data": {"grid": SPEC.model_dump(), "augment": {"crop": [9, 4]}}}
    with pytest.raises(ConfigError, match=r"data.augment.crop: a \(9, 4\) window does not fit the 8 x 8 grid"):
        validate_config(base)
    with pytest.raises(ConfigError, match="crop"):
        validate_config({"data": {"augment": {"crop": [0, 4]}}})
    with pytest.raises(ConfigError, match="data.augment.crop cannot be used with data.input.camera"):
        validate_config({"data": {"grid": SPEC.model_dump(), "augment": {"crop": [4, 4]},
                                  "input": {"camera": {"scale": 0.5}}}})



@pytest.mark.parametrize("d", [AugmentDraw(fx, fy, k) for fx in (False, True) for fy in (False, True)
                               for k in range(4)])
def test_plan_offsets_turn_with_the_grid_as_if_the_points_had_moved(d: AugmentDraw) -> None:
    """offset_x / offset_y after any flip or turn equal the offsets of the moved points, voxelized afresh: a roof
    edge's side of its voxel stays the side it is on."""
    from occkit.data.augment import apply_sample
    from occkit.geometry.layout import grid_to_channels
    from occkit.geometry.voxelize import voxelize

    spec = GridSpec(pc_range=(-2.0, -2.0, 0.0, 2.0, 2.0, 1.0), voxel_size=(0.4, 0.4, 0.5))
    features = ["count", "offset_x", "offset_y"]
    pts = np.random.default_rng(0).uniform([-2, -2, 0], [2, 2, 1], (40, 3))

    def channels(p: np.ndarray) -> np.ndarray:
        v = voxelize(p, spec, features=features)
        stacked = grid_to_channels(np.stack([v.count.astype(np.float32), v.offset_x, v.offset_y]))
        return stacked.reshape(-1, *stacked.shape[2:])

    moved = pts.copy()
    if d.flip_x:
        moved[:, 0] *= -1
    if d.flip_y:
        moved[:, 1] *= -1
    for _ in range(d.k):
        moved[:, :2] = np.stack([-moved[:, 1], moved[:, 0]], axis=1)
    before = channels(pts)
    assert np.abs(before[2:]).max() > 0.3  # the offsets are not all near the centre
    np.testing.assert_allclose(apply_sample({"input": before}, d, features)["input"], channels(moved), atol=1e-6)
    with pytest.raises(ValueError, match="offset_x and offset_y go together"):
        InputConfig(features=["soft", "offset_x"])


@pytest.mark.parametrize("d", [AugmentDraw(fx, fy, k) for fx in (False, True) for fy in (False, True)
                               for k in range(4)])
@pytest.mark.parametrize("window", [(slice(1, 4), slice(2, 7)), (slice(0, 8), slice(5, 8)), (slice(3, 4), slice(0, 1))])
def test_cropping_before_the_augmentation_gives_the_same_arrays(d: AugmentDraw, window: tuple[slice, slice]) -> None:
    from occkit.data.augment import source_window

    full = np.random.default_rng(3).random((6, 8, 8))
    expected = apply_grid(full, d)[..., window[0], window[1]]
    ys, xs = source_window(d, window, SPEC)
    np.testing.assert_array_equal(apply_grid(full[..., ys, xs], d), expected)


def test_a_non_square_grid_crops_before_its_flips_the_same_way() -> None:
    from occkit.data.augment import source_window

    wide = GridSpec(pc_range=(-6.0, -2.0, 0.0, 6.0, 2.0, 1.0), voxel_size=(1.0, 1.0, 1.0))  # 12 x 4 cells
    full = np.random.default_rng(4).random((2, 4, 12))
    for d in (AugmentDraw(True, False), AugmentDraw(False, True), AugmentDraw(True, True)):
        window = (slice(1, 3), slice(2, 9))
        ys, xs = source_window(d, window, wide)
        np.testing.assert_array_equal(apply_grid(full[..., ys, xs], d), apply_grid(full, d)[..., 1:3, 2:9])


def test_a_flipped_turned_and_cropped_sample_is_the_window_of_the_augmented_grid() -> None:
    from occkit.data.augment import crop_window

    frames = [_frame(i) for i in range(3)]
    cfg = _cfg(augment=AugmentConfig(flip=True, rotate90=True, crop=(5, 3)))
    train = OccupancyDataset(cfg, "train", source=MemorySource(frames), seed=2)
    full = train.load(1)
    for e in range(12):
        rng = np.random.default_rng([2, e, 1])  # the dataset's own seeding: (seed, epoch, index)
        d = draw(rng, cfg.augment, SPEC)
        ys, xs = crop_window(rng, (5, 3), SPEC)
        s = train[(1, e)]
        for key in ("input", "target", "mask"):
            np.testing.assert_array_equal(s[key].numpy(), apply_grid(full[key], d)[..., ys, xs], err_msg=key)
