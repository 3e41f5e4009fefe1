"""Detectors: small state machines that read one HealthCheck at a time and emit HealthEvents.

The same detectors run live (HealthMonitor) and after the fact (``occkit doctor`` replays the
checks of a run), so a diagnosis never depends on which of the two saw the run.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from occkit.health.config import HealthConfig
from occkit.health.events import HealthEvent


@dataclass
class HealthCheck:
    """Statistics over the steps since the previous check (a 'window')."""

    step: int
    loss: float
    target_rate: float
    pred_mean: float
    pred_min: float
    pred_max: float
    pred_occupied_frac: float
    grad_norm: float  # median pre-clip total norm over the window
    clip_fraction: float  # fraction of the window's steps where clipping fired
    clip_fraction_total: float  # since the start of the run
    max_norm: float | None
    lr: float
    nonfinite_steps: int = 0  # total so far
    empty_target_fraction: float = 0.0  # fraction of the window's batches with (near-)empty targets
    input_target_overlap: float | None = None  # fraction of target voxels next to an input voxel
    steps_in_window: int = 1
    warmup_done: bool = True
    per_height_loss: list[float] = field(default_factory=list)
    layer_grad_norms: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HealthCheck:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})

    def status_line(self) -> str:
        """The compact console line users already grep for (`DEBUG [500]: Occ: 0.83%, Pred mean: ...`)."""
        clip = f"{self.clip_fraction:.0%} (total {self.clip_fraction_total:.0%})" if self.max_norm else "off"
        return (f"HEALTH [{self.step}]: Occ: {self.target_rate:.2%}, Pred mean: {self.pred_mean:.4f}, "
                f"min: {self.pred_min:.2f}, max: {self.pred_max:.2f}, >0.5: {self.pred_occupied_frac:.2%} | "
                f"loss {self.loss:.4g} | grad {self.grad_norm:.3g} clip {clip} | lr {self.lr:.2e}")


class Detector:
    """Base: ``update`` returns an event when the condition (newly) holds."""

    kind = "base"

    def __init__(self, cfg: HealthConfig) -> None:
        self.cfg = cfg

    def update(self, check: HealthCheck) -> HealthEvent | None:  # pragma: no cover - interface
        raise NotImplementedError


class CollapseDetector(Detector):
    """Prediction mean far below the target rate with nothing predicted occupied, K checks running."""

    kind = "collapse"

    def __init__(self, cfg: HealthConfig) -> None:
        super().__init__(cfg)
        self.streak = 0
        self.onset: int | None = None
        self.reported = False

    def update(self, check: HealthCheck) -> HealthEvent | None:
        if check.target_rate <= self.cfg.empty_target_rate:
            return None  # no target to collapse against: the empty-target detector speaks instead
        collapsed = (check.pred_mean < self.cfg.collapse_ratio * check.target_rate
                     and check.pred_max < self.cfg.collapse_max_below)
        if not collapsed:
            self.streak, self.onset, self.reported = 0, None, False
            return None
        self.streak += 1
        self.onset = check.step if self.onset is None else self.onset
        if self.streak < self.cfg.collapse_patience or self.reported:
            return None
        self.reported = True
        return HealthEvent(
            step=check.step, kind=self.kind, severity="error",
            message=(f"Prediction collapsed to 'all empty' at step {self.onset} (mean {check.pred_mean:.4g} vs "
                     f"target {check.target_rate:.4g}, max {check.pred_max:.3f})"),
            suggestion=("use focal + dice + mean-matching (loss.kind=focal_dice, loss.mean_weight=10) and the "
                        "prior bias init (model.prior_occupancy = target rate); avoid weighted BCE or dice alone"),
            evidence={"onset_step": self.onset, "pred_mean": check.pred_mean, "pred_max": check.pred_max,
                      "target_rate": check.target_rate, "checks": self.streak},
        )


class PlateauDetector(Detector):
    """Relative loss improvement below a threshold over a window while the loss is still near its start."""

    kind = "plateau"

    def __init__(self, cfg: HealthConfig) -> None:
        super().__init__(cfg)
        self.history: list[tuple[int, float]] = []
        self.start_loss: float | None = None
        self.reported = False

    def update(self, check: HealthCheck) -> HealthEvent | None:
        if not math.isfinite(check.loss) or check.target_rate <= self.cfg.empty_target_rate:
            return None  # with empty targets the loss says nothing about learning
        if self.start_loss is None:
            self.start_loss = check.loss
        self.history.append((check.step, check.loss))
        window = [(s, v) for s, v in self.history if s >= check.step - self.cfg.plateau_window]
        if check.step - self.history[0][0] < self.cfg.plateau_window or len(window) < 3:
            return None
        quarter = max(1, len(window) // 4)
        old = sum(v for _, v in window[:quarter]) / quarter
        new = sum(v for _, v in window[-quarter:]) / quarter
        rel = (old - new) / abs(old) if old else 0.0
        total = (self.start_loss - new) / abs(self.start_loss) if self.start_loss else 0.0
        stalled = rel < self.cfg.plateau_min_rel_improvement and total < self.cfg.plateau_max_total_improvement
        if not stalled:
            self.reported = False
            return None
        if self.reported:
            return None
        self.reported = True
        span = check.step - window[0][0]
        return HealthEvent(
            step=check.step, kind=self.kind, severity="warning",
            message=(f"Loss plateaued at {new:.4g} over the last {span} steps ({total:.0%} below start, "
                     f"{rel:.1%} improvement in the window)"),
            suggestion=("raise the learning rate (e.g. 1e-3 with warmup) and loosen gradient clipping "
                        "(optim.grad_clip 1-10); check that targets are aligned with inputs"),
            evidence={"loss": new, "start_loss": self.start_loss, "window_improvement": rel,
                      "total_improvement": total, "window_steps": span},
        )


class StarvedGradientDetector(Detector):
    """Updates too small to learn: clipping cuts most steps, the lr is tiny, or gradients vanish."""

    kind = "starved_gradients"

    def __init__(self, cfg: HealthConfig) -> None:
        super().__init__(cfg)
        self.streak = 0
        self.reported = False

    def update(self, check: HealthCheck) -> HealthEvent | None:
        reasons: list[str] = []
        suggestions: list[str] = []
        if check.max_norm and check.clip_fraction >= self.cfg.clip_fraction_threshold and check.steps_in_window >= 2:
            reasons.append(f"gradient clipping fired on {check.clip_fraction:.0%} of steps "
                           f"(max_norm={check.max_norm:g}; median pre-clip norm {check.grad_norm:.3g})")
            suggestions.append(f"raise optim.grad_clip to 1-10 (at least ~{max(1.0, 2 * check.grad_norm):.2g})")
        if check.warmup_done and 0 < check.lr < self.cfg.tiny_lr:
            reasons.append(f"the learning rate is tiny ({check.lr:.1e} < {self.cfg.tiny_lr:.0e})")
            suggestions.append("use optim.lr around 1e-4 to 1e-3 with warmup")
        if math.isfinite(check.grad_norm) and check.grad_norm < self.cfg.vanishing_grad_norm:
            reasons.append(f"gradients vanish (median norm {check.grad_norm:.1e})")
            suggestions.append("check the loss on logits (not probabilities) and the model initialisation")
        if not reasons:
            self.streak, self.reported = 0, False
            return None
        self.streak += 1
        if self.streak < self.cfg.starved_patience or self.reported:
            return None
        self.reported = True
        return HealthEvent(
            step=check.step, kind=self.kind, severity="warning",
            message="; ".join(r[0].upper() + r[1:] for r in reasons),
            suggestion="; ".join(suggestions),
            evidence={"clip_fraction": check.clip_fraction, "clip_fraction_total": check.clip_fraction_total,
                      "grad_norm": check.grad_norm, "max_norm": check.max_norm, "lr": check.lr},
        )


class NonFiniteDetector(Detector):
    """Non-finite losses or gradients: each skipped step is counted; K of them break the run."""

    kind = "nonfinite"

    def __init__(self, cfg: HealthConfig) -> None:
        super().__init__(cfg)
        self.warned = False
        self.failed = False

    def update(self, check: HealthCheck) -> HealthEvent | None:
        n = check.nonfinite_steps
        if n >= self.cfg.nonfinite_patience and not self.failed:
            self.failed = self.warned = True
            severity = "error"
        elif n > 0 and not self.warned:
            self.warned = True
            severity = "warning"
        else:
            return None
        return HealthEvent(
            step=check.step, kind=self.kind, severity=severity,
            message=f"{n} step(s) had a non-finite loss or gradient and were skipped",
            suggestion=("look for NaN/inf in the inputs (occkit validates point files; check custom features), "
                        "lower the learning rate, or use bf16 instead of fp16"),
            evidence={"nonfinite_steps": n},
        )


class EmptyTargetDetector(Detector):
    """Most batches have (near-)empty targets: a data problem, not a model problem."""

    kind = "empty_targets"

    def __init__(self, cfg: HealthConfig) -> None:
        super().__init__(cfg)
        self.reported = False

    def update(self, check: HealthCheck) -> HealthEvent | None:
        if check.empty_target_fraction < self.cfg.empty_batch_fraction:
            self.reported = False
            return None
        if self.reported:
            return None
        self.reported = True
        return HealthEvent(
            step=check.step, kind=self.kind, severity="error",
            message=(f"{check.empty_target_fraction:.0%} of recent batches have empty targets "
                     f"(occupancy {check.target_rate:.2e})"),
            suggestion=("the ground truth is empty, not the model: run `occkit verify` on the data; check the "
                        "ego-frame alignment (data.ego_frame, data.fallback_to_lidar_center) and the grid range"),
            evidence={"empty_target_fraction": check.empty_target_fraction, "target_rate": check.target_rate},
        )


class MisalignmentDetector(Detector):
    """Target voxels far from any input voxel: the GT grid is shifted or in another frame."""

    kind = "misaligned_target"

    def __init__(self, cfg: HealthConfig) -> None:
        super().__init__(cfg)
        self.streak = 0
        self.reported = False

    def update(self, check: HealthCheck) -> HealthEvent | None:
        overlap = check.input_target_overlap
        if overlap is None or check.target_rate <= self.cfg.empty_target_rate:
            return None
        if overlap >= self.cfg.min_input_target_overlap:
            self.streak, self.reported = 0, False
            return None
        self.streak += 1
        if self.streak < self.cfg.misalignment_patience or self.reported:
            return None
        self.reported = True
        return HealthEvent(
            step=check.step, kind=self.kind, severity="error",
            message=(f"Only {overlap:.1%} of occupied target voxels lie next to an input voxel: the ground truth "
                     "looks misaligned with the inputs"),
            suggestion=("check the transforms between input and target (T_world_sensor, T_cam_lidar, ego frame) "
                        "and that both were voxelized with the same GridSpec"),
            evidence={"input_target_overlap": overlap},
        )


DETECTORS: tuple[type[Detector], ...] = (
    NonFiniteDetector, EmptyTargetDetector, MisalignmentDetector, CollapseDetector, StarvedGradientDetector,
    PlateauDetector,
)


class DetectorSuite:
    """All detectors together; feed checks in step order."""

    def __init__(self, cfg: HealthConfig) -> None:
        self.detectors = [cls(cfg) for cls in DETECTORS]

    def update(self, check: HealthCheck) -> list[HealthEvent]:
        events = []
        for det in self.detectors:
            event = det.update(check)
            if event is not None:
                events.append(event)
        return events

    def replay(self, checks: list[HealthCheck]) -> list[HealthEvent]:
        out: list[HealthEvent] = []
        for check in checks:
            out.extend(self.update(check))
        return out
