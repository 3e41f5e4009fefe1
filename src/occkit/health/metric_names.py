"""Other trainers' metric names mapped onto occkit's, so the doctor's checks run on any recorded run.

occkit logs ``train/loss``, ``train/lr``, ``train/grad_norm``, ``pred/mean``, ``val/iou`` … A plain Lightning run,
an mmengine (mmdetection3d) work dir or a hand-written loop logging to W&B spells the same quantities its own way;
the common spellings are listed here once, for every reader (TensorBoard, W&B, mmengine, Lightning's CSV).
"""

from __future__ import annotations

import math

# lower-cased spellings -> occkit's name (a name occkit logs itself always wins over an alias of it)
ALIASES = {
    **dict.fromkeys(("loss", "train_loss", "train_loss_step", "train/loss_step", "train/total_loss", "total_loss",
                     "loss/train"), "train/loss"),
    **dict.fromkeys(("lr", "learning_rate", "train/learning_rate", "train_lr"), "train/lr"),
    **dict.fromkeys(("grad_norm", "grad_2.0_norm_total", "grad_norm_total", "gradient_norm", "train_grad_norm"),
                    "train/grad_norm"),
    **dict.fromkeys(("val_iou", "val/iou", "val_miou", "val/miou", "iou", "miou", "eval_iou", "eval_miou",
                     "eval_mean_iou"), "val/iou"),
    **dict.fromkeys(("val_loss", "val/loss", "loss/val", "eval_loss"), "epoch/val_loss"),
    **dict.fromkeys(("pred_mean", "pred/mean"), "pred/mean"),
    **dict.fromkeys(("pred_max", "pred/max"), "pred/max"),
    **dict.fromkeys(("pred_min", "pred/min"), "pred/min"),
    **dict.fromkeys(("target_rate", "target_occupancy_rate"), "target/occupancy_rate"),
    **dict.fromkeys(("pred_occupancy_rate", "pred_occupied"), "pred/occupancy_rate"),
}
# an evaluator's own prefix ("occ/mIoU", "val/SC_IoU" stays out: that is a completion IoU, not the model's own)
IOU_LEAVES = ("iou", "miou")


def occkit_name(tag: str, tags: list[str] | set[str]) -> str | None:
    """occkit's name for ``tag``: the tag itself when it is no known alias; None when the same log also holds the
    name it maps to (occkit's own wins)."""
    lowered = tag.lower()
    alias = ALIASES.get(lowered)
    if alias is None and lowered.startswith("lr-"):  # Lightning's LearningRateMonitor: lr-AdamW, lr-SGD/pg1
        alias = "train/lr" if "/" not in lowered or lowered.endswith("/pg1") else None
    if alias is None and "/" in lowered and not lowered.startswith("train"):
        alias = "val/iou" if lowered.rsplit("/", 1)[1] in IOU_LEAVES else None
    if alias is None or alias == tag:
        return tag
    return None if alias in tags else alias


def to_occkit_names(series: dict[str, list[tuple[int, float]]]) -> dict[str, list[tuple[int, float]]]:
    """Rename a whole log's series; where two spellings map onto one name the first keeps it. An IoU logged in
    percent (mmdetection3d's occupancy mIoU) is brought to a fraction, as occkit logs it."""
    out: dict[str, list[tuple[int, float]]] = {}
    for tag, pairs in series.items():
        name = occkit_name(tag, series.keys())
        if name is not None and name not in out:
            out[name] = pairs
    ious = out.get("val/iou")
    if ious and max((v for _, v in ious if math.isfinite(v)), default=0.0) > 1.0:
        out["val/iou"] = [(s, v / 100.0) for s, v in ious]
    return out


def drop_restarted_steps(records: list[tuple[int, dict[str, float]]]) -> list[tuple[int, dict[str, float]]]:
    """Log records in file order, with a resumed or restarted run's overlap removed: a step below the last one
    starts a new stretch, and every earlier record from that step on is dropped (a resume rewrites the steps after
    its checkpoint; a restart from step 1 rewrites them all). Records of one step are merged."""
    kept: list[tuple[int, dict[str, float]]] = []
    for step, values in records:
        if kept and step == kept[-1][0]:
            kept[-1] = (step, {**kept[-1][1], **values})
            continue
        if kept and step < kept[-1][0]:
            kept = [r for r in kept if r[0] < step]
        kept.append((step, dict(values)))
    return kept


def records_to_series(records: list[tuple[int, dict[str, float]]]) -> dict[str, list[tuple[int, float]]]:
    """[(step, {name: value})] -> {name: [(step, value)]} in step order."""
    series: dict[str, list[tuple[int, float]]] = {}
    for step, values in records:
        for name, value in values.items():
            series.setdefault(name, []).append((step, value))
    return {k: sorted(v) for k, v in series.items()}
