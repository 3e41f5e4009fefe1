"""RGB arrays for experiment loggers: what a validation epoch looks like, without writing files."""

from __future__ import annotations

import numpy as np

from occkit.geometry.grid import GridSpec
from occkit.viz._common import figure_to_rgb


def validation_images(pred: object, gt: object | None, spec: GridSpec, mask: object | None = None,
                      threshold: float = 0.5) -> dict[str, np.ndarray]:
    """(H, W, 3) uint8 pictures of one [x, y, z] prediction (probabilities or bool) and its ground truth.

    Keys: ``bev`` always; ``overlay_bev`` and ``per_height_iou`` when ``gt`` is given. For model-layout tensors
    call ``occkit.geometry.channels_to_grid(probs[0])`` first. TensorBoard: ``add_image(k, v, dataformats="HWC")``;
    W&B: ``wandb.Image(v)``.
    """
    from occkit.viz.bev import bev_height_figure
    from occkit.viz.overlay import overlay_bev_figure
    from occkit.viz.per_height import per_height_counts, per_height_iou_figure

    out = {"bev": figure_to_rgb(bev_height_figure(pred, spec, title="prediction", threshold=threshold))}
    if gt is not None:
        out["overlay_bev"] = figure_to_rgb(overlay_bev_figure(pred, gt, spec, mask=mask, threshold=threshold))
        c = per_height_counts(pred, gt, spec, mask=mask, threshold=threshold)
        out["per_height_iou"] = figure_to_rgb(per_height_iou_figure(c["per_height_iou"], spec, c["target_count"],
                                                                    c["pred_count"], c["iou"]))
    return out
