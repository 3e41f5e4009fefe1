"""occkit.evaluation: metrics over a split (``evaluate``) and predictions on new inputs (``predict``).

Names load lazily so that importing the package (the CLI does) does not pull in torch.
"""

from __future__ import annotations

from occkit.utils.lazy import lazy_getattr

_LAZY = {
    "evaluate": "occkit.evaluation.split_eval",
    "EvalResult": "occkit.evaluation.split_eval",
    "scene_of": "occkit.evaluation.scenes",
    "predict": "occkit.evaluation.prediction",
    "PredictResult": "occkit.evaluation.prediction",
    "FramePrediction": "occkit.evaluation.prediction",
    "OCCUPIED_LABEL": "occkit.evaluation.prediction",
    "collect_inputs": "occkit.evaluation.inputs",
    "refine_mask": "occkit.evaluation.refine",
    "chamfer_distance": "occkit.evaluation.refine",
    "Chamfer": "occkit.evaluation.refine",
}

__all__ = sorted(_LAZY)


__getattr__ = lazy_getattr(__name__, _LAZY)
