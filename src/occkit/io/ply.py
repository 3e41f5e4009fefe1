"""PLY files via plyfile, with a vertices-only fallback for files whose later elements are damaged.

Mesh exports sometimes carry a face section that does not match its header (trimesh's ``fuze_ascii.ply`` is
one) while the vertices are intact. occkit needs only the vertices, so when plyfile refuses the whole file,
the vertex element alone is cut out (header and body) and read again, with a warning about the rest.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np

from occkit.errors import InputFileError

_SCALAR_BYTES = {"char": 1, "uchar": 1, "int8": 1, "uint8": 1, "short": 2, "ushort": 2, "int16": 2, "uint16": 2,
                 "int": 4, "uint": 4, "int32": 4, "uint32": 4, "float": 4, "float32": 4, "double": 8, "float64": 8}


class PlyElementsWarning(UserWarning):
    """A PLY's non-vertex elements could not be read and were skipped."""


def read_ply_vertices(path: Path) -> np.ndarray:
    """The ``vertex`` element as a structured array (see the module docstring for damaged files)."""
    import plyfile

    try:
        ply = plyfile.PlyData.read(str(path))
    except Exception as exc:  # plyfile raises PlyParseError, ValueError, EOFError on bad files
        first_error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        vertex = _vertices_alone(path, first_error)
        warnings.warn(f"{path}: read its {len(vertex)} vertices; the rest of the file is unreadable and was "
                      f"skipped ({first_error})", PlyElementsWarning, stacklevel=3)
        return vertex
    if "vertex" not in ply:
        raise InputFileError(path, "PLY file has no 'vertex' element (expected vertices with x, y, z)")
    return ply["vertex"].data


def _vertices_alone(path: Path, first_error: str) -> np.ndarray:
    import plyfile

    raw = path.read_bytes()
    end = raw.find(b"end_header")
    if not raw.startswith(b"ply") or end < 0:
        raise InputFileError(path, f"not a readable PLY file: {first_error}")
    body_at = raw.find(b"\n", end) + 1
    lines = raw[:end].decode("ascii", errors="replace").splitlines()
    fmt = next((ln.split()[1] for ln in lines if ln.startswith("format ")), "")
    elements: list[tuple[str, int, list[str]]] = []
    for ln in lines:
        parts = ln.split()
        if parts[:1] == ["element"] and len(parts) == 3:
            elements.append((parts[1], int(parts[2]), []))
        elif parts[:1] == ["property"] and elements:
            elements[-1][2].append(ln)
    if not elements or elements[0][0] != "vertex":
        raise InputFileError(path, f"not a readable PLY file ({first_error}); its first element is not 'vertex'")
    _, count, props = elements[0]
    header = "\n".join(["ply", f"format {fmt} 1.0", f"element vertex {count}", *props, "end_header"]) + "\n"
    body = raw[body_at:]
    if fmt == "ascii":
        body = b"\n".join(body.splitlines()[:count]) + b"\n"
    else:
        if any(p.split()[1] == "list" for p in props):
            raise InputFileError(path, f"not a readable PLY file: {first_error}")
        body = body[:count * sum(_SCALAR_BYTES.get(p.split()[1], 0) for p in props)]
    try:
        return plyfile.PlyData.read(io.BytesIO(header.encode("ascii") + body))["vertex"].data
    except Exception:  # noqa: BLE001 - the vertices are damaged too: report the original error
        raise InputFileError(path, f"not a readable PLY file: {first_error}") from None
