#!/usr/bin/env python
"""Check UAVScenes occupancy targets before training: same as `occkit verify` (see `--help`).

    python scripts/verify_uavscenes_occupancy.py --data data/uavscenes --scenes AMtown --samples 200
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Run `occkit verify` with these arguments and return its exit code."""
    from occkit.cli import app

    try:
        app(["verify", *(sys.argv[1:] if argv is None else argv)], prog_name="verify_uavscenes_occupancy.py")
    except SystemExit as exc:  # typer/click always end with SystemExit(code) in standalone mode
        return exc.code if isinstance(exc.code, int) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
