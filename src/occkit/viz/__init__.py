"""occkit.viz: BEV / height-slice pictures, TP/FP/FN overlays, per-height IoU plots, 3D HTML view.

Every picture function takes [x, y, z] grids (numpy or torch; bool, 0/1 integers or probabilities) and a GridSpec,
and returns a matplotlib Figure; ``save_png`` writes it and ``figure_to_rgb`` gives an (H, W, 3) uint8 array for
TensorBoard / W&B. Names load lazily so importing occkit.viz costs nothing until a picture is drawn.
"""

from __future__ import annotations

from occkit.utils.lazy import lazy_getattr

_EXPORTS = {
    "bev_height_figure": "occkit.viz.bev",
    "height_slices_figure": "occkit.viz.bev",
    "top_height": "occkit.viz.bev",
    "overlay_bev_figure": "occkit.viz.overlay",
    "overlay_slices_figure": "occkit.viz.overlay",
    "confusion_grids": "occkit.viz.overlay",
    "per_height_counts": "occkit.viz.per_height",
    "per_height_iou_figure": "occkit.viz.per_height",
    "grid_html_figure": "occkit.viz.html",
    "write_grid_html": "occkit.viz.html",
    "figure_to_rgb": "occkit.viz._common",
    "save_png": "occkit.viz._common",
    "validation_images": "occkit.viz.images",
    "write_pictures": "occkit.viz.pictures",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_getattr(__name__, _EXPORTS)
