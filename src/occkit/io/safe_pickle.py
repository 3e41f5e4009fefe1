"""Read dataset info pickles without running the code a pickle can carry.

Info files (OccWorld, the CVPR2023 occupancy challenge, mmdetection3d) are pickles of plain data: dicts,
lists, strings, numbers and numpy arrays. A pickle can also name any importable callable and have it called on
load (``os.system`` is the classic payload), so ``pickle.load`` on a downloaded file runs whatever its author
wanted. :class:`RestrictedUnpickler` resolves only the globals that plain data needs and refuses every other one
by name, before anything is called.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

from occkit.errors import InputFileError

# (module, name) pairs that data pickles legitimately reference. Nothing here can run code: these are
# containers, numpy's array/dtype/scalar reconstructors, and copyreg's object rebuild helper (which the
# unpickler still resolves class by class through this same list).
_ALLOWED: frozenset[tuple[str, str]] = frozenset({
    ("builtins", name) for name in (
        "dict", "list", "tuple", "set", "frozenset", "str", "bytes", "bytearray", "int", "float", "complex",
        "bool", "slice", "range", "NoneType")
} | {
    ("collections", "OrderedDict"), ("collections", "defaultdict"), ("collections", "deque"),
    ("datetime", "datetime"), ("datetime", "date"), ("datetime", "timedelta"), ("datetime", "timezone"),
    ("pathlib", "PosixPath"), ("pathlib", "WindowsPath"), ("pathlib", "PurePosixPath"),
    ("pathlib", "PureWindowsPath"), ("pathlib", "Path"),
    ("copyreg", "_reconstructor"), ("_codecs", "encode"),  # protocol 2 writes bytes as _codecs.encode(str)
} | {
    (module, name) for module in ("numpy.core.multiarray", "numpy._core.multiarray")
    for name in ("_reconstruct", "scalar")
} | {
    ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
} | {
    ("numpy", name) for name in (
        "bool_", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float16",
        "float32", "float64", "complex64", "complex128", "str_", "bytes_", "object_")
} | {
    ("numpy.dtypes", name) for name in (
        "BoolDType", "Int8DType", "Int16DType", "Int32DType", "Int64DType", "UInt8DType", "UInt16DType",
        "UInt32DType", "UInt64DType", "Float16DType", "Float32DType", "Float64DType", "Complex64DType",
        "Complex128DType", "StrDType", "BytesDType", "ObjectDType", "VoidDType")
})


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle references a global outside the data allow-list."""


class RestrictedUnpickler(pickle.Unpickler):
    """An Unpickler whose ``find_class`` resolves only :data:`_ALLOWED` globals."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise UnsafePickleError(f"{module}.{name}")


def safe_load_pickle(path: str | Path, *, trust: bool = False, option: str = "trust_pickle") -> Any:
    """Load a data pickle from ``path``, refusing code; ``trust=True`` falls back to plain ``pickle.load``.

    Errors are InputFileError lines: an unreadable file, or a pickle that would call a global outside the
    allow-list (naming it, and ``option``, the setting that accepts a trusted file).
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputFileError(path, f"cannot read ({exc.strerror})") from None
    try:
        if trust:
            return pickle.loads(data)  # noqa: S301 - the user vouched for this file (trust_pickle)
        return RestrictedUnpickler(io.BytesIO(data)).load()
    except UnsafePickleError as exc:
        raise InputFileError(path, f"refused: the pickle would call {exc} when loaded, which plain data never "
                                   f"needs; if you trust this file, set {option}=True") from None
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, ValueError, TypeError,
            IndexError, KeyError) as exc:
        raise InputFileError(path, f"not a readable pickle ({type(exc).__name__}: {exc})") from None
