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
    optimizer: str = "AdamW"  # Adam-type optimisers normalise the gradient scale; SGD does not
    update_ratio: dict[str, float] = field(default_factory=dict)  # per param group: |dw| / |w| of one step
    clip_factor_cv: float | None = None  # spread (std / mean) of min(1, max_norm / norm) over the window
    input_offset_m: list[float] | None = None  # estimated (x, y, z) offset of the input from the target, metres
    input_offset_voxels: list[int] | None = None
    input_offset_gain: float | None = None  # correlation at that offset / at zero offset
    val_iou: float | None = None  # set on the check taken at a validation (phase "val")
    phase: str = "train"  # "train": a window of training steps; "val": one validation result

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def blank(cls, step: int, **fields: Any) -> HealthCheck:
        """A check that carries only ``fields`` (a validation result, a non-finite count): the statistics of a
        training window are NaN, so the window detectors read nothing into it."""
        nan = math.nan
        base = dict(loss=nan, target_rate=nan, pred_mean=nan, pred_min=nan, pred_max=nan, pred_occupied_frac=nan,
                    grad_norm=nan, clip_fraction=0.0, clip_fraction_total=0.0, max_norm=None, lr=nan)
        return cls(step=step, **{**base, **fields})

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

    def mean_far_below(self, check: HealthCheck) -> bool:
        """The prediction mean is a small fraction of the target rate (the collapse side)."""
        return check.pred_mean < self.cfg.collapse_ratio * check.target_rate

    def not_moved_yet(self, check: HealthCheck) -> bool:
        """The updates are too small to have moved the prediction, and it has not fallen: starved, not collapsed."""
        ratio = _median_ratio(check)
        return ratio is not None and ratio < self.cfg.tiny_update_ratio and not self.mean_far_below(check)


class CollapseDetector(Detector):
    """The prediction degenerated: no confident positive, a mean far below or far above the target rate.

    "No confident positive" (max probability below 0.5 while targets are occupied, the criterion users watch)
    is reported at the first check past ``collapse_grace_steps``: once a run is that far, nothing above 0.5
    means nothing is predicted occupied, whatever the mean says. A mean far off the target rate (either way)
    is reported after ``collapse_patience`` checks.
    """

    kind = "collapse"

    def __init__(self, cfg: HealthConfig) -> None:
        super().__init__(cfg)
        self.streak = 0
        self.onset: int | None = None
        self.reported = False

    def _state(self, check: HealthCheck) -> tuple[str, str] | None:
        t = check.target_rate
        mean_low = self.mean_far_below(check)
        mean_high = check.pred_mean > self.cfg.overpredict_ratio * t and check.pred_occupied_frac > (
            self.cfg.overpredict_ratio * t)
        none_confident = check.pred_max < self.cfg.collapse_max_below or check.pred_occupied_frac <= 0.0
        if none_confident and self.not_moved_yet(check):
            return None  # nothing has moved yet: too small an update (the starved detector names it), no collapse
        if none_confident:
            low = " and the mean far below the target rate" if mean_low else ""
            # a run that never logged its target rate (another trainer's) still shows the mean
            versus = f" = {check.pred_mean / t:.2f}x the target rate {t:.4g}" if math.isfinite(t) and t > 0 else ""
            return "none_confident", (f"nothing is predicted occupied: max probability {check.pred_max:.3f} < "
                                      f"{self.cfg.collapse_max_below:g}, 0 voxels above 0.5{low} (mean "
                                      f"{check.pred_mean:.4g}{versus})")
        if mean_high:
            return "overpredict", (f"the prediction is degenerate the other way: mean {check.pred_mean:.4g} = "
                                   f"{check.pred_mean / t:.0f}x the target rate {t:.4g}, "
                                   f"{check.pred_occupied_frac:.1%} of voxels above 0.5")
        return None

    def update(self, check: HealthCheck) -> HealthEvent | None:
        if check.target_rate <= self.cfg.empty_target_rate or not math.isfinite(check.pred_mean):
            return None  # no target to collapse against: the empty-target detector speaks instead
        state = self._state(check) if check.step >= self.cfg.collapse_grace_steps else None
        if state is None:
            self.streak, self.onset, self.reported = 0, None, False
            return None
        self.streak += 1
        self.onset = check.step if self.onset is None else self.onset
        patience = 1 if state[0] == "none_confident" else min(2, self.cfg.collapse_patience)
        if self.streak < patience or self.reported:
            return None
        self.reported = True
        fix, suggestion = collapse_fix(state[0])
        return HealthEvent(
            step=check.step, kind=self.kind, severity="error",
            message=f"Prediction collapsed at step {self.onset}: {state[1]}",
            suggestion=suggestion, fix=fix,
            evidence={"onset_step": self.onset, "state": state[0], "pred_mean": check.pred_mean,
                      "pred_max": check.pred_max, "pred_occupied_frac": check.pred_occupied_frac,
                      "target_rate": check.target_rate, "checks": self.streak},
        )


COLLAPSE_FIX = ['loss.kind="focal_dice"', "loss.terms=null", "loss.mean_weight=10", "model.prior_occupancy=0.0083"]


def collapse_fix(state: str) -> tuple[list[str], str]:
    """The overrides that undo a collapse (either way), and the sentence that explains them."""
    if state == "overpredict":
        return (list(COLLAPSE_FIX), "match the mean to the target (loss.mean_weight=10) and start from the "
                "occupancy rate (model.prior_occupancy); lower an inflated pos_weight")
    return (list(COLLAPSE_FIX),
            "use focal + dice + mean matching (loss.kind=focal_dice, loss.mean_weight=10) with the prior bias "
            "init (model.prior_occupancy = the target rate): at <1% occupancy weighted BCE and dice both make "
            "'all empty' nearly optimal")


class ValIoUDetector(Detector):
    """Validation IoU at (almost) zero while the validation targets are occupied."""

    kind = "collapse"

    def __init__(self, cfg: HealthConfig) -> None:
        super().__init__(cfg)
        self.reported = False
        self.starved = False  # the last training check showed updates too small to have moved anything yet

    def update(self, check: HealthCheck) -> HealthEvent | None:
        if check.phase != "val":
            self.starved = self.not_moved_yet(check)
            return None
        if check.val_iou is None or self.reported or self.starved:
            return None
        if check.val_iou >= self.cfg.zero_iou or check.step < self.cfg.collapse_grace_steps:
            return None
        self.reported = True
        fix, suggestion = collapse_fix("none_confident")
        return HealthEvent(step=check.step, kind=self.kind, severity="error",
                           message=f"Validation IoU is {check.val_iou:.3f} at step {check.step}: nothing the model "
                                   "predicts occupied is right (or it predicts nothing)",
                           suggestion=suggestion, fix=fix, evidence={"val_iou": check.val_iou})


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
        lr = _usable_lr(check)
        new_lr = _raised_lr(lr)
        clip_note = (f"; clipping matters here ({clipping_matters(check)}): also raise optim.grad_clip to 1-10"
                     if check.max_norm and check.clip_fraction >= 0.5 and clipping_matters(check) else "")
        ratio = _median_ratio(check)
        ratio_note = f", update/weight ratio {ratio:.1e}" if ratio is not None else ""
        if lr is not None and new_lr <= lr:  # already at or above the ceiling a raise would go to
            advice = (f"the learning rate ({lr:.0e}) is not small: check that targets are aligned with inputs "
                      "(`occkit verify`) and that the loss can reach them" + clip_note)
            fix: list[str] = []
        else:
            advice = (f"raise the learning rate first: optim.lr={new_lr:.0e} (from {lr:.0e}) with warmup"
                      if lr else "raise the learning rate (optim.lr around 1e-3 with warmup)") + clip_note \
                + "; check that targets are aligned with inputs"
            fix = [f"optim.lr={new_lr:.0e}"]
        return HealthEvent(
            step=check.step, kind=self.kind, severity="warning",
            message=(f"Loss plateaued at {new:.4g} over the last {span} steps ({total:.0%} below start, "
                     f"{rel:.1%} improvement in the window{ratio_note})"),
            suggestion=advice,
            fix=fix,
            evidence={"loss": new, "start_loss": self.start_loss, "window_improvement": rel,
                      "total_improvement": total, "window_steps": span, "update_ratio": ratio},
        )


def _usable_lr(check: HealthCheck) -> float | None:
    return check.lr if math.isfinite(check.lr) and check.lr > 0 else None


def _raised_lr(lr: float | None) -> float:
    """The lr a starved or stalled run should try: ten times the current one (at most 3e-3), else 1e-3."""
    return min(3e-3, 10 * lr) if lr else 1e-3


def spread(values: list[float]) -> float | None:
    """std / mean of a series (None for fewer than two values or a non-positive mean): how steady it is."""
    import statistics

    if len(values) < 2:
        return None
    mean = sum(values) / len(values)
    return statistics.pstdev(values) / mean if mean > 0 else None


def _median_ratio(check: HealthCheck) -> float | None:
    values = sorted(v for v in check.update_ratio.values() if math.isfinite(v))
    return values[len(values) // 2] if values else None


def clipping_matters(check: HealthCheck) -> str:
    """Why clipping changes the update here ('' when it does not): with SGD the update scales with the clipped
    norm; with Adam-type optimisers a near-constant clip factor cancels out in the normalisation, so only a
    factor that varies strongly from step to step changes the update's direction and size."""
    if not check.optimizer.lower().startswith("adam"):
        return f"{check.optimizer} scales the update with the clipped gradient"
    if check.clip_factor_cv is not None and check.clip_factor_cv > 0.5:
        return f"the clip factor varies strongly from step to step (spread {check.clip_factor_cv:.2f})"
    return ""


class StarvedGradientDetector(Detector):
    """Updates too small to learn, judged on the update actually applied (|dw|/|w| per parameter group): the lr
    is ranked first; clipping is named only where it changes the update (SGD, or a clip factor that varies
    strongly under Adam), since Adam's normalisation cancels a near-constant clip factor."""

    kind = "starved_gradients"

    def __init__(self, cfg: HealthConfig) -> None:
        super().__init__(cfg)
        self.streak = 0
        self.reported = False
        self.peak_lr = 0.0

    def update(self, check: HealthCheck) -> HealthEvent | None:
        reasons: list[str] = []
        suggestions: list[str] = []
        fix: list[str] = []
        ratio = _median_ratio(check)
        lr = _usable_lr(check)
        self.peak_lr = max(self.peak_lr, lr or 0.0)
        annealing = lr is not None and lr < 0.5 * self.peak_lr  # a schedule's tail shrinks updates on purpose
        if check.warmup_done and not annealing and ratio is not None and ratio < self.cfg.tiny_update_ratio:
            reasons.append(f"the update applied is tiny: |dw|/|w| = {ratio:.1e} per step (healthy runs sit near "
                           f"1e-3)")
            new_lr = _raised_lr(lr)
            if lr is None or new_lr > lr:
                suggestions.append(f"raise optim.lr first (x10: {new_lr:.0e})")
                fix.append(f"optim.lr={new_lr:.0e}")
        if check.warmup_done and lr is not None and lr < self.cfg.tiny_lr:
            reasons.append(f"the learning rate is tiny ({check.lr:.1e} < {self.cfg.tiny_lr:.0e})")
            suggestions.append("use optim.lr around 1e-4 to 1e-3 with warmup")
            fix = fix or ["optim.lr=1e-3"]
        clipped = (check.max_norm and check.clip_fraction >= self.cfg.clip_fraction_threshold
                   and check.steps_in_window >= 2)
        why = clipping_matters(check) if clipped else ""
        if clipped and why:
            reasons.append(f"gradient clipping fired on {check.clip_fraction:.0%} of steps "
                           f"(max_norm={check.max_norm:g}; median pre-clip norm {check.grad_norm:.3g}) and {why}")
            suggestions.append(f"raise optim.grad_clip to 1-10 (at least ~{max(1.0, 2 * check.grad_norm):.2g})")
            fix.append(f"optim.grad_clip={max(1.0, round(2 * check.grad_norm, 1)):g}")
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
            suggestion="; ".join(suggestions), fix=fix,
            evidence={"clip_fraction": check.clip_fraction, "clip_fraction_total": check.clip_fraction_total,
                      "grad_norm": check.grad_norm, "max_norm": check.max_norm, "lr": check.lr,
                      "update_ratio": ratio, "optimizer": check.optimizer, "clip_factor_cv": check.clip_factor_cv},
        )


class DivergenceDetector(Detector):
    """Steps too large, usually the lr: the loss climbs well above its best, or the gradients die (20x below
    their first check) while the updates stay large, which is how a network saturated by huge steps looks."""

    kind = "diverging"

    def __init__(self, cfg: HealthConfig) -> None:
        super().__init__(cfg)
        self.best = math.inf
        self.first_grad: float | None = None
        self.first_loss: float | None = None
        self.streak = 0
        self.reported = False

    def update(self, check: HealthCheck) -> HealthEvent | None:
        if not math.isfinite(check.loss) or check.target_rate <= self.cfg.empty_target_rate:
            return None
        if self.first_grad is None and math.isfinite(check.grad_norm) and check.grad_norm > 0:
            self.first_grad, self.first_loss = check.grad_norm, check.loss
        if not check.warmup_done:
            self.best = min(self.best, check.loss)
            return None
        rising = math.isfinite(self.best) and check.loss > self.cfg.divergence_ratio * self.best
        ratio = _median_ratio(check)
        collapsed = self.mean_far_below(check)  # its own cause, and detector
        stuck = self.first_loss is not None and check.loss > 0.5 * self.first_loss  # a fitting model's grads shrink too
        died = (self.first_grad is not None and math.isfinite(check.grad_norm) and not collapsed and stuck
                and check.grad_norm < self.cfg.saturation_ratio * self.first_grad
                and ratio is not None and ratio >= self.cfg.tiny_update_ratio)
        self.best = min(self.best, check.loss)
        if not (rising or died):
            self.streak = 0
            return None
        self.streak += 1
        if self.streak < self.cfg.divergence_patience or self.reported:
            return None
        self.reported = True
        lr = _usable_lr(check)
        new_lr = lr / 10 if lr else 1e-3
        if rising:
            what = (f"The loss is climbing: {check.loss:.4g} against a best of {self.best:.4g} "
                    f"({check.loss / self.best:.1f}x) after warmup")
        else:
            what = (f"The gradients died: median norm {check.grad_norm:.2g}, "
                    f"{self.first_grad / check.grad_norm:.0f}x below the first check, while each step still moves "
                    f"the weights by {ratio:.1e} of their norm: huge steps saturated the network")
        return HealthEvent(
            step=check.step, kind=self.kind, severity="error",
            message=what,
            suggestion=f"lower the learning rate: optim.lr={new_lr:.0e}" + (f" (from {lr:.0e})" if lr else "")
                       + "; a longer warmup (optim.warmup_steps) helps too",
            fix=[f"optim.lr={new_lr:.0e}"],
            evidence={"loss": check.loss, "best_loss": self.best, "lr": check.lr, "grad_norm": check.grad_norm,
                      "first_grad_norm": self.first_grad, "update_ratio": ratio},
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
            fix=[f"optim.lr={check.lr / 10:.0e}"] if math.isfinite(check.lr) and check.lr > 0 else [],
            evidence={"nonfinite_steps": n},
        )


class EmptyTargetDetector(Detector):
    """Most batches have (near-)empty targets: a data problem, not a model problem."""

    kind = "empty_targets"

    def __init__(self, cfg: HealthConfig) -> None:
        super().__init__(cfg)
        self.reported = False

    def update(self, check: HealthCheck) -> HealthEvent | None:
        near_zero_loss = math.isfinite(check.loss) and check.loss < self.cfg.near_zero_loss
        empty = check.empty_target_fraction >= self.cfg.empty_batch_fraction
        nearly_empty = near_zero_loss and math.isfinite(check.target_rate) and check.target_rate < 1e-4
        if not (empty or nearly_empty):
            self.reported = False
            return None
        if self.reported:
            return None
        self.reported = True
        loss_note = (f"; a loss of {check.loss:.1e} is only reachable on (near-)empty targets: at 0.8% occupancy "
                     "a prediction of 1e-4 costs about 0.76 under weighted BCE and 1.0 with dice"
                     if near_zero_loss else "")
        return HealthEvent(
            step=check.step, kind=self.kind, severity="error",
            message=(f"{check.empty_target_fraction:.0%} of recent batches have empty targets "
                     f"(occupancy {check.target_rate:.2e}){loss_note}"),
            suggestion=("the ground truth is empty, not the model: run `occkit verify` on the data; check the "
                        "ego-frame alignment (data.ego_frame, data.fallback_to_lidar_center=true) and the grid "
                        "range"),
            fix=["data.fallback_to_lidar_center=true"],
            evidence={"empty_target_fraction": check.empty_target_fraction, "target_rate": check.target_rate,
                      "loss": check.loss},
        )


class MisalignmentDetector(Detector):
    """Target voxels far from any input voxel: the GT grid is shifted or in another frame.

    A shift counts towards the alarm only while consecutive checks agree on it (within a voxel per axis): a real
    misalignment is the same every batch, while on small or noisy batches (training windows, pseudo-LiDAR) the
    correlation peak of an aligned run wanders from check to check."""

    kind = "misaligned_target"

    def __init__(self, cfg: HealthConfig) -> None:
        super().__init__(cfg)
        self.streak = 0
        self.reported = False
        self.last_offset: list[int] | None = None

    def update(self, check: HealthCheck) -> HealthEvent | None:
        overlap = check.input_target_overlap
        if check.target_rate <= self.cfg.empty_target_rate or (overlap is None and check.input_offset_voxels is None):
            return None
        low_overlap = overlap is not None and overlap < self.cfg.min_input_target_overlap
        offset = check.input_offset_voxels
        shifted = (offset is not None and max(abs(v) for v in offset) >= self.cfg.min_offset_voxels
                   and (check.input_offset_gain or 0.0) >= self.cfg.min_offset_gain)
        if not (low_overlap or shifted):
            self.streak, self.reported, self.last_offset = 0, False, None
            return None
        same_shift = (self.last_offset is not None and offset is not None
                      and all(abs(a - b) <= 1 for a, b in zip(offset, self.last_offset, strict=True)))
        self.last_offset = list(offset) if shifted else None
        if shifted and not low_overlap and not same_shift:
            self.streak = 0  # a new offset: start counting again
        self.streak += 1
        if self.streak < self.cfg.misalignment_patience or self.reported:
            return None
        self.reported = True
        where = ""
        if shifted and check.input_offset_m is not None:
            mx, my, mz = check.input_offset_m
            where = (f"the input is offset by ({mx:+.1f} m, {my:+.1f} m, {mz:+.1f} m) from the target "
                     f"(x, y, z; correlation {check.input_offset_gain:.2f}x the aligned one)")
        share = f"{overlap:.1%} of occupied target voxels lie next to an input voxel" if overlap is not None else ""
        return HealthEvent(
            step=check.step, kind=self.kind, severity="error",
            message="The ground truth looks misaligned with the inputs: " + "; ".join(p for p in (where, share) if p),
            suggestion=("check the transforms between input and target (T_world_sensor, T_cam_lidar, the ego "
                        "frame) and that both were voxelized with the same GridSpec"
                        + ("; the estimated offset is the correction to look for" if where else "")),
            evidence={"input_target_overlap": overlap, "offset_m": check.input_offset_m,
                      "offset_voxels": offset, "offset_gain": check.input_offset_gain},
        )


DETECTORS: tuple[type[Detector], ...] = (
    NonFiniteDetector, EmptyTargetDetector, MisalignmentDetector, CollapseDetector, StarvedGradientDetector,
    PlateauDetector, ValIoUDetector, DivergenceDetector,
)


class DetectorSuite:
    """All detectors together; feed checks in step order."""

    def __init__(self, cfg: HealthConfig) -> None:
        self.cfg = cfg
        self.detectors = [cls(cfg) for cls in DETECTORS]
        self.empty_targets = False  # empty targets or broken (non-finite) steps: every model symptom follows
        self.diverged = False  # after "steps too large", a stalled loss is its symptom, not a call for more lr
        self.collapsed = False  # after a collapse, vanishing gradients are its symptom (an all-empty net saturates)

    def update(self, check: HealthCheck) -> list[HealthEvent]:
        events = []
        if check.phase != "val":
            self.empty_targets = (check.empty_target_fraction >= self.cfg.empty_batch_fraction
                                  or check.nonfinite_steps >= self.cfg.nonfinite_patience)
        for det in self.detectors:
            if check.phase == "val" and not isinstance(det, ValIoUDetector):
                continue  # validation checks carry only the val IoU
            if self.empty_targets and not isinstance(det, EmptyTargetDetector | NonFiniteDetector):
                continue  # with nothing to learn from, a frozen model or a zero val IoU is not a second cause
            if self.diverged and isinstance(det, PlateauDetector | StarvedGradientDetector):
                continue
            if self.collapsed and isinstance(det, StarvedGradientDetector):
                continue
            event = det.update(check)
            if event is not None:
                events.append(event)
                self.diverged = self.diverged or event.kind == "diverging"
                self.collapsed = self.collapsed or event.kind == "collapse"
        return events

    def replay(self, checks: list[HealthCheck]) -> list[HealthEvent]:
        out: list[HealthEvent] = []
        for check in checks:
            out.extend(self.update(check))
        return out
