"""Fast time-series baselines that score every time step (no deep learning).

A deep sequence model has to beat these to earn its training time: on point spikes a rolling
median residual is already near perfect, and a PCA of sliding windows captures shape changes that a
per-row method cannot see.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_is_fitted

from ..errors import DataError
from ..windows import sliding_windows
from .base import BaseDetector, WindowReconstructionScores, check_features

#: 1.4826 x MAD estimates the standard deviation of normally distributed values.
_MAD_TO_STD = 1.4826
#: sqrt(pi / 2) x mean absolute deviation estimates the same (fallback when the MAD is 0).
_MEAN_AD_TO_STD = 1.2533


def centred_rolling_median(X: np.ndarray, window: int) -> np.ndarray:
    """Median of the ``window`` steps centred on each step, per column.

    Near the ends the window is cut short (``min_periods=1``), so every step has a median.
    """
    return pd.DataFrame(X).rolling(int(window), center=True, min_periods=1).median().to_numpy()


class RollingMedianDetector(BaseDetector):
    """Robust z-score of each value's distance from the median of its neighbours.

    Per feature, the residual ``|x_t - median(x_{t-w/2} .. x_{t+w/2})|`` is standardised with the
    median and the MAD of the training residuals; the step's score is the largest of these robust
    z-scores over the features. A lone spike does not move a median, so it stands out in full.

    Parameters
    ----------
    window : int, default 25
        Width of the centred rolling window, in time steps.
    threshold : see :class:`~core.detectors.base.BaseDetector`; the default is mean + 3 std of the
        training scores, which follows each series' own residual spread: a fixed robust z > 4.5
        flagged 7% of a smooth series with no anomaly (tests/bench/default_flags.py).
    """

    family = "statistical"
    input_kind = "windows"
    default_threshold = "mean_std:k=3"
    min_train_rows = 3

    def __init__(self, window: int = 25, threshold=None):
        self.window = window
        self.threshold = threshold

    def _check_window(self) -> int:
        window = int(self.window)
        if window < 2:
            raise DataError(f"The rolling window must be at least 2 steps, got {self.window}.")
        return window

    def _residuals(self, X: np.ndarray) -> np.ndarray:
        return np.abs(X - centred_rolling_median(X, self._check_window()))

    def _fit(self, X, y, *, progress, should_stop):
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
        return {"center_": self.center_, "spread_": self.spread_}

    def _set_model_state(self, state):
        self.center_ = np.asarray(state["center_"], dtype=float)
        self.spread_ = np.asarray(state["spread_"], dtype=float)


class WindowedPCADetector(WindowReconstructionScores, BaseDetector):
    """PCA reconstruction of sliding windows, folded back to one error per time step.

    Each window of ``window`` steps (all features) is flattened to one vector and projected on the
    principal components of the training windows. A step's error is the mean squared
    reconstruction error of that step over every window covering it
    (:func:`core.windows.fold_window_errors`), so every step, the first and the last included,
    gets a score.

    Parameters
    ----------
    window : int, default 32
        Length of the sliding windows, in time steps.
    n_components : float, default 0.9
        Components kept: a share of the training variance (< 1) or a count (>= 1).
    threshold : see :class:`~core.detectors.base.BaseDetector`; the default is mean + 3 std of the
        training errors, chosen without labels on NAB and the sine-with-spikes sample.
    """

    family = "classical"
    input_kind = "windows"
    is_reconstruction = True
    default_threshold = "mean_std:k=3"

    def __init__(self, window: int = 32, n_components: float = 0.9, threshold=None):
        self.window = window
        self.n_components = n_components
        self.threshold = threshold

    def _min_rows(self) -> int:
        return max(2, int(self.window))

    def _flat_windows(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        windows, starts = sliding_windows(X, int(self.window), 1)
        return windows.reshape(windows.shape[0], -1), starts

    def _fit(self, X, y, *, progress, should_stop):
        from sklearn.decomposition import PCA

        if int(self.window) < 2:
            raise DataError(f"The window must be at least 2 steps, got {self.window}.")
        flat, _ = self._flat_windows(X)
        if flat.shape[0] < 2:
            raise DataError(f"Training needs at least {int(self.window) + 1} steps for windows of "
                            f"{int(self.window)}; it has {X.shape[0]}.")
        limit = min(flat.shape)
        if self.n_components < 1:
            n = float(self.n_components)
        else:
            n = max(1, min(int(self.n_components), limit))
        self.estimator_ = PCA(n_components=n, svd_solver="full").fit(flat)

    def _window_reconstruction(self, X: np.ndarray):
        flat, starts = self._flat_windows(X)
        rebuilt = self.estimator_.inverse_transform(self.estimator_.transform(flat))
        shape = (flat.shape[0], int(self.window), X.shape[1])
        return flat.reshape(shape), rebuilt.reshape(shape), starts

    def _get_model_state(self):
        return {"estimator_": self.estimator_}

    def _set_model_state(self, state):
        self.estimator_ = state["estimator_"]
