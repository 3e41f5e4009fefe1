"""Health events: what a detector found, with its evidence and the change that fixes it."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SEVERITY_RANK = {"error": 2, "warning": 1, "info": 0}


@dataclass
class HealthEvent:
    """One detection. ``kind`` is collapse | plateau | starved_gradients | nonfinite | empty_targets."""

    step: int
    kind: str
    severity: str
    message: str
    suggestion: str
    evidence: dict[str, Any] = field(default_factory=dict)
    fix: list[str] = field(default_factory=list)  # config overrides that apply the suggestion (`--set` syntax)

    def to_json(self) -> str:
        return json.dumps(asdict(self), default=_jsonable)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HealthEvent:
        return cls(step=int(data["step"]), kind=str(data["kind"]), severity=str(data.get("severity", "warning")),
                   message=str(data.get("message", "")), suggestion=str(data.get("suggestion", "")),
                   evidence=dict(data.get("evidence", {})), fix=[str(f) for f in data.get("fix", [])])

    def one_line(self) -> str:
        return f"[{self.kind} @ step {self.step}] {self.message} -> {self.suggestion}"


class TrainingHealthError(RuntimeError):
    """Raised by the guard in ``stop`` mode; ``occkit train`` turns it into exit code 3."""

    def __init__(self, event: HealthEvent) -> None:
        self.event = event
        super().__init__(f"training stopped by the health guard: {event.one_line()}")


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


class JsonlWriter:
    """Append-only JSON-lines file, flushed per record so a crash loses nothing already written."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, record: dict[str, Any] | str) -> None:
        line = record if isinstance(record, str) else json.dumps(record, default=_jsonable)
        with self.path.open("a") as fh:
            fh.write(line + "\n")
            fh.flush()


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Read a JSON-lines file, skipping a torn last line (a run killed mid-write)."""
    path = Path(path)
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(errors="replace").splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out
