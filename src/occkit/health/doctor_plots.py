"""The doctor's plots: loss, prediction mean vs target rate, grad norm vs clip, per-height loss."""

from __future__ import annotations

from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from occkit.health.rundir import RunRecord
from occkit.viz._common import new_figure, save_png


def write_plots(run: RunRecord, out_dir: Path) -> list[Path]:
    """Write whichever plots the run has data for; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    return [save_png(fig, out_dir / f"{name}.png") for name, fig in doctor_figures(run).items()]


def doctor_figures(run: RunRecord) -> dict[str, Figure]:
    """The plots the run has data for, by file stem. Figures on their own canvas (no pyplot): the doctor may run
    inside a user's notebook, whose backend it must not switch."""
    figures = {}
    for name, draw in (("doctor_loss", _loss), ("doctor_pred_vs_target", _pred_vs_target),
                       ("doctor_grad_norm", _grad_norm), ("doctor_height_loss", _height_loss)):
        fig = new_figure(7.7, 4.0)
        ax = fig.add_subplot()
        if draw(run, ax):
            ax.grid(alpha=0.3)
            figures[name] = fig
    return figures


def _loss(run: RunRecord, ax: Axes) -> bool:
    steps, loss = run.series("train/loss")
    if not steps:
        return False
    ax.plot(steps, loss, lw=1, label="train/loss")
    vsteps, vloss = run.series("epoch/val_loss")
    if vsteps:
        ax.plot(vsteps, vloss, "o-", label="epoch/val_loss")
    ax.set(title="Loss", xlabel="step", ylabel="loss")
    ax.legend()
    return True


PREDICTION_CURVES = (("pred/mean", "prediction mean"), ("pred/max", "prediction max"),
                     ("pred/occupancy_rate", "fraction predicted occupied (> 0.5)"),
                     ("target/occupancy_rate", "target occupancy rate"))


def _pred_vs_target(run: RunRecord, ax: Axes) -> bool:
    """Every collapse signal the run logged: the mean against the target rate, and the max against 0.5 (a max
    under it means nothing is predicted occupied, whatever the mean)."""
    if not (run.series("pred/mean")[0] or run.series("pred/max")[0]):
        return False
    for key, label in PREDICTION_CURVES:
        steps, values = run.series(key)
        if steps:
            ax.semilogy(steps, [max(v, 1e-8) for v in values], lw=1, label=label)
    if run.series("pred/max")[0]:
        ax.axhline(0.5, color="grey", ls=":", label="0.5: above it a voxel is predicted occupied")
    ax.set_ylim(top=1.5)
    ax.set(xlabel="step", ylabel="fraction or probability (log)")
    ax.set_title("Prediction vs target: collapse = max under 0.5, or mean far below the target rate", fontsize=9)
    ax.legend(fontsize=7, loc="center right")  # the band between the rates and the max is empty
    return True


def _grad_norm(run: RunRecord, ax: Axes) -> bool:
    steps, norms = run.series("train/grad_norm")
    if not steps:
        return False
    ax.semilogy(steps, [max(n, 1e-12) for n in norms], lw=1, label="pre-clip gradient norm")
    max_norm = run.config_value("optim.grad_clip")
    if max_norm:
        ax.axhline(float(max_norm), color="red", ls="--", label=f"clip max_norm = {max_norm}")
    ax.set(title="Gradient norm vs clipping threshold", xlabel="step", ylabel="norm (log)")
    ax.legend()
    return True


def _height_loss(run: RunRecord, ax: Axes) -> bool:
    rows = [h for h in run.health if h.get("per_height_loss")]
    if not rows:
        return False
    last = rows[-1]["per_height_loss"]
    ax.bar(range(len(last)), last, color="tab:purple")
    ax.set(title=f"Loss per height level (step {rows[-1].get('step')})", xlabel="height level (z index)",
           ylabel="mean loss")
    return True
