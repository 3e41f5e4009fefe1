"""Config files shipped with occkit (python files defining ``config``); `occkit run` and `--config NAME` find
them here, so they work from any folder. The repository's ``configs/`` folder points at this one."""

from pathlib import Path

PACKAGED_CONFIGS = Path(__file__).resolve().parent


def packaged_config(name: str) -> Path | None:
    """``synthetic_uav`` or ``synthetic_uav.py`` -> the shipped file, or None."""
    stem = Path(name).name
    for candidate in (PACKAGED_CONFIGS / stem, PACKAGED_CONFIGS / f"{stem}.py"):
        if candidate.is_file() and candidate.suffix == ".py" and candidate.name != "__init__.py":
            return candidate
    return None


def packaged_names() -> list[str]:
    """The shipped configs' names, sorted."""
    return sorted(p.stem for p in PACKAGED_CONFIGS.glob("*.py") if p.name != "__init__.py")
