"""Bad image files (missing, truncated, not an image) are one InputFileError naming the file, wherever a reader
meets them: the helpers of occkit.io.images, a dataset source, and the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fixtures_uavscenes import write_uavscenes
from PIL import Image

from occkit.errors import InputFileError
from occkit.io.images import image_size, read_pixels, read_rgb
from occkit.sources.config import UAVScenesSourceConfig


def _truncated_jpeg(path: Path) -> Path:
    """A real JPEG cut in half: PIL reads its header (size, mode) and fails only on the pixels."""
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (64, 80, 3), dtype=np.uint8)).save(path, quality=95)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def test_helpers_read_good_files_and_name_bad_ones(tmp_path: Path) -> None:
    good = tmp_path / "labels.png"
    Image.fromarray(np.arange(12, dtype=np.uint8).reshape(3, 4)).save(good)
    assert image_size(good) == (4, 3)
    np.testing.assert_array_equal(read_pixels(good, dtype=np.uint8), np.arange(12).reshape(3, 4))
    assert read_rgb(good).shape == (3, 4, 3)

    cut = _truncated_jpeg(tmp_path / "cut.jpg")
    assert image_size(cut) == (80, 64)  # the header is intact
    with pytest.raises(InputFileError, match=r"cut\.jpg: not a readable image: .*truncated"):
        read_rgb(cut)
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    with pytest.raises(InputFileError, match=r"notes\.png: not a readable depth image"):
        read_pixels(text, "depth image")
    with pytest.raises(InputFileError, match=r"gone\.jpg: image not found"):
        image_size(tmp_path / "gone.jpg")


def test_a_truncated_camera_image_in_a_dataset_names_the_file(tmp_path: Path) -> None:
    write_uavscenes(tmp_path, runs=("AMtown01",), n_images=2)
    src = UAVScenesSourceConfig(root=str(tmp_path), scenes=["AMtown01"], load_images=True).build()
    path = Path(src[0].cameras[0].image_path)
    _truncated_jpeg(path)
    with pytest.raises(InputFileError) as err:
        src[0]
    assert str(err.value).startswith(f"{path}: not a readable image") and "\n" not in str(err.value)
