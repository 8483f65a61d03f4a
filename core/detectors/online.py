"""Online detectors: they keep learning while the series arrives.

Each keeps a small state (the recent values, a memory of recent patterns, or a forecaster's
coefficients) that every scored step updates. ``fit`` starts from an empty state and runs the
online rule over the training rows; the training scores are those rows scored by the state they
built (as a batch model scores its own training rows). Afterwards:

- :meth:`score_and_learn` scores the next steps in order and keeps what it learned, so a series
  scored in one call or in consecutive pieces gets the same scores (a stream's checkpoint is this
  state);
- :meth:`score_samples` scores the steps as the continuation of what the model has seen, on a
  copy of the state: the model itself is left as it was.

The state is plain numeric arrays (see ``_STATE``), so it goes into a bundle as arrays.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ..errors import DataError
from .base import BaseDetector, StepContext, check_features

#: sqrt(pi / 2) x mean absolute deviation estimates the same (used when the MAD is 0).
_MEAN_AD_TO_STD = 1.2533
#: Cells of the largest temporary array one vectorised chunk may build.
_CHUNK_CELLS = 4_000_000


class OnlineDetector(BaseDetector):
    """Base class: a state of named arrays, advanced step by step by ``_advance``.

    Subclasses implement ``_initial_state(X)`` (the empty state, sized from the training rows) and
    ``_advance(X, state) -> (per_feature_scores, new_state)``, which must not modify the arrays of
    ``state`` in place (scoring a copy relies on it). The score of a step is the largest of its
    per-feature scores.
    """

    input_kind = "windows"
    min_train_rows = 2
    #: names of the state arrays (stored in bundles as ``detector.state_<name>``)
    _STATE: ClassVar[tuple[str, ...]] = ()

    def step_context(self) -> StepContext:
        # The past a score depends on is carried in the state, so a stream needs no buffer of its own.
        return StepContext(past=0, future=0, adaptive=True)

    # -- the contract ------------------------------------------------------------------------
    def _fit(self, X, y, *, progress, should_stop):
        _, self.state_ = self._advance(X, self._initial_state(X))
        # The training scores are those of the training rows judged by the state they built, as a
        # batch model's are: the scores of the online pass itself start from an empty state, and
        # their first steps (a window of a few values) would make the threshold and a calibration
        # take every later step for calm.
        self._fit_scores = self._advance(X, dict(self.state_))[0].max(axis=1)

    def _training_scores(self, X):
        scores, self._fit_scores = self._fit_scores, None
        return scores

    def _score(self, X):
        return self._advance(X, dict(self.state_))[0].max(axis=1)

    def score_and_learn(self, X) -> np.ndarray:
        """Score the next steps in order and keep learning from them (see the module docstring)."""
        check_is_fitted(self, "threshold_")
        X = check_features(X, n_features=self.n_features_in_)
        per_feature, self.state_ = self._advance(X, self.state_)
        return self._checked_scores(per_feature.max(axis=1), X.shape[0])

    def feature_scores(self, X) -> np.ndarray:
        """Each feature's own score for each step (as a continuation of the state), shape ``(n, d)``."""
        check_is_fitted(self, "threshold_")
        X = check_features(X, n_features=self.n_features_in_)
        return np.maximum(self._advance(X, dict(self.state_))[0], 0.0)

    def _min_score_rows(self) -> int:
        return 1

    def _get_model_state(self) -> dict[str, Any]:
        return {f"state_{name}": np.asarray(self.state_[name], dtype=float) for name in self._STATE}

    def _set_model_state(self, state: dict[str, Any]) -> None:
        loaded = {name: np.asarray(state[f"state_{name}"], dtype=float) for name in self._STATE}
        self._check_state(loaded)
        self.state_ = loaded

    # -- for subclasses ----------------------------------------------------------------------
    def _initial_state(self, X: np.ndarray) -> dict[str, np.ndarray]:  # pragma: no cover
        raise NotImplementedError

    def _advance(self, X: np.ndarray, state: dict) -> tuple[np.ndarray, dict]:  # pragma: no cover
        raise NotImplementedError

    def _check_state(self, state: dict[str, np.ndarray]) -> None:
        """Refuse a loaded state whose shapes do not fit the parameters (a damaged bundle)."""

    def _bad_state(self, what: str) -> None:
        raise DataError(f"The saved state of {type(self).__name__} is inconsistent ({what}).")

    @staticmethod
    def _positive(value, name: str, low: int = 1) -> int:
        value = int(value)
        if value < low:
            raise DataError(f"The parameter '{name}' must be at least {low}, got {value}.")
        return value


def _spread_floor(X: np.ndarray) -> np.ndarray:
    """The smallest spread used per feature: a thousandth of the training rows' spread (or of 1)."""
    std = X.std(axis=0)
    return 1e-3 * np.where(std > 1e-12, std, 1.0)


class SlidingRobustZDetector(OnlineDetector):
    """Robust z-score of each new value against the ``window`` values before it.

    Per feature, the centre is the median and the spread the interquartile range / 1.349 of the
    last ``window`` values (both exact order statistics, kept up to date in O(log window) per
    step; on a mostly flat stretch, where the IQR is 0, the mean absolute deviation from the
    median); the score is ``|x_t - median| / spread``. With ``short_window`` > 1 the mean of the
    last ``short_window`` values (the new one included) is scored too, in standard errors of such
    a mean (``|mean - median| / (spread / sqrt(short_window))``), which finds small level shifts
    that no single value reveals; the step's score is the larger of the two. Median and IQR resist
    the anomalies the window holds, so the window can keep everything it sees.

    Parameters
    ----------
    window : int, default 1000
        Past values the centre and spread are taken from.
    short_window : int, default 3
        Values averaged for the level-shift score (1 = off).
    threshold : see :class:`~core.detectors.base.BaseDetector`; the default flags robust z > 4.
    """

    family = "statistical"
    default_threshold = "fixed:value=4"
    _STATE = ("recent", "floor")
    #: the interquartile range of a normal distribution, in standard deviations
    _IQR_TO_STD = 1.349

    def __init__(self, window: int = 1000, short_window: int = 3, threshold=None):
        self.window = window
        self.short_window = short_window
        self.threshold = threshold

    def _initial_state(self, X):
        return {"recent": np.empty((0, X.shape[1])), "floor": _spread_floor(X)}

    def _advance(self, X, state):
        import pandas as pd

        window = self._positive(self.window, "window", 2)
        short = self._positive(self.short_window, "short_window")
        recent, floor = state["recent"], state["floor"]
        n, d = X.shape
        known = recent.shape[0]
        full = np.vstack([recent, X])
        # statistics of full[max(0, p - window):p] for each step p of X; rolling index p - 1
        rolling = pd.DataFrame(full).rolling(window, min_periods=1)
        rows = slice(known - 1, known - 1 + n) if known else slice(0, n - 1)
        centre = rolling.median().to_numpy()[rows]
        spread = (rolling.quantile(0.75).to_numpy()[rows] - rolling.quantile(0.25).to_numpy()[rows]) / self._IQR_TO_STD
        if not known:  # the very first step has no past: it scores 0
            centre = np.vstack([X[:1], centre])
            spread = np.vstack([np.full((1, d), np.inf), spread])
        flat = ~(spread > floor)
        if flat.any():  # the mean absolute deviation from the median, over those windows only
            for i, j in zip(*np.nonzero(flat)):
                position = known + i
                past = full[max(0, position - window):position, j]
                deviation = _MEAN_AD_TO_STD * np.abs(past - centre[i, j]).mean() if past.size else 0.0
                spread[i, j] = max(deviation, floor[j])
        out = np.abs(X - centre) / spread
        if short > 1:
            padded = np.vstack([np.full((max(0, short - 1 - known), d), np.nan), full[max(0, known - (short - 1)):]])
            windows = np.lib.stride_tricks.sliding_window_view(padded, short, axis=0)  # (n, d, short)
            count = (~np.isnan(windows)).sum(axis=2)
            mean = np.nansum(windows, axis=2) / count
            out = np.maximum(out, np.abs(mean - centre) / spread * np.sqrt(count))
        if not known:
            out[0] = 0.0
        return out, {"recent": full[-window:].copy(), "floor": floor}

    def _check_state(self, state):
        recent = state["recent"]
        if recent.ndim != 2 or recent.shape[1] != self.n_features_in_ or recent.shape[0] > int(self.window):
            self._bad_state("recent values")
        if state["floor"].shape != (self.n_features_in_,) or np.any(state["floor"] <= 0):
            self._bad_state("spread floor")


class SlidingKNNDetector(OnlineDetector):
    """Distance from the recent pattern to its k-th nearest neighbour among the last ``window`` patterns.

    A step's pattern is its value and the ``lags - 1`` values before it (every feature). The
    memory is the patterns of the ``window`` steps before it, so the model refits itself on a
    sliding window of recent data: a new regime scores high until the memory holds it, then
    becomes normal. The memory is kept as the recent rows (an array), never as a search tree.

    Parameters
    ----------
    window : int, default 3000
        Recent patterns kept in memory.
    lags : int, default 1
        Values per feature in a pattern (1 = the row alone; more compare the shape of the latest
        steps, which did worse on NAB: 64.6 with 4 against 67.9 with 1, after the likelihood).
    n_neighbors : int, default 60
        Which neighbour's distance is the score (a wide neighbourhood: a density estimate that
        one earlier outlier does not make normal).
    threshold : see :class:`~core.detectors.base.BaseDetector`; the default is mean + 3·std of the
        training scores.
    """

    family = "classical"
    default_threshold = "mean_std:k=3"
    _STATE = ("rows", "memory")

    def __init__(self, window: int = 3000, lags: int = 1, n_neighbors: int = 60, threshold=None):
        self.window = window
        self.lags = lags
        self.n_neighbors = n_neighbors
        self.threshold = threshold

    def _initial_state(self, X):
        lags = self._positive(self.lags, "lags")
        # the first pattern repeats the first row for the values before the series began
        return {"rows": np.repeat(X[:1], lags - 1, axis=0), "memory": np.zeros(1)}

    def _advance(self, X, state):
        window = self._positive(self.window, "window")
        lags = self._positive(self.lags, "lags")
        k = self._positive(self.n_neighbors, "n_neighbors")
        rows, memory = state["rows"], int(state["memory"][0])
        n, d = X.shape
        full = np.vstack([rows, X])
        patterns = np.lib.stride_tricks.sliding_window_view(full, lags, axis=0).reshape(-1, d * lags)
        # patterns[memory + j] is step j of X; patterns[:memory] the remembered ones
        out = np.zeros((n, 1))
        chunk = max(1, min(512, _CHUNK_CELLS // ((window + 512) * d * lags)))
        for first in range(0, n, chunk):
            last = min(first + chunk, n)
            index = memory + np.arange(first, last)
            low = max(0, index[0] - window)
            candidates = patterns[low:index[-1]]
            diff = patterns[index][:, None, :] - candidates[None, :, :]
            distance = np.sqrt(np.einsum("ijk,ijk->ij", diff, diff))
            position = np.arange(low, index[-1])[None, :]
            valid = (position < index[:, None]) & (position >= index[:, None] - window)
            distance[~valid] = np.inf
            available = valid.sum(axis=1)
            nearest = np.sort(np.partition(distance, min(k, distance.shape[1]) - 1, axis=1)[:, :k], axis=1) \
                if distance.shape[1] else np.zeros((last - first, 0))
            pick = np.minimum(k, available) - 1
            scores = np.zeros(last - first)
            has = pick >= 0
            scores[has] = nearest[np.flatnonzero(has), pick[has]]
            out[first:last, 0] = scores
        kept = min(window, memory + n)
        state = {"rows": full[full.shape[0] - (lags - 1 + kept):].copy(), "memory": np.array([float(kept)])}
        # one pattern per step: every feature's contribution is the same score
        return np.repeat(out, d, axis=1) if d > 1 else out, state

    def _check_state(self, state):
        memory = state["memory"]
        if memory.shape != (1,) or not 0 <= memory[0] <= int(self.window) or memory[0] != int(memory[0]):
            self._bad_state("memory size")
        rows = state["rows"]
        if rows.ndim != 2 or rows.shape != (int(self.lags) - 1 + int(memory[0]), self.n_features_in_):
            self._bad_state("recent rows")

    def feature_scores(self, X) -> np.ndarray:
        """Per feature: the distance of its own part of the pattern to the same neighbours' (the
        squares add up to the squared score)."""
        check_is_fitted(self, "threshold_")
        X = check_features(X, n_features=self.n_features_in_)
        if self.n_features_in_ == 1:
            return self._advance(X, dict(self.state_))[0]
        # a feature alone, scored against its own history, says how unusual it is by itself
        out = np.zeros(X.shape)
        for j in range(self.n_features_in_):
            alone = {"rows": self.state_["rows"][:, [j]], "memory": self.state_["memory"]}
            out[:, j] = self._advance(X[:, [j]], alone)[0][:, 0]
        return out


class OnlineForecastDetector(OnlineDetector):
    """Surprise of each value given the values before it: the error of an online forecast.

    Per feature, an autoregressive model of the last ``lags`` values (and a constant) predicts the
    next value; recursive least squares updates its coefficients after every step, forgetting old
    steps at rate ``1 - forgetting``, so the forecast follows a drifting series. The score is the
    absolute forecast error in units of the recent typical error (an exponential average of
    absolute errors at rate ``error_rate``), so a step is surprising relative to how predictable the
    series has lately been. The family of NAB's contextual detectors (HTM, CAD OSE, ARTime):
    predict from context, score the surprise.

    Parameters
    ----------
    lags : int, default 6
        Past values the forecast uses.
    forgetting : float, default 0.995
        Weight kept by the past at each step (1 = never forget).
    error_rate : float, default 0.02
        Rate of the exponential average of the absolute errors.
    threshold : see :class:`~core.detectors.base.BaseDetector`; the default flags errors above 8
        typical errors.
    """

    family = "statistical"
    default_threshold = "fixed:value=8"
    _STATE = ("coefficients", "covariance", "recent", "typical_error", "floor")
    #: a covariance whose trace grows beyond this (a flat stretch gives the forecast nothing to
    #: learn from, and forgetting then inflates it without bound) is scaled back
    _MAX_TRACE = 1e4

    def __init__(self, lags: int = 6, forgetting: float = 0.995, error_rate: float = 0.02, threshold=None):
        self.lags = lags
        self.forgetting = forgetting
        self.error_rate = error_rate
        self.threshold = threshold

    def _initial_state(self, X):
        lags = self._positive(self.lags, "lags")
        d = X.shape[1]
        floor = _spread_floor(X)
        steps = np.abs(np.diff(X, axis=0)).mean(axis=0) if X.shape[0] > 1 else np.ones(d)
        return {"coefficients": np.zeros((d, lags + 1)),
                "covariance": np.repeat(100.0 * np.eye(lags + 1)[None], d, axis=0),
                "recent": np.repeat(X[:1], lags, axis=0),
                "typical_error": np.maximum(steps, floor), "floor": floor}

    def _advance(self, X, state):
        lags = self._positive(self.lags, "lags")
        forgetting, rate = float(self.forgetting), float(self.error_rate)
        if not (0.5 <= forgetting <= 1.0 and 0.0 < rate < 1.0):
            raise DataError("The forgetting factor must be in [0.5, 1] and the error rate in (0, 1).")
        theta = state["coefficients"].copy()
        P = state["covariance"].copy()
        recent = state["recent"].copy()
        typical = state["typical_error"].copy()
        floor = state["floor"]
        n, d = X.shape
        out = np.zeros((n, d))
        context = np.ones((d, lags + 1))
        for t in range(n):
            context[:, :lags] = recent[::-1].T  # newest first, then the constant
            error = X[t] - np.einsum("ij,ij->i", theta, context)
            out[t] = np.abs(error) / typical
            # recursive least squares with forgetting
            gain_num = np.einsum("ijk,ik->ij", P, context)
            gain = gain_num / (forgetting + np.einsum("ij,ij->i", context, gain_num))[:, None]
            theta += gain * error[:, None]
            P = (P - gain[:, :, None] * gain_num[:, None, :]) / forgetting
            trace = np.trace(P, axis1=1, axis2=2)
            too_big = trace > self._MAX_TRACE
            if too_big.any():
                P[too_big] *= (self._MAX_TRACE / trace[too_big])[:, None, None]
            # one huge error should not make the next ten look ordinary: cap its weight
            typical = np.maximum((1 - rate) * typical + rate * np.minimum(np.abs(error), 10 * typical), floor)
            recent = np.vstack([recent[1:], X[t][None]])
        return out, {"coefficients": theta, "covariance": P, "recent": recent, "typical_error": typical,
                     "floor": floor}

    def _check_state(self, state):
        d, width = self.n_features_in_, int(self.lags) + 1
        shapes = {"coefficients": (d, width), "covariance": (d, width, width), "recent": (width - 1, d),
                  "typical_error": (d,), "floor": (d,)}
        for name, shape in shapes.items():
            if state[name].shape != shape:
                self._bad_state(name)
        if np.any(state["typical_error"] <= 0) or np.any(state["floor"] <= 0):
            self._bad_state("error scale")
