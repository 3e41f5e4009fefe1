"""A hand-written training loop's printed log, read back for the doctor (``train.log``, ``nohup.out``, …).

Such loops print lines like ``Epoch [2/50], Step [100/500], Loss: 0.7612, Pred mean: 0.0100, max: 0.05``,
``step=1200 loss=0.41 lr=1.0e-04 grad_norm=0.05`` or ``DEBUG [500]: Occ: 0.83%, Pred mean: 0.0100, max: 0.05``
(the status line users print, which occkit's HEALTH line copies). Rules:

- A line's step: ``step`` / ``iter`` / ``it`` / ``global_step`` / ``batch`` N, ``WORD [N]:`` at its start, or
  mmengine's ``Epoch(train) [e][i/n]``; a step ``[i/n]`` within an epoch counts on across epochs.
- Its values: ``name: value``, ``name=value`` or ``name value`` pairs, a value in % as a fraction, ``>0.5: x%`` as
  the share predicted occupied. A bare ``max`` / ``min`` / ``mean`` after a ``pred…`` key is the prediction's.
- A line without a step (``Val IoU: 0.000``) belongs to the last step seen; one that says val / validation / eval
  names its values ``val_…``; one before the first step holds the run's settings (``Namespace(lr=0.0001, …)``:
  the learning rate the advice starts from).

Names are lower-cased with ``_`` for spaces, then mapped to occkit's (``occkit.health.metric_names``); the report
names the file and the series found, so a guess is visible.
"""

from __future__ import annotations

import re
from pathlib import Path

SUFFIXES = (".log", ".txt", ".out")
MAX_BYTES = 200 * 1024 * 1024
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|nan|inf"
_STEP = re.compile(r"\b(global[_ ]step|step|iteration|iter|it|batch)\b\s*[:=#]?\s*\[?\s*(\d+)(?:\s*/\s*(\d+))?",
                   re.IGNORECASE)
_MM_PROGRESS = re.compile(r"\b(Epoch|Iter)\((train|val|test)\)\s*(?:\[\s*(\d+)\s*\])?\s*\[\s*(\d+)\s*/\s*\d+\s*\]")
_EPOCH = re.compile(r"\bepoch\b\s*[:=#]?\s*\[?\s*(\d+)", re.IGNORECASE)
_PAIR = re.compile(rf"([A-Za-z][A-Za-z0-9_/.\- ]{{0,40}}?)\s*(?:[:=]\s*|\s+)({_NUMBER})(%?)(?![\w.])", re.IGNORECASE)
# "DEBUG [500]: Occ: 0.83%, Pred mean: 0.0100, min: 0.00, max: 0.05, >0.5: 0.00%": the users' own status line,
# which occkit's HEALTH line copies
_BRACKET_STEP = re.compile(r"^\s*[A-Za-z]*\s*\[\s*(\d+)\s*\]\s*:")
_ABOVE_HALF = re.compile(rf">\s*0?\.5\s*:\s*({_NUMBER})(%?)")
# that line's short names
_SHORT_NAMES = {"occ": "target_rate", "grad": "grad_norm"}
_SKIP = {"clip", "total"}  # that line's clipping share of the window, not a per-step value
_VALIDATION = re.compile(r"\b(val|valid|validation|eval|evaluation|evaluating|validating)\b", re.IGNORECASE)
_LOG_LEVEL = re.compile(r"^(?:DEBUG|INFO|WARNING|WARN|ERROR)\b\s*")  # logging's level name before the message
_BOOKKEEPING = {"step", "global_step", "iteration", "iter", "it", "batch", "epoch"}
_PRED_PARTS = {"max", "min", "mean"}


def read_text_log(path: Path) -> tuple[list[tuple[int, dict[str, float]]], dict[str, float], list[str]]:
    """(step, {name: value}) rows in file order, the numbers printed before the first step (the run's settings),
    and one line per problem."""
    from occkit.health.mm_logs import epoch_offsets

    if path.stat().st_size > MAX_BYTES:
        return [], {}, [f"{path}: larger than {MAX_BYTES // 2**20} MiB; not read as a training log"]
    raw = path.read_bytes()
    if b"\0" in raw:
        return [], {}, [f"{path}: holds binary data (NUL bytes), not a text log"]
    parsed: list[tuple[int | None, int | None, dict[str, float]]] = []  # (epoch, step, values)
    for line in raw.decode("utf-8", errors="replace").splitlines():
        values = _pairs(line)
        if values:
            parsed.append((*_epoch_and_step(line), values))
    # "Epoch [2/50], Step [100/500]": a step counted within its epoch counts on across epochs
    offset = epoch_offsets([(e, s) for e, s, _ in parsed if e is not None and s is not None])
    rows: list[tuple[int, dict[str, float]]] = []
    header: dict[str, float] = {}
    for epoch, step, values in parsed:
        if step is not None:
            rows.append((offset.get(epoch, 0) + step if epoch is not None else step, values))
        elif rows:  # "Val IoU: 0.000" belongs to the step before it
            rows.append((rows[-1][0], values))
        else:  # before the first step: the settings printed at start (argparse's Namespace(lr=0.0001, …))
            header.update(values)
    return rows, header, []


def _epoch_and_step(line: str) -> tuple[int | None, int | None]:
    """(epoch, step) of a line: an epoch only where the step counts within it (``[i/n]``); (None, None) for a
    line without a step, validation progress included."""
    bracket = _BRACKET_STEP.search(line)
    if bracket is not None:
        return None, int(bracket.group(1))
    progress = _MM_PROGRESS.search(line)
    if progress is not None:  # mmengine's text log: "Epoch(train)  [3][10/10]", "Iter(train) [ 50/1000]"
        loop, mode, epoch, step = progress.group(1, 2, 3, 4)
        if mode != "train":
            return None, None
        return (int(epoch) if loop == "Epoch" and epoch else None), int(step)
    match = _STEP.search(line)
    if match is None:
        return None, None
    epoch = _EPOCH.search(line) if match.group(3) is not None else None
    return (int(epoch.group(1)) if epoch else None), int(match.group(2))


def _pairs(line: str) -> dict[str, float]:
    values: dict[str, float] = {}
    previous = ""
    validation = _VALIDATION.search(line) is not None  # "Validation: IoU: 0.0, Loss: 0.76": val_iou, val_loss
    for key_text, number, percent in _PAIR.findall(line):
        key = re.sub(r"[\s\-]+", "_", _LOG_LEVEL.sub("", key_text.strip()).lower()).strip("_")
        key = _SHORT_NAMES.get(key, key)
        if key.rsplit("_", 1)[-1] in _BOOKKEEPING or key in _SKIP:  # "step", "INFO step", "global_step"
            previous = key
            continue
        if key in _PRED_PARTS and previous.startswith("pred"):
            key = f"pred_{key}"
        previous = key
        if validation and not key.startswith(("val", "eval", "test")):
            key = f"val_{key}"
        values[key] = float(number) / (100.0 if percent else 1.0)
    above = _ABOVE_HALF.search(line)
    if above is not None:
        values["pred_occupancy_rate"] = float(above.group(1)) / (100.0 if above.group(2) else 1.0)
    return values
