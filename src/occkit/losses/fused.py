"""The occupancy loss in few passes over the grid: a custom autograd function with an analytic gradient.

Autograd through the composed terms (``occkit.losses.terms``) keeps a dozen full-size intermediates and walks
them back one op at a time; on a 200 x 200 x 121 grid that costs several times plain BCE. Here the forward pass
computes ``log p`` once and from it every reduction the loss needs (voxel-term sums per height, dice sums per
height, the mean-matching sums); the backward pass recomputes ``p`` from the saved logits and writes
``dL/dlogit`` in one elementwise expression. On grids of a million voxels and more both passes run as
``torch.compile``'d kernels (one fused loop each; about 4 s to compile once per process on a CPU; eager with a
warning where compiling fails): about as fast as plain BCE (benchmarks/train_throughput.py --loss-only). Values
and gradients equal the reference implementation to float tolerance (tests/test_losses_fused.py).

Derivatives used (p = sigmoid(x), q = 1 - p; dp/dx = p q; d log p / dx = q; d log q / dx = -p):
* BCE, positive weight w+:  d/dx -(w+ t log p + (1 - t) log q) = (1 - t) p - w+ t q
* focal: d/dx a t q^g (-log p) = a t (g p q^g log p - q^(g+1));
         d/dx (1 - a)(1 - t) p^g (-log q) = (1 - a)(1 - t)(p^(g+1) - g p^g q log q)
* dice D = 1 - (2 I + s) / (P + T + s):  dD/dp_i = w_i ((2 I + s) - 2 t_i (P + T + s)) / (P + T + s)^2
* mean (m_p - m_t)^2:  d/dp_i = 2 (m_p - m_t) v_i / n
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class FusedSpec:
    """Which terms and with which constants (from LossConfig)."""

    voxel: str | None  # "bce", "weighted_bce", "focal" or None
    pos_weight: float
    alpha: float
    gamma: float
    dice_weight: float  # 0 = no dice
    dice_smooth: float
    mean_weight: float  # 0 = no mean matching


def _powers(log_p: torch.Tensor, log_q: torch.Tensor, p: torch.Tensor, q: torch.Tensor, gamma: float
            ) -> tuple[torch.Tensor, torch.Tensor]:
    if gamma == 2.0:
        return q * q, p * p
    return torch.exp(gamma * log_q), torch.exp(gamma * log_p)


def _voxel_map(spec: FusedSpec, t: torch.Tensor, log_p: torch.Tensor, log_q: torch.Tensor, p: torch.Tensor,
               q: torch.Tensor) -> torch.Tensor:
    if spec.voxel == "focal":
        mq, mp = _powers(log_p, log_q, p, q, spec.gamma)
        return -(spec.alpha * t * mq * log_p + (1.0 - spec.alpha) * (1.0 - t) * mp * log_q)
    pw = spec.pos_weight if spec.voxel == "weighted_bce" else 1.0
    return -(pw * t * log_p + (1.0 - t) * log_q)


def _voxel_grad(spec: FusedSpec, t: torch.Tensor, log_p: torch.Tensor, log_q: torch.Tensor, p: torch.Tensor,
                q: torch.Tensor) -> torch.Tensor:
    if spec.voxel == "focal":
        g, a = spec.gamma, spec.alpha
        mq, mp = _powers(log_p, log_q, p, q, g)
        return a * t * (g * p * mq * log_p - mq * q) + (1.0 - a) * (1.0 - t) * (mp * p - g * mp * q * log_q)
    pw = spec.pos_weight if spec.voxel == "weighted_bce" else 1.0
    return (1.0 - t) * p - pw * t * q


def forward_sums(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None, valid: torch.Tensor | None,
                 spec: FusedSpec) -> tuple[torch.Tensor, ...]:
    """Every reduction of the loss in one pass: voxel-term, dice intersection / p / t sums per height, and the
    mean term's sums of (p - t) and of the mask."""
    red = tuple(d for d in range(logits.ndim) if d != 1)
    log_p = F.logsigmoid(logits)
    log_q = log_p - logits
    p = torch.exp(log_p)
    q = 1.0 - p
    zero_h = logits.new_zeros(logits.shape[1])
    voxel_h = zero_h
    if spec.voxel is not None:
        lmap = _voxel_map(spec, target, log_p, log_q, p, q)
        voxel_h = (lmap if weight is None else lmap * weight).sum(red)
    inter_h = p_h = t_h = zero_h
    if spec.dice_weight > 0:
        wp = p if weight is None else p * weight
        inter_h, p_h = (wp * target).sum(red), wp.sum(red)
        t_h = (target if weight is None else target * weight).sum(red)
    diff_sum = n = logits.new_zeros(())
    if spec.mean_weight > 0:
        d = p - target
        diff_sum = d.sum() if valid is None else (d * valid).sum()
        n = logits.new_tensor(float(logits.numel())) if valid is None else valid.sum()
    return voxel_h, inter_h, p_h, t_h, diff_sum, n


def backward_grad(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None,
                  valid: torch.Tensor | None, spec: FusedSpec, c_voxel: torch.Tensor, dice_a: torch.Tensor,
                  dice_b: torch.Tensor, c_mean: torch.Tensor) -> torch.Tensor:
    """dL/dlogit in one expression: ``c_voxel * w * dl/dx + (dice_a - dice_b * t) * w * p q + c_mean * v * p q``."""
    log_p = F.logsigmoid(logits)
    log_q = log_p - logits
    p = torch.exp(log_p)
    q = 1.0 - p
    pq = p * q
    grad = torch.zeros_like(logits)
    if spec.voxel is not None:
        grad = grad + c_voxel * _voxel_grad(spec, target, log_p, log_q, p, q)
    if spec.dice_weight > 0:
        grad = grad + (dice_a - dice_b * target) * pq
    if weight is not None:
        grad = grad * weight
    if spec.mean_weight > 0:
        grad = grad + c_mean * (pq if valid is None else pq * valid)
    return grad


COMPILE_MIN_VOXELS = 1_000_000  # below this a one-time compile (~15 s on a CPU) costs more than it saves
_COMPILED: dict[str, object] = {}


def _kernel(name: str, numel: int) -> object:
    """The eager function, or its torch.compile'd form for large grids (eager again if compiling fails)."""
    eager = forward_sums if name == "forward" else backward_grad
    if numel < COMPILE_MIN_VOXELS or _COMPILED.get("disabled"):
        return eager
    if name not in _COMPILED:
        _COMPILED[name] = torch.compile(eager, dynamic=True)
    return _COMPILED[name]


def _run(name: str, numel: int, *args: object) -> object:
    fn = _kernel(name, numel)
    try:
        return fn(*args)  # type: ignore[operator]
    except Exception as err:  # no C++ compiler, an unsupported backend: the eager path is always correct
        if fn is forward_sums or fn is backward_grad:
            raise
        import warnings

        warnings.warn(f"occkit.losses.fused: torch.compile failed ({type(err).__name__}); using eager kernels",
                      stacklevel=2)
        _COMPILED["disabled"] = True
        return (forward_sums if name == "forward" else backward_grad)(*args)


class FusedOccupancyLoss(torch.autograd.Function):
    """forward(logits, target, weight | None, valid | None, spec, count_h) -> (total, voxel_h, dice, mean, inter_h,
    p_h, t_h). ``weight`` is the per-voxel weight of the voxel and dice terms (mask x height weight), ``valid`` the
    mask of the mean term, ``count_h`` the observed voxels per height. Only ``total`` carries a gradient."""

    @staticmethod
    def forward(ctx, logits, target, weight, valid, spec: FusedSpec, count_h):  # noqa: ANN001, ANN205
        voxel_h, inter_h, p_h, t_h, diff_sum, n = _run("forward", logits.numel(), logits, target, weight, valid, spec)
        zero = logits.new_zeros(())
        count = count_h.sum().clamp_min(1.0)
        total = voxel_h.sum() / count if spec.voxel is not None else zero
        dice = zero
        inter, ps, ts = inter_h.sum(), p_h.sum(), t_h.sum()
        if spec.dice_weight > 0:
            dice = torch.where(ts > 0, 1.0 - (2.0 * inter + spec.dice_smooth) / (ps + ts + spec.dice_smooth), zero)
            total = total + spec.dice_weight * dice
        mean = zero
        n = n.clamp_min(1.0)
        diff = diff_sum / n
        if spec.mean_weight > 0:
            mean = diff * diff
            total = total + spec.mean_weight * mean
        ctx.spec = spec
        ctx.save_for_backward(logits, target, *(x for x in (weight, valid) if x is not None))
        ctx.has = (weight is not None, valid is not None)
        ctx.consts = (count, inter, ps, ts, diff, n)
        return total, voxel_h, dice, mean, inter_h, p_h, t_h

    @staticmethod
    def backward(ctx, g_total, *unused):  # noqa: ANN001, ANN205
        spec: FusedSpec = ctx.spec
        saved = list(ctx.saved_tensors)
        logits, target, rest = saved[0], saved[1], saved[2:]
        weight = rest.pop(0) if ctx.has[0] else None
        valid = rest.pop(0) if ctx.has[1] else None
        count, inter, ps, ts, diff, n = ctx.consts
        zero = logits.new_zeros(())
        c_voxel = g_total / count
        dice_a = dice_b = zero
        if spec.dice_weight > 0 and bool(ts > 0):
            den = ps + ts + spec.dice_smooth
            dice_a = g_total * spec.dice_weight * (2.0 * inter + spec.dice_smooth) / (den * den)
            dice_b = g_total * spec.dice_weight * 2.0 * den / (den * den)
        c_mean = g_total * spec.mean_weight * 2.0 * diff / n
        grad = _run("backward", logits.numel(), logits, target, weight, valid, spec, c_voxel, dice_a, dice_b, c_mean)
        return grad, None, None, None, None, None
