"""`occkit doctor`: read a run directory and write the ranked diagnosis an expert would write.

The doctor replays the live detectors on the run's own numbers (health.jsonl, or checks rebuilt from
metrics.csv when the monitor was off or the run died early), merges what the monitor already
reported in events.jsonl, adds what only hindsight shows (a crash, overall clipping), and ranks it.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from occkit.health.config import HealthConfig
from occkit.health.detectors import DetectorSuite, HealthCheck, spread
from occkit.health.events import SEVERITY_RANK, HealthEvent
from occkit.health.rundir import RunRecord, finite, read_run, stopped_without_status

# what the checks read (occkit's names; another trainer's are mapped onto them)
DOCTOR_SERIES = ("train/loss", "train/lr", "train/grad_norm", "train/clipped", "pred/mean", "pred/min", "pred/max",
                 "pred/occupancy_rate", "target/occupancy_rate", "val/iou", "epoch/val_loss")
KIND_PRIORITY = ["nonfinite", "empty_targets", "misaligned_target", "diverging", "collapse", "starved_gradients",
                 "plateau", "crash", "damaged_files", "interrupted", "clipping_frequent"]


@dataclass
class Finding:
    kind: str
    severity: str
    step: int
    title: str
    suggestion: str
    evidence: dict[str, Any] = field(default_factory=dict)
    source: str = "replay"  # "live" (events.jsonl), "replay" (detectors re-run), "summary"
    fix: list[str] = field(default_factory=list)  # config overrides that apply the suggestion

    @property
    def rank_key(self) -> tuple[int, int, int]:
        prio = KIND_PRIORITY.index(self.kind) if self.kind in KIND_PRIORITY else len(KIND_PRIORITY)
        return (-SEVERITY_RANK.get(self.severity, 0), prio, self.step)


@dataclass
class Diagnosis:
    run: RunRecord
    findings: list[Finding]
    summary: dict[str, Any]


def _health_config(run: RunRecord) -> HealthConfig:
    data = run.config.get("health") if isinstance(run.config.get("health"), dict) else {}
    try:
        return HealthConfig.model_validate(data)
    except Exception:
        return HealthConfig()


def checks_from_metrics(run: RunRecord, every_n: int) -> list[HealthCheck]:
    """Rebuild HealthChecks from per-step metrics.csv rows, one per ``every_n`` steps."""
    loss = dict(run.steps.get("train/loss", []))
    # the steps a check can be built on: the loss's, or for a log of prediction stats alone (a user's status line
    # without the loss) theirs
    anchor = loss or dict(run.steps.get("pred/mean", []) or run.steps.get("pred/max", []))
    if not anchor:
        return []
    cols = {k: dict(v) for k, v in run.steps.items()}
    max_norm = run.config_value("optim.grad_clip")
    warmup = int(run.config_value("optim.warmup_steps", 0) or 0)
    optimizer = run_optimizer(run)
    config_lr = run.config_value("optim.lr")
    empty_rate = _health_config(run).empty_target_rate
    steps = sorted(anchor)
    checks: list[HealthCheck] = []
    counted = sorted(run.steps.get("train/nonfinite_steps", []))

    def nonfinite_so_far(step: int) -> int:  # the module's running count, else NaN losses up to here
        logged = [v for s, v in counted if s <= step]
        if logged:
            return int(max(logged))
        return sum(1 for s, v in loss.items() if s <= step and not math.isfinite(v))

    clipped_total = 0
    seen_total = 0
    window: list[int] = []
    for i, step in enumerate(steps):
        window.append(step)
        is_last = i == len(steps) - 1
        if not (step // every_n != (steps[i + 1] // every_n if not is_last else -1)):
            continue

        def col(key: str, ws: list[int] = window) -> list[float]:
            return [cols[key][s] for s in ws if s in cols.get(key, {})]

        clipped = col("train/clipped")
        clipped_total += int(sum(c > 0.5 for c in clipped))
        seen_total += len(clipped)
        targets = finite(col("target/occupancy_rate"))
        grads = finite(col("train/grad_norm"))
        factors = [min(1.0, float(max_norm) / g) for g in grads if g > 0] if max_norm else []
        lrs = col("train/lr")
        checks.append(HealthCheck(
            step=step,
            loss=_mean(col("train/loss")),
            target_rate=_mean(targets),
            pred_mean=_mean(col("pred/mean")),
            pred_min=min(finite(col("pred/min")), default=math.nan),
            pred_max=max(finite(col("pred/max")), default=math.nan),
            pred_occupied_frac=_mean(col("pred/occupancy_rate")),
            grad_norm=statistics.median(grads) if grads else math.nan,
            clip_fraction=sum(c > 0.5 for c in clipped) / len(clipped) if clipped else 0.0,
            clip_fraction_total=clipped_total / seen_total if seen_total else 0.0,
            max_norm=float(max_norm) if max_norm else None,
            lr=lrs[-1] if lrs else float(config_lr or math.nan),  # a run that logs no lr still states its own
            nonfinite_steps=nonfinite_so_far(step),
            empty_target_fraction=sum(t <= empty_rate for t in targets) / len(targets) if targets else 0.0,
            steps_in_window=len(window),
            warmup_done=step > warmup,
            clip_factor_cv=spread(factors),
            optimizer=optimizer,
        ))
        window = []
    checks += [HealthCheck.blank(s, val_iou=v, phase="val") for s, v in run.epochs.get("val/iou", [])
               if math.isfinite(v)]
    return sorted(checks, key=lambda c: (c.step, c.phase == "val"))


def _summary(run: RunRecord) -> dict[str, Any]:
    out: dict[str, Any] = {"status": run.status.get("state", "unknown"), "last_step": run.last_step()}
    _, losses = run.series("train/loss")
    losses = finite(losses)
    if losses:
        out["first_loss"], out["last_loss"] = losses[0], losses[-1]
    _, clipped = run.series("train/clipped")
    if clipped:
        out["clip_fraction_total"] = sum(c > 0.5 for c in clipped) / len(clipped)
    _, grads = run.series("train/grad_norm")
    if finite(grads):
        out["median_grad_norm"] = statistics.median(finite(grads))
    out["max_norm"] = run.config_value("optim.grad_clip")
    out["lr"] = run.config_value("optim.lr")
    out["loss_kind"] = run.config_value("loss.kind")
    _, ious = run.series("val/iou")
    if finite(ious):
        out["best_val_iou"] = max(finite(ious))
        out["last_val_iou"] = finite(ious)[-1]
    _, preds = run.series("pred/mean")
    _, targets = run.series("target/occupancy_rate")
    if finite(preds) and finite(targets):
        out["last_pred_mean"] = finite(preds)[-1]
        out["last_target_rate"] = finite(targets)[-1]
    return out


def diagnose(run_dir: str | Path) -> Diagnosis:
    """Findings for one run, most important first."""
    run = read_run(run_dir)
    cfg = _health_config(run)
    checks = [HealthCheck.from_dict(h) for h in run.health] or checks_from_metrics(run, cfg.every_n_steps)
    findings: dict[str, Finding] = {}
    for event in run.events:
        _merge(findings, _finding(event, "live"))
    for event in DetectorSuite(cfg).replay(checks):
        _merge(findings, _finding(event, "replay"))
    summary = _summary(run)
    for problem in run.problems:
        _merge(findings, Finding("damaged_files", "warning", 0, problem,
                                 "the figures below leave that data out; a run killed mid-write tears its last row",
                                 {}, "summary"))
    _lifecycle_findings(run, summary, findings)
    total = _nonfinite_total(run)
    if total:
        summary["nonfinite_steps"] = total
        if "nonfinite" in findings:  # the detectors fire at the first and the K-th; report the final count
            f = findings["nonfinite"]
            f.title = f"{total} step(s) had a non-finite loss or gradient and were skipped"
            f.evidence = {**f.evidence, "nonfinite_steps": total}
    clip = summary.get("clip_fraction_total")
    if clip is not None and clip >= 0.5 and "starved_gradients" not in findings:
        optimizer = run_optimizer(run)
        advice = (f"under {optimizer} a steady clip factor barely changes the update (Adam normalises the gradient "
                  "scale), so clipping is not what limits this run; if it learns too slowly the learning rate is "
                  "the lever" if optimizer.lower().startswith("adam") else
                  f"{optimizer} scales each update with the clipped gradient, so this clip shrinks every step: "
                  "raise it to 1-10, or lower it only to catch rare spikes")
        _merge(findings, Finding(
            "clipping_frequent", "info", 0,
            f"Gradient clipping fired on {clip:.0%} of steps (max_norm={summary.get('max_norm')}; median pre-clip "
            f"norm {summary.get('median_grad_norm', float('nan')):.3g})", advice,
            {"clip_fraction": clip, "optimizer": optimizer}, "summary"))
    return Diagnosis(run=run, findings=sorted(findings.values(), key=lambda f: f.rank_key), summary=summary)


def run_optimizer(run: RunRecord) -> str:
    """The optimizer the run trained with: occkit trains with AdamW; another trainer's config says its own."""
    return str(run.config_value("optim.optimizer") or "AdamW")


def settings_line(run: RunRecord, quote: str = "`") -> str | None:
    """For another trainer's run: what occkit's settings named in the advice are called in its own config."""
    if not run.settings:
        return None
    names = ", ".join(f"{quote}{ours}{quote} is {quote}{theirs}{quote}" for ours, theirs in run.settings.items())
    return f"The advice names occkit's settings; in this run's config {names}."


def _nonfinite_total(run: RunRecord) -> int:
    """Skipped steps: status.json's count, the logged running count, or NaN losses, whichever is largest."""
    _, counted = run.series("train/nonfinite_steps")
    _, losses = run.series("train/loss")
    return max([int(run.status.get("nonfinite_steps") or 0), int(max(counted, default=0)),
                sum(1 for v in losses if not math.isfinite(v))])


def _lifecycle_findings(run: RunRecord, summary: dict[str, Any], findings: dict[str, Finding]) -> None:
    """How the run ended: crashed, stopped by the guard, interrupted, or killed without a final status."""
    state, step = run.status.get("state"), summary["last_step"]
    message = run.status.get("message") or ""
    dead = stopped_without_status(run.status)
    if dead:
        summary["status"] = "killed"
        _merge(findings, Finding("crash", "error", step, f"The run {dead}, at step {step}",
                                 "it was killed (out of memory, kill -9, a lost node); continue it with "
                                 "`occkit train --resume auto`, which restarts from checkpoints/last.ckpt",
                                 {"state": state}, "summary"))
    elif state == "stopped_by_guard":
        _merge(findings, Finding("crash", "warning", step, f"The health guard stopped the run at step {step}: "
                                 f"{message}", "fix the cause named above and start a new run; resuming would "
                                 "continue from the same broken weights", {"state": state}, "summary"))
    elif state == "interrupted":
        _merge(findings, Finding("interrupted", "info", step, f"The run was interrupted at step {step}: {message}",
                                 "continue it with `occkit train --resume auto`", {"state": state}, "summary"))
    elif state == "crashed" or (not run.status and step > 0 and run.written_by_occkit):
        message = message or "no status.json: the process was killed before it could write one"
        _merge(findings, Finding("crash", "error", step, f"The run stopped early at step {step} "
                                 f"({state or 'killed'}): {message}",
                                 "fix the cause named above, then resume with `occkit train --resume auto`",
                                 {"state": state}, "summary"))


def _finding(event: HealthEvent, source: str) -> Finding:
    return Finding(event.kind, event.severity, event.step, event.message, event.suggestion, event.evidence, source,
                   list(event.fix))


def _merge(findings: dict[str, Finding], new: Finding) -> None:
    """One finding per kind: keep the most severe, then the earliest."""
    old = findings.get(new.kind)
    if old is None or (SEVERITY_RANK.get(new.severity, 0), -new.step) > (SEVERITY_RANK.get(old.severity, 0), -old.step):
        findings[new.kind] = new


def write_report(diagnosis: Diagnosis, out_path: str | Path | None = None) -> Path:
    """Write doctor.md (and its PNG plots beside it); returns the Markdown path."""
    from occkit.health.doctor_plots import write_plots
    from occkit.utils.atomic import atomic_write_text

    run = diagnosis.run
    out_path = Path(out_path) if out_path else run.default_report_dir() / "doctor.md"
    out_path.parent.mkdir(parents=True, exist_ok=True)
    plots = write_plots(run, out_path.parent)
    s = diagnosis.summary
    lines = [f"# occkit doctor: {run.name}", "",
             f"Run directory: `{run.run_dir}` · status: **{s['status']}** · last step: {s['last_step']}"]
    if "best_val_iou" in s:
        lines[-1] += f" · best val IoU: {s['best_val_iou']:.4f}"
    if run.metrics_kind == "TensorBoard events" and run.written_by_occkit:
        lines += ["", f"Per-step metrics read from the TensorBoard events ({run.metrics_from}): metrics.csv is "
                      "missing or unreadable."]
    elif not run.written_by_occkit:
        lines += ["", f"Not an occkit run directory: metrics read from its {run.metrics_kind} ({run.metrics_from})."]
        found = {**run.steps, **run.epochs}
        if found:
            lines.append("Series the checks read: " + ", ".join(
                f"`{name}` ({len(pairs)} values)" for name, pairs in found.items() if name in DOCTOR_SERIES) + ".")
        if settings_line(run):
            lines.append(settings_line(run))
    lines += ["", "## Diagnosis (most important first)", ""]
    if not diagnosis.findings:
        lines.append("No problems found: no collapse, plateau, starved gradients, non-finite steps or empty targets.")
    for i, f in enumerate(diagnosis.findings, 1):
        lines.append(f"{i}. **{f.title}** ({f.severity}, {f.kind}, step {f.step}, {f.source})")
        lines.append(f"   - Fix: {f.suggestion}")
        if f.evidence:
            ev = ", ".join(f"{k}={_fmt(v)}" for k, v in f.evidence.items())
            lines.append(f"   - Evidence: {ev}")
    lines += ["", "## Key numbers", "", "| quantity | value |", "|---|---|"]
    lines += [f"| {k} | {_fmt(v)} |" for k, v in s.items()]
    if plots:
        lines += ["", "## Plots", ""]
        lines += [f"![{p.stem}]({p.name})" for p in plots]
    atomic_write_text(out_path, "\n".join(lines) + "\n")
    return out_path


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _mean(values: list[float]) -> float:
    f = finite(values)
    return sum(f) / len(f) if f else math.nan
