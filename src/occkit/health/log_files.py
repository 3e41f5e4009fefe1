"""Finding a run's log files: the one search every log reader of the doctor shares."""

from __future__ import annotations

from pathlib import Path

# run_dir/tensorboard/…, lightning_logs/version_0/…, work_dir/<time>/vis_data/…, wandb/run-…/: a few levels down
MAX_DEPTH = 3


def files_under(folder: Path, *patterns: str, max_depth: int = MAX_DEPTH) -> list[Path]:
    """Files matching any of ``patterns`` in ``folder`` or at most ``max_depth`` folders below it, oldest first
    (modification time, then path). A file also reached through a symlinked folder (W&B's ``latest-run``) counts
    once, under its own path."""
    by_target: dict[Path, list[Path]] = {}
    for depth in range(max_depth + 1):
        for pattern in patterns:
            for path in folder.glob("/".join(["*"] * depth + [pattern])):
                if path.is_file():
                    by_target.setdefault(path.resolve(), []).append(path)
    chosen = [min(paths, key=lambda p: (_through_link(folder, p), str(p))) for paths in by_target.values()]
    return sorted(chosen, key=lambda p: (p.stat().st_mtime, str(p)))


def _through_link(folder: Path, path: Path) -> bool:
    return any((folder / parent).is_symlink() for parent in path.relative_to(folder).parents if parent != Path("."))
