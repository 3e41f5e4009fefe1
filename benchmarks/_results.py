"""Shared output for benchmark scripts: a Markdown table, printed and saved with the command that made it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def publish(out: Path, title: str, command: str, text: str) -> None:
    """Print ``text`` and write it to ``out`` under ``title`` with the exact ``command``."""
    print(text)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(f"# {title}\n\n`{command}`\n\n{text}\n")
