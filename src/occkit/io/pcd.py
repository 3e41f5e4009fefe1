"""PCD files: occkit reads the header itself, then lets pypcd4 decode the body.

Reading the header first gives three things pypcd4 alone does not: PCL's older headers (``VERSION .5`` and
``.6``, as in PCL's own test files such as ``bunny.pcd``, often without VIEWPOINT or COUNT) are accepted; a file
that is not PCD at all (plain text named .pcd) is one clear line; and a header that claims more points than the
file holds is refused before anything is allocated.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np

from occkit.errors import InputFileError

_KEYS = ("VERSION", "FIELDS", "SIZE", "TYPE", "COUNT", "WIDTH", "HEIGHT", "VIEWPOINT", "POINTS", "DATA")
_MAX_HEADER_BYTES = 64 * 1024
_ENCODINGS = ("ascii", "binary", "binary_compressed")


def read_pcd_structured(path: Path) -> tuple[np.ndarray, bool]:
    """The PCD's points as a numpy structured array (one field per PCD field), and whether the cloud is
    organized (HEIGHT > 1: one point per pixel or per beam and azimuth, where PCL marks a missing return with
    NaN coordinates)."""
    import pypcd4

    raw = path.read_bytes()
    header, body = _split_header(path, raw)
    fixed = _normalised_header(path, header, body)
    organized = int((header.get("HEIGHT") or ["1"])[0]) > 1  # an integer: _normalised_header checked it
    try:
        return pypcd4.PointCloud.from_fileobj(io.BytesIO(fixed + body)).pc_data, organized  # type: ignore[arg-type]
    except Exception as exc:  # pypcd4 raises bare ValueError/KeyError/zlib.error on bad bodies
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise InputFileError(path, f"PCD body does not match its header ({type(exc).__name__}: {first})") from None


def _split_header(path: Path, raw: bytes) -> tuple[dict[str, list[str]], bytes]:
    header: dict[str, list[str]] = {}
    pos = 0
    while pos < min(len(raw), _MAX_HEADER_BYTES):
        end = raw.find(b"\n", pos)
        end = len(raw) if end < 0 else end
        line = raw[pos:end].decode("ascii", errors="replace").strip()
        pos = end + 1
        if not line or line.startswith("#"):
            continue
        key, _, rest = line.partition(" ")
        if key.upper() not in _KEYS:
            raise InputFileError(path, f"not a PCD file: header line {line[:40]!r} is not one of {', '.join(_KEYS)} "
                                       "(a PCD starts with VERSION/FIELDS/SIZE/TYPE/COUNT/WIDTH/HEIGHT/POINTS/DATA)")
        header[key.upper()] = rest.split()
        if key.upper() == "DATA":
            return header, raw[pos:]
    raise InputFileError(path, "not a PCD file: no DATA line in its header")


def _normalised_header(path: Path, h: dict[str, list[str]], body: bytes) -> bytes:
    """A VERSION 0.7 header with every key pypcd4 needs, after checking the claimed size against the body."""
    fields = h.get("FIELDS")
    if not fields:
        raise InputFileError(path, "PCD header has no FIELDS line")
    n = len(fields)
    size = h.get("SIZE", [])
    types = h.get("TYPE", [])
    count = h.get("COUNT") or ["1"] * n
    if not (len(size) == len(types) == len(count) == n):
        raise InputFileError(path, f"PCD header: FIELDS names {n} fields but SIZE/TYPE/COUNT give "
                                   f"{len(size)}/{len(types)}/{len(count)}")
    try:
        sizes, counts = [int(v) for v in size], [int(v) for v in count]
        width = int(h["WIDTH"][0]) if "WIDTH" in h else None
        height = int(h["HEIGHT"][0]) if "HEIGHT" in h else 1
        points = int(h["POINTS"][0]) if "POINTS" in h else None
    except (ValueError, IndexError):
        raise InputFileError(path, "PCD header: SIZE, COUNT, WIDTH, HEIGHT and POINTS must be integers") from None
    if points is None and width is None:
        raise InputFileError(path, "PCD header has neither POINTS nor WIDTH")
    points = points if points is not None else width * height  # type: ignore[operator]
    width = width if width is not None else points // max(height, 1)
    encoding = (h.get("DATA") or [""])[0].lower()
    if encoding not in _ENCODINGS:
        raise InputFileError(path, f"PCD DATA {encoding!r}; expected one of {_ENCODINGS}")
    _check_size(path, points, sum(s * c for s, c in zip(sizes, counts, strict=True)), encoding, body)
    viewpoint = h.get("VIEWPOINT") or ["0", "0", "0", "1", "0", "0", "0"]
    lines = ["VERSION 0.7", "FIELDS " + " ".join(fields), "SIZE " + " ".join(size), "TYPE " + " ".join(types),
             "COUNT " + " ".join(count), f"WIDTH {width}", f"HEIGHT {height}", "VIEWPOINT " + " ".join(viewpoint),
             f"POINTS {points}", f"DATA {encoding}"]
    return ("\n".join(lines) + "\n").encode("ascii")


def _check_size(path: Path, points: int, row_bytes: int, encoding: str, body: bytes) -> None:
    """Refuse a header that promises more data than the file holds (checked before anything is allocated)."""
    if points == 0:
        return  # an empty scan: the reader names it
    need = points * row_bytes
    if encoding == "binary" and need > len(body):
        raise InputFileError(path, f"PCD header claims {points:,} points ({need:,} bytes) but the file holds "
                                   f"{len(body):,} bytes of data: truncated, or a wrong POINTS line")
    if encoding == "binary_compressed":
        if len(body) < 8:
            raise InputFileError(path, "PCD binary_compressed body is shorter than its 8-byte size prefix")
        compressed, uncompressed = struct.unpack("<II", body[:8])
        # LZF expands at most ~100x (a 3-byte back-reference copies up to 264 bytes)
        if uncompressed != need or compressed > len(body) - 8 or need > 100 * max(compressed, 1):
            raise InputFileError(path, f"PCD header claims {points:,} points ({need:,} bytes) but the compressed "
                                       f"body says {uncompressed:,} bytes from {compressed:,} ({len(body) - 8:,} "
                                       "present): truncated, or a wrong POINTS line")
    lines = body.count(b"\n") + 1
    if encoding == "ascii" and points > lines:
        raise InputFileError(path, f"PCD header claims {points:,} points but the file has {lines:,} lines of data")
