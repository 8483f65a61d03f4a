"""Checkpoints of what an adaptive model learned while streaming.

An adaptive detector (``step_context().adaptive``) or a calibration keeps learning from every
record it scores. A stream saves the whole pipeline, its learned state included, as a bundle
after each micro-batch is written to the sinks and before the source acknowledges it; a stream
restarted with the same checkpoint continues from there, so records scored in two runs get the
scores they would have got in one. The checkpoint is an ordinary bundle (arrays and JSON only,
signed like any bundle when a key is configured), checked on load against the model it came from.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import signing
from ..errors import BundleError
from ..pipeline import DetectionPipeline


def default_checkpoint_path(model_path) -> Path:
    """Where a stream keeps the checkpoint of a model by default: beside its bundle."""
    path = Path(model_path)
    return path.with_name(path.name + ".checkpoint")


def same_model(first: DetectionPipeline, second: DetectionPipeline) -> bool:
    """Whether two pipelines are the same trained model (their learned state aside)."""
    return (first.method == second.method and first.params == second.params
            and first.feature_names_ == second.feature_names_
            and first.scaler_.kind == second.scaler_.kind
            and np.array_equal(first.scaler_.center_, second.scaler_.center_)
            and np.array_equal(first.scaler_.scale_, second.scaler_.scale_)
            and np.array_equal(first.profile_mean_, second.profile_mean_)
            and np.array_equal(first.detector_.decision_scores_, second.detector_.decision_scores_)
            and _calibration(first) == _calibration(second))


def _calibration(pipeline: DetectionPipeline):
    calibration = getattr(pipeline, "calibration_", None)
    return None if calibration is None else calibration.to_dict()


def resume(pipeline: DetectionPipeline, path, *, key=signing.FROM_ENVIRONMENT) -> tuple[DetectionPipeline, bool]:
    """The pipeline to stream with: the checkpoint at ``path`` when there is one for this model,
    else ``pipeline``; and whether a checkpoint was used.

    A checkpoint of another model is refused (:class:`BundleError`) rather than silently ignored
    or overwritten.
    """
    path = Path(path)
    if not path.exists():
        return pipeline, False
    saved = DetectionPipeline.load(path, key=key)
    if not same_model(pipeline, saved):
        raise BundleError(f"The checkpoint '{path}' was saved by another model; delete it or choose another "
                          "checkpoint file.")
    saved.threshold_ = pipeline.threshold_  # a threshold set since on the model wins
    saved.threshold_description_ = pipeline.threshold_description_
    return saved, True


def save(pipeline: DetectionPipeline, path, *, key=signing.FROM_ENVIRONMENT) -> None:
    """Write the pipeline's current state to ``path`` (a whole new file, swapped in at once)."""
    pipeline.save(path, key=key)
