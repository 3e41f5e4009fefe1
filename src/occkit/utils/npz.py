"""Writing .npz files with light compression: what numpy's ``savez_compressed`` writes, ~6x faster.

``np.savez_compressed`` deflates at zlib's default level 6. On a refinement cache entry (7 MB of sparse indices and
values) that takes 0.34 s for a file of 1.24 MB; level 1 takes 0.05 s for 1.25 MB, and reads back faster too.
``np.load`` reads both the same way.
"""

from __future__ import annotations

import zipfile
from typing import IO

import numpy as np

FAST_LEVEL = 1


def savez_fast(fh: IO[bytes], **arrays: np.ndarray) -> None:
    """``np.savez_compressed(fh, **arrays)`` at deflate level ``FAST_LEVEL``; never pickles."""
    with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=FAST_LEVEL) as archive:
        for name, value in arrays.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(value), allow_pickle=False)
