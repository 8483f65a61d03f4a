"""Fast time-series baselines that score every time step (no deep learning).

A deep sequence model has to beat these to earn its training time: on point spikes a rolling
median residual is already near perfect, and a PCA of sliding windows captures shape changes that a
per-row method cannot see.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_is_fitted

from ..windows import CENTRED, sliding_windows
from .base import BaseDetector, StepContext, WindowedSeries, WindowReconstructionScores, check_features

#: 1.4826 x MAD estimates the standard deviation of normally distributed values.
_MAD_TO_STD = 1.4826
#: sqrt(pi / 2) x mean absolute deviation estimates the same (fallback when the MAD is 0).
_MEAN_AD_TO_STD = 1.2533


def rolling_median(X: np.ndarray, window: int, *, centred: bool) -> np.ndarray:
    """Median of ``window`` steps per column: centred on each step, or the ones ending at it.

    Centred, pandas puts ``window // 2`` steps before a step and ``(window - 1) // 2`` after it,
    and the window is cut short at both ends of the series (``min_periods=1``). Causal, the first
    ``window - 1`` steps, which no full window ends at, take the median of the first window (a
    median of one or two values would hide a spike at the very start; a stream leaves those steps
    as warm-up).
    """
    frame = pd.DataFrame(X)
    if centred:
        return frame.rolling(int(window), center=True, min_periods=1).median().to_numpy()
    medians = frame.rolling(int(window), min_periods=min(int(window), len(frame))).median().to_numpy(copy=True)
    head = min(int(window), len(frame)) - 1
    medians[:head] = np.median(np.asarray(X, dtype=float)[: head + 1], axis=0)
    return medians


class RollingMedianDetector(WindowedSeries, BaseDetector):
    """Robust z-score of each value's distance from the median of its neighbours.

    Per feature, the residual ``|x_t - median(window)|`` is standardised with the median and the
    MAD of the training residuals; the step's score is the largest of these robust z-scores over
    the features. A lone spike does not move a median, so it stands out in full. The window is the
    ``window`` steps ending at ``t`` (causal) or centred on it (centred).

    Parameters
    ----------
    window : int, default 0
        Width of the rolling window, in time steps; 0 = a quarter of the series' dominant period
        (25 steps when it has none).
    context : {"causal", "centred"}, default "causal"
        Median of the steps up to this one, or of the steps on both sides.
    threshold : see :class:`~core.detectors.base.BaseDetector`; the default is mean + 3 std of the
        training scores, which follows each series' own residual spread: a fixed robust z > 4.5
        flagged 7% of a smooth series with no anomaly (tests/bench/default_flags.py).
    """

    family = "statistical"
    input_kind = "windows"
    default_threshold = "mean_std:k=3"
    min_train_rows = 3
    state_fields = {"window_": "count", "window_note_": "text"}
    fallback_window = 25
    smallest_window = 3
    auto_window_bounds = (5, 101)
    auto_window_share = 0.25  # a median over a quarter period keeps the seasonal shape, removes spikes

    def __init__(self, window: int = 0, context: str = "causal", threshold=None):
        self.window = window
        self.context = context
        self.threshold = threshold

    def step_context(self) -> StepContext:
        window = self._window()
        if self.context == CENTRED:
            return StepContext(past=window // 2, future=(window - 1) // 2)
        return StepContext(past=window - 1, future=0)

    def _residuals(self, X: np.ndarray) -> np.ndarray:
        return np.abs(X - rolling_median(X, self._window(), centred=self.context == CENTRED))

    def _fit(self, X, y, *, progress, should_stop):
        self._resolve_window(X)
        residuals = self._residuals(X)
        center = np.median(residuals, axis=0)
        spread = _MAD_TO_STD * np.median(np.abs(residuals - center), axis=0)
        # A mostly flat series has MAD 0: fall back to the mean deviation, then to the data's units.
        fallback = _MEAN_AD_TO_STD * np.mean(np.abs(residuals - center), axis=0)
        spread = np.where(spread > 1e-12, spread, fallback)
        self.center_ = center
        self.spread_ = np.where(spread > 1e-12, spread, 1.0)

    def _robust_z(self, X: np.ndarray) -> np.ndarray:
        return (self._residuals(X) - self.center_) / self.spread_

    def _score(self, X):
        return self._robust_z(X).max(axis=1)

    def feature_scores(self, X):
        check_is_fitted(self, "threshold_")
        X = check_features(X, n_features=self.n_features_in_, min_rows=1)
        return np.maximum(self._robust_z(X), 0.0)

    def _get_model_state(self):
        return {"center_": self.center_, "spread_": self.spread_, **self._window_state()}

    def _set_model_state(self, state):
        self.center_ = np.asarray(state["center_"], dtype=float)
        self.spread_ = np.asarray(state["spread_"], dtype=float)
        self._set_window_state(state)


class WindowedPCADetector(WindowReconstructionScores, BaseDetector):
    """PCA reconstruction of sliding windows, folded back to one error per time step.

    Each window of ``window`` steps (all features) is flattened to one vector and projected on the
    principal components of the training windows. A step's error is its squared reconstruction
    error in the window that ends at it (causal), or averaged over every window covering it
    (centred, :func:`core.windows.fold_window_errors`), so every step gets a score.

    Parameters
    ----------
    window : int, default 0
        Length of the sliding windows, in time steps; 0 = the series' dominant period (32 when it
        has none).
    context : {"causal", "centred"}, default "causal"
        Score each step from the window ending at it, or from every window around it.
    n_components : float, default 0.9
        Components kept: a share of the training variance (< 1) or a count (>= 1).
    threshold : see :class:`~core.detectors.base.BaseDetector`; the default is mean + 3 std of the
        training errors, chosen without labels on NAB and the sine-with-spikes sample.
    """

    family = "classical"
    input_kind = "windows"
    is_reconstruction = True
    default_threshold = "mean_std:k=3"
    state_fields = {"window_": "count", "window_note_": "text"}
    fallback_window = 32

    def __init__(self, window: int = 0, context: str = "causal", n_components: float = 0.9, threshold=None):
        self.window = window
        self.context = context
        self.n_components = n_components
        self.threshold = threshold

    def _flat_windows(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        windows, starts = sliding_windows(X, self._window(), 1)
        return windows.reshape(windows.shape[0], -1), starts

    def _fit(self, X, y, *, progress, should_stop):
        from sklearn.decomposition import PCA

        self._resolve_window(X)
        flat, _ = self._flat_windows(X)
        limit = min(flat.shape)
        if self.n_components < 1:
            n = float(self.n_components)
        else:
            n = max(1, min(int(self.n_components), limit))
        self.estimator_ = PCA(n_components=n, svd_solver="full").fit(flat)

    def _window_reconstruction(self, X: np.ndarray):
        flat, starts = self._flat_windows(X)
        rebuilt = self.estimator_.inverse_transform(self.estimator_.transform(flat))
        shape = (flat.shape[0], self._window(), X.shape[1])
        return flat.reshape(shape), rebuilt.reshape(shape), starts

    def _get_model_state(self):
        return {"estimator_": self.estimator_, **self._window_state()}

    def _set_model_state(self, state):
        self.estimator_ = state["estimator_"]
        self._set_window_state(state)
