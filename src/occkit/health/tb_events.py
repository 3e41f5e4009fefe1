"""A run's per-step metrics from its TensorBoard event files, for the doctor when metrics.csv is gone or damaged.

occkit logs the same names to CSV and TensorBoard, so an occkit run reads back unchanged. A plain Lightning run
(``lightning_logs/version_N``) or an mmengine work dir names them its own way; ``occkit.health.metric_names`` maps
the common spellings onto occkit's, so the doctor's loss, plateau and gradient checks still run on it.
tensorboard's own reader does the parsing (a torn last record, from a killed writer, ends the file's events).
"""

from __future__ import annotations

from pathlib import Path

from occkit.health.log_files import files_under
from occkit.health.metric_names import to_occkit_names

EVENT_GLOB = "events.out.tfevents.*"


def event_files(run_dir: Path) -> tuple[list[Path], int]:
    """The TensorBoard event files of one run under ``run_dir`` (``occkit.health.log_files.files_under``), oldest first,
    and how many folders of event files there are. Each folder is one run (Lightning's ``version_N``; a resumed
    occkit run adds files to its own folder), so only the folder written last is read: merging runs would mix them."""
    found = files_under(run_dir, EVENT_GLOB)
    if not found:
        return [], 0
    folders = {p.parent for p in found}
    newest = max(found, key=lambda p: (p.stat().st_mtime, str(p))).parent
    return sorted((p for p in found if p.parent == newest), key=lambda p: (p.stat().st_mtime, str(p))), len(folders)


def read_scalars(files: list[Path]) -> tuple[dict[str, list[tuple[int, float]]], list[str]]:
    """{occkit name: [(step, value)] sorted by step} from every file (a later file's step replaces an earlier
    one's: a resumed run rewrites the steps after its checkpoint), plus one line per file that could not be read."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    series: dict[str, dict[int, float]] = {}
    problems: list[str] = []
    for path in files:
        try:
            acc = EventAccumulator(str(path), size_guidance={"scalars": 0})
            acc.Reload()
            for tag in acc.Tags().get("scalars", []):
                store = series.setdefault(tag, {})
                for event in acc.Scalars(tag):
                    store[int(event.step)] = float(event.value)
        except Exception as exc:  # a damaged file: say so, keep what the others hold
            problems.append(f"{path}: not a readable TensorBoard event file ({type(exc).__name__}: {exc})")
    return to_occkit_names({k: sorted(v.items()) for k, v in series.items()}), problems
