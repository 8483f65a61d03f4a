"""Scoring micro-batches with a trained pipeline, row models and window models alike."""

from __future__ import annotations

import numpy as np

from ..pipeline import DetectionPipeline
from ..thresholds import apply_threshold


class StreamScorer:
    """Scores steps as they arrive, giving each the score that scoring the whole series would.

    Row models score each micro-batch in one call. A window model tells what a step's score
    depends on (:meth:`~core.detectors.base.BaseDetector.step_context`): the ``past`` steps before
    it and the ``future`` steps after it. The scorer keeps the rows still needed and scores every
    step once its ``future`` steps have arrived (a causal model: at once; a centred one: that many
    steps late), from a stretch of the series that holds all it depends on, so a score never
    depends on how the stream was cut into batches. The first ``past`` steps of a stream have no
    score (``NaN``, status "warmup"): some models would need later steps to score them.

    :meth:`push` returns the scores of the steps that became final, oldest first (for a centred
    model fewer than it was given, at first); :meth:`finish` scores the steps still waiting when
    the stream ends, as the end of a series is scored.

    Parameters
    ----------
    pipeline : DetectionPipeline
    """

    def __init__(self, pipeline: DetectionPipeline):
        self.pipeline = pipeline
        self.threshold = float(pipeline.threshold_)
        context = pipeline.step_context()
        self.past, self.future = int(context.past), int(context.future)
        # an adaptive pipeline carries its own past in its state and learns from every row: no buffer
        self.adaptive = bool(pipeline.adaptive)
        self.windowed = not self.adaptive and bool(self.past or self.future)
        self._rows: np.ndarray | None = None  # rows from step self._first on
        self._first = 0  # series index of self._rows[0]
        self._seen = 0  # steps received
        self._done = 0  # steps whose score has been given

    @property
    def waiting(self) -> int:
        """Steps received whose score waits for later steps."""
        return self._seen - self._done

    def push(self, X: np.ndarray) -> np.ndarray:
        """Take the next rows (in arrival order); return the scores of the steps now final."""
        X = np.asarray(X, dtype=float)
        if X.shape[0] == 0:
            return np.empty(0)
        if not self.windowed:
            self._seen += X.shape[0]
            self._done = self._seen
            if self.adaptive:
                return np.asarray(self.pipeline.score_and_learn(X), dtype=float)
            return np.asarray(self.pipeline.score(X), dtype=float)
        self._rows = X.copy() if self._rows is None else np.concatenate([self._rows, X])
        self._seen += X.shape[0]
        return self._score_until(self._seen - self.future)

    def finish(self) -> np.ndarray:
        """Scores of the steps still waiting (the stream ended before their later steps came)."""
        if not self.windowed or self._rows is None:
            return np.empty(0)
        return self._score_until(self._seen)

    def _score_until(self, end: int) -> np.ndarray:
        """Scores of steps ``_done .. end - 1``, then forget the rows no later step needs."""
        start = self._done
        if end <= start:
            return np.empty(0)
        scores = np.full(end - start, np.nan)
        first_scored = max(start, self.past)  # earlier steps are the warm-up
        if first_scored < end:
            segment = self.pipeline.score(self._rows)  # every row the pending steps depend on
            scores[first_scored - start:] = segment[first_scored - self._first:end - self._first]
        self._done = end
        keep_from = max(0, self._done - self.past)
        self._rows = self._rows[keep_from - self._first:]
        self._first = keep_from
        return scores

    def flags(self, scores: np.ndarray) -> np.ndarray:
        return apply_threshold(scores, self.threshold).astype(int)
