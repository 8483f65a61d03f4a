"""Scoring micro-batches with a trained pipeline, row models and window models alike."""

from __future__ import annotations

from collections import deque

import numpy as np

from ..pipeline import DetectionPipeline
from ..thresholds import apply_threshold

def window_length(pipeline: DetectionPipeline) -> int | None:
    """Steps of history a window model needs to score a step (None for row models)."""
    spec = pipeline.spec
    if spec.input_kind != "windows":
        return None
    window = pipeline.params.get("window", spec.defaults().get("window"))
    return max(int(window), 2)


class StreamScorer:
    """Scores rows as they arrive.

    Row models score each micro-batch in one call. Window models (``input_kind == "windows"``)
    keep a rolling buffer of the last ``window`` steps and score the newest step from the buffer
    that ends at it, so a step's score never depends on how the stream was cut into batches nor on
    steps that have not arrived yet. The first ``window - 1`` steps have no score (``NaN``;
    status "warmup").

    Parameters
    ----------
    pipeline : DetectionPipeline
    """

    def __init__(self, pipeline: DetectionPipeline):
        self.pipeline = pipeline
        self.threshold = float(pipeline.threshold_)
        self.window = window_length(pipeline)
        self._buffer: deque | None = deque(maxlen=self.window) if self.window else None

    def score(self, X: np.ndarray) -> np.ndarray:
        """One score per row of ``X`` (rows in arrival order); ``NaN`` while a window model warms up."""
        if X.shape[0] == 0:
            return np.empty(0)
        if self._buffer is None:
            return np.asarray(self.pipeline.score(X), dtype=float)
        scores = np.full(X.shape[0], np.nan)
        for i, row in enumerate(X):
            self._buffer.append(row)
            if len(self._buffer) == self.window:
                scores[i] = float(self.pipeline.score(np.asarray(self._buffer))[-1])
        return scores

    def flags(self, scores: np.ndarray) -> np.ndarray:
        return apply_threshold(scores, self.threshold).astype(int)
