"""Error types users see. Each message names the file or field and what was expected."""

from __future__ import annotations


class OccKitError(Exception):
    """Base class for every error occkit raises on purpose."""


class InputFileError(OccKitError, ValueError):
    """A file on disk is missing, truncated, malformed or holds unusable values."""

    def __init__(self, path: object, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class GridMismatchError(OccKitError, ValueError):
    """Two grids that must share a GridSpec do not."""


class ConfigError(OccKitError, ValueError):
    """A configuration does not validate; the message names the field path."""


class PoseError(OccKitError, ValueError):
    """A 4x4 transform is not a rigid transform."""


class TrainingInterrupted(OccKitError):
    """Training stopped on SIGTERM or Ctrl-C after saving a resumable last.ckpt; ``exit_code`` is 128 + signal."""

    def __init__(self, message: str, exit_code: int) -> None:
        self.exit_code = exit_code
        super().__init__(message)
