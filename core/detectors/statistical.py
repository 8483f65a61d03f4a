"""Statistical detectors: z-score and IQR, two-sided, with statistics from normal training data."""

from __future__ import annotations

import numpy as np

from .base import BaseDetector

_COMBINERS = {
    "max": lambda d: d.max(axis=1),
    "mean": lambda d: d.mean(axis=1),
    "l2": lambda d: np.sqrt((d ** 2).sum(axis=1)),
}


class _PerFeatureDetector(BaseDetector):
    """Scores each feature separately (``feature_scores``) and combines them into one score."""

    family = "statistical"

    def _score(self, X):
        return _COMBINERS[self.combine](self._distances(X))

    def feature_scores(self, X):
        return self._distances(self._validated(X))

    def _validated(self, X):
        from .base import check_features

        return check_features(X, n_features=self.n_features_in_)


class ZScoreDetector(_PerFeatureDetector):
    """Two-sided z-score ``|x - center| / spread`` per feature.

    Parameters
    ----------
    robust : bool, default False
        Use the median and the MAD (scaled by 1.4826 to match the std of a normal distribution).
    combine : {"max", "mean", "l2"}, default "max"
        How per-feature scores are combined.
    threshold : see :class:`BaseDetector`; the default flags ``|z| > 3``.
    """

    default_threshold = "fixed:value=3"

    def __init__(self, robust: bool = False, combine: str = "max", threshold=None):
        self.robust = robust
        self.combine = combine
        self.threshold = threshold

    def _fit(self, X, y, *, progress, should_stop):
        if self.robust:
            self.center_ = np.median(X, axis=0)
            spread = 1.4826 * np.median(np.abs(X - self.center_), axis=0)
        else:
            self.center_ = X.mean(axis=0)
            spread = X.std(axis=0)
        # A constant training feature: any change from it is infinitely unusual; use the
        # smallest positive spread instead of dividing by zero.
        self.spread_ = np.where(spread > 1e-12, spread, 1e-12)

    def _distances(self, X):
        return np.abs(X - self.center_) / self.spread_

    def _get_model_state(self):
        return {"center_": self.center_, "spread_": self.spread_}

    def _set_model_state(self, state):
        self.center_ = np.asarray(state["center_"], dtype=float)
        self.spread_ = np.asarray(state["spread_"], dtype=float)


class IQRDetector(_PerFeatureDetector):
    """Distance outside Tukey's fences ``[Q1 - k·IQR, Q3 + k·IQR]``, in IQRs, per feature.

    A value inside the fences scores 0; ``threshold`` defaults to a fixed 0, so a row is flagged
    as soon as one feature leaves its fences (the classic IQR rule).
    """

    default_threshold = "fixed:value=0"

    def __init__(self, k: float = 1.5, combine: str = "max", threshold=None):
        self.k = k
        self.combine = combine
        self.threshold = threshold

    def _fit(self, X, y, *, progress, should_stop):
        q1, q3 = np.percentile(X, [25, 75], axis=0)
        iqr = q3 - q1
        self.lower_ = q1 - self.k * iqr
        self.upper_ = q3 + self.k * iqr
        self.iqr_ = np.where(iqr > 1e-12, iqr, 1e-12)

    def _distances(self, X):
        outside = np.maximum(self.lower_ - X, 0.0) + np.maximum(X - self.upper_, 0.0)
        return outside / self.iqr_

    def _get_model_state(self):
        return {"lower_": self.lower_, "upper_": self.upper_, "iqr_": self.iqr_}

    def _set_model_state(self, state):
        for key in ("lower_", "upper_", "iqr_"):
            setattr(self, key, np.asarray(state[key], dtype=float))
