"""`occkit voxelize` (not implemented yet)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this verb to the occkit CLI (filled in by the module's owner)."""
