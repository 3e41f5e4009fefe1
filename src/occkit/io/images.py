"""Camera images, label images and depth pngs read through one guard: a missing, truncated, corrupt or
decompression-bomb file is an ``InputFileError`` naming it, never a PIL traceback.

PIL opens a file lazily (the header only), so a truncated JPEG fails when its pixels are read; every helper
here reads the pixels inside the guard. Datasets hold thousands of images, and one bad file should say which.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from occkit.errors import InputFileError

T = TypeVar("T")


@contextmanager
def _opened(path: str | Path, what: str) -> Iterator[Any]:
    from PIL import Image

    try:
        with Image.open(path) as im:
            yield im
    except FileNotFoundError:
        raise InputFileError(path, f"{what} not found") from None
    except Image.DecompressionBombError as exc:
        raise InputFileError(path, f"{what} is larger than PIL's decompression-bomb limit: {exc}") from None
    except (OSError, SyntaxError, ValueError) as exc:  # UnidentifiedImageError and truncation are OSErrors
        raise InputFileError(path, f"not a readable {what}: {exc}") from None


def read_image(path: str | Path, read: Callable[[Any], T], what: str = "image") -> T:
    """``read(im)`` on the opened PIL image, with every way the file can be bad reported as one line."""
    with _opened(path, what) as im:
        return read(im)


def read_rgb(path: str | Path, what: str = "image") -> np.ndarray:
    """(H, W, 3) uint8 pixels of a camera image, whatever its mode."""
    return read_image(path, lambda im: np.asarray(im.convert("RGB")), what)


def read_pixels(path: str | Path, what: str = "image", dtype: Any = None) -> np.ndarray:
    """The pixels as stored (a label image's ids, a 16-bit depth png's millimetres)."""
    return read_image(path, lambda im: np.asarray(im, dtype=dtype), what)


def size_and_rgb(path: str | Path, load: bool, what: str = "image") -> tuple[tuple[int, int], np.ndarray | None]:
    """(width, height) and, with ``load``, the (H, W, 3) uint8 pixels: a camera view that may or may not carry its
    image, from one opening of the file."""
    return read_image(path, lambda im: (tuple(im.size), np.asarray(im.convert("RGB")) if load else None), what)


def image_size(path: str | Path, what: str = "image") -> tuple[int, int]:
    """(width, height) from the header, without decoding the pixels."""
    return read_image(path, lambda im: tuple(im.size), what)
