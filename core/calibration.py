"""Calibration of raw anomaly scores, kept apart from the models (a model scores, a calibration rescales).

A calibration is fitted once on the training scores of a detector and then applied in one place,
the pipeline (:class:`~core.pipeline.DetectionPipeline`), after whichever method made the scores.

:class:`AnomalyLikelihood` is the anomaly likelihood of Numenta's HTM detectors (Ahmad et al.,
"Unsupervised real-time anomaly detection for streaming data", Neurocomputing 2017), written from
its published description: it asks how unlikely the average of the latest few raw scores is under
a normal distribution fitted to the averages of a longer recent history of raw scores. A detector
whose raw scores are always noisy (a hard series) thus needs a bigger excursion than one whose
raw scores are always calm, and a step is judged against the scores the series itself produced
lately. Like an adaptive detector, it keeps learning from every score it sees, and its state is
plain arrays and numbers (saved in bundles and stream checkpoints).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.special import erfc

from .errors import DataError

#: The log scale's end: a likelihood of 1 - 1e-10 scores 1.0.
_LOG_FLOOR = math.log(1e-10)


class AnomalyLikelihood:
    """How unlikely the recent raw scores are, given the raw scores before them.

    For each new raw score ``s_t``:

    1. ``a_t`` = mean of the last ``averaging_window`` raw scores (``s_t`` included);
    2. the distribution of such averages is a normal ``N(mu, sigma)`` estimated from the averages of
       the last ``history_window`` raw scores, re-estimated every ``reestimation_period`` steps;
       ``sigma`` is at least ``min_spread`` x the typical size of the scores (their mean absolute
       value), so that a series of perfectly calm scores does not turn the slightest blip into a
       certainty;
    3. the likelihood is ``1 - Q((a_t - mu) / sigma)`` (``Q`` the normal tail probability; scores
       below ``mu`` are not anomalous, this side only);
    4. as in Numenta's filter, a likelihood above 1 - 1e-5 right after another one is lowered to
       1 - 1e-3, so that one excursion gives one alarm rather than a run of them;
    5. the calibrated score is on Numenta's log scale, ``log(1 - likelihood) / log(1e-10)``, in
       [0, 1]: 0.3 means about one in 1,000, 0.5 one in 100,000;
    6. given the values that were scored too (the pipeline passes them), a value beyond the range
       of every value seen so far (the training rows included) by more than ``range_tolerance`` of
       that range scores 1, as Numenta's NAB detector does with its "spatial anomalies": whatever
       the raw score, a value never seen before is news.

    Parameters
    ----------
    averaging_window : int, default 40
        Raw scores averaged into the short-term score (Numenta uses 10 on HTM's scores, which are
        0 when all is predicted; the product's raw scores are never 0, and on NAB 40 did best).
    history_window : int, default 4000
        Raw scores kept to estimate the distribution (Numenta: 8640, a month of 5-minute steps;
        4000, two weeks, did better on NAB).
    reestimation_period : int, default 100
        Steps between re-estimates of the distribution.
    min_spread : float, default 0.1
        Smallest ``sigma``, as a share of the mean absolute raw score of the history.
    threshold : float, default 0.5
        Calibrated score above which a step is flagged (0.5: a likelihood of about 1 - 1e-5).
    range_tolerance : float, default 0.03
        Share of the range of the values seen so far that a new value must exceed it by to score 1
        (0 = off).
    """

    name = "likelihood"
    #: plain values of the state besides its arrays, by name and kind (as ``BaseDetector.state_fields``)
    state_fields = {"mean_": "number", "spread_": "number", "since_estimate_": "count0"}
    params = ("averaging_window", "history_window", "reestimation_period", "min_spread", "threshold",
              "range_tolerance")

    def __init__(self, averaging_window: int = 40, history_window: int = 4000, reestimation_period: int = 100,
                 min_spread: float = 0.1, threshold: float = 0.5, range_tolerance: float = 0.03):
        self.averaging_window = averaging_window
        self.history_window = history_window
        self.reestimation_period = reestimation_period
        self.min_spread = min_spread
        self.threshold = threshold
        self.range_tolerance = range_tolerance

    # -- configuration -----------------------------------------------------------------------
    def get_params(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.params}

    def to_dict(self) -> dict[str, Any]:
        return {"calibration": self.name, **self.get_params()}

    def _checked(self) -> tuple[int, int, int, float]:
        averaging, history = int(self.averaging_window), int(self.history_window)
        period, spread = int(self.reestimation_period), float(self.min_spread)
        if not (1 <= averaging <= history <= 1_000_000 and 1 <= period <= 1_000_000):
            raise DataError("The likelihood needs 1 <= averaging window <= history window <= 1,000,000 and a "
                            "re-estimation period of at least 1 step.")
        if not (0.0 < spread <= 100.0 and 0.0 <= float(self.threshold) <= 1.0
                and 0.0 <= float(self.range_tolerance) <= 100.0):
            raise DataError("The likelihood's smallest spread must be in (0, 100], its threshold in [0, 1] and its "
                            "range tolerance in [0, 100].")
        return averaging, history, period, spread

    def describe(self) -> str:
        return (f"anomaly likelihood (mean of the last {int(self.averaging_window)} scores against the last "
                f"{int(self.history_window)}), log scale; flagged above {float(self.threshold):g}")

    # -- fitting and applying ----------------------------------------------------------------
    def fit(self, scores, X=None) -> "AnomalyLikelihood":
        """Start from the training scores of a detector (the history the first steps are judged by)
        and, optionally, the training rows they scored (the range of values seen so far)."""
        averaging, history, _, _ = self._checked()
        values = _finite(scores)
        self.history_ = values[-history:].copy()
        self.last_likelihood_ = 0.5
        rows = _rows(X, values.size)
        self.low_ = rows.min(axis=0) if rows is not None else np.empty(0)
        self.high_ = rows.max(axis=0) if rows is not None else np.empty(0)
        self._estimate()
        return self

    def transform(self, scores, X=None) -> np.ndarray:
        """Calibrated scores of the next raw scores (of the rows ``X``), as a continuation; the state
        is left as it was."""
        return self._run(_finite(scores), _rows(X, np.size(scores)), learn=False)

    def transform_and_learn(self, scores, X=None) -> np.ndarray:
        """Calibrated scores of the next raw scores, keeping them in the history (a stream's way)."""
        return self._run(_finite(scores), _rows(X, np.size(scores)), learn=True)

    def _run(self, values: np.ndarray, rows: np.ndarray | None, *, learn: bool) -> np.ndarray:
        if not hasattr(self, "history_"):
            raise DataError("The likelihood calibration is not fitted yet.")
        averaging, history_size, period, _ = self._checked()
        keep = (self.history_, self.mean_, self.spread_, self.since_estimate_, self.last_likelihood_,
                self.low_, self.high_)
        out = np.empty(values.size)
        history = self.history_
        # The averages of each step: the last `averaging` raw scores, those before this call included.
        # Each average is summed over its own window (never from running sums), so that it does
        # not depend on where a stream was cut into pieces.
        before = history[-(averaging - 1):] if averaging > 1 else history[:0]
        width = min(averaging, before.size + 1)
        joined = np.concatenate([np.full(averaging - width, np.nan), before, values])
        windows = np.lib.stride_tricks.sliding_window_view(joined, averaging)[-values.size:] if values.size else None
        done = 0
        while done < values.size:
            # score up to the next re-estimate with one distribution, all at once
            upto = min(values.size, done + period - self.since_estimate_)
            averages = np.nanmean(windows[done:upto], axis=1)
            tail = 0.5 * erfc((averages - self.mean_) / (self.spread_ * math.sqrt(2.0)))
            likelihood = np.where(averages > self.mean_, 1.0 - tail, 0.5)
            for i, value in enumerate(likelihood):  # Numenta's filter: one alarm per excursion
                if value > 1 - 1e-5 and self.last_likelihood_ > 1 - 1e-5:
                    likelihood[i] = 1 - 1e-3
                self.last_likelihood_ = value
            out[done:upto] = np.log(np.clip(1.0 + 1e-10 - likelihood, 1e-10, 1.0)) / _LOG_FLOOR
            self.history_ = np.concatenate([self.history_, values[done:upto]])[-history_size:]
            self.since_estimate_ += upto - done
            done = upto
            if self.since_estimate_ >= period:
                self._estimate()
        out = np.clip(out, 0.0, 1.0)
        if rows is not None and self.low_.size == rows.shape[1] and float(self.range_tolerance) > 0:
            out[self._beyond_range(rows)] = 1.0
        if not learn:
            (self.history_, self.mean_, self.spread_, self.since_estimate_, self.last_likelihood_,
             self.low_, self.high_) = keep
        return out

    def _beyond_range(self, rows: np.ndarray) -> np.ndarray:
        """Rows with a value beyond the range of the values before it by more than the tolerance;
        the range then takes the row in."""
        tolerance = float(self.range_tolerance)
        # the range before each row: running extremes of the rows, starting from the known ones
        low = np.minimum.accumulate(np.vstack([self.low_[None], rows]), axis=0)
        high = np.maximum.accumulate(np.vstack([self.high_[None], rows]), axis=0)
        margin = tolerance * (high[:-1] - low[:-1])
        beyond = ((rows > high[:-1] + margin) | (rows < low[:-1] - margin)) & (margin > 0)
        self.low_, self.high_ = low[-1], high[-1]
        return beyond.any(axis=1)

    def _estimate(self) -> None:
        averaging, _, _, min_spread = self._checked()
        history = self.history_
        if history.size >= averaging:
            cumulative = np.concatenate([[0.0], np.cumsum(history)])
            averages = (cumulative[averaging:] - cumulative[:-averaging]) / averaging
        else:
            averages = np.array([history.mean()])
        typical = float(np.mean(np.abs(history)))
        floor = min_spread * typical if typical > 1e-12 else min_spread
        self.mean_ = float(averages.mean())
        self.spread_ = max(float(averages.std()), floor, 1e-12)
        self.since_estimate_ = 0

    # -- state (bundles and stream checkpoints) ----------------------------------------------
    def get_state(self) -> dict[str, Any]:
        return {"history_": self.history_.copy(), "last_likelihood_": np.array([self.last_likelihood_]),
                "low_": self.low_.copy(), "high_": self.high_.copy(),
                "mean_": self.mean_, "spread_": self.spread_, "since_estimate_": int(self.since_estimate_)}

    def set_state(self, state: dict[str, Any]) -> "AnomalyLikelihood":
        averaging, history, period, _ = self._checked()
        values = np.asarray(state["history_"], dtype=float)
        last = np.asarray(state["last_likelihood_"], dtype=float)
        since = state["since_estimate_"]
        if (values.ndim != 1 or not 1 <= values.size <= history or last.shape != (1,)
                or not isinstance(since, int) or not 0 <= since < period
                or not float(state["spread_"]) > 0):
            raise DataError("The saved state of the likelihood calibration is inconsistent.")
        low, high = np.asarray(state["low_"], dtype=float), np.asarray(state["high_"], dtype=float)
        if low.ndim != 1 or low.shape != high.shape or np.any(low > high):
            raise DataError("The saved range of the likelihood calibration is inconsistent.")
        self.history_ = values
        self.low_, self.high_ = low, high
        self.last_likelihood_ = float(last[0])
        self.mean_, self.spread_, self.since_estimate_ = float(state["mean_"]), float(state["spread_"]), since
        return self


def _rows(X, n: int) -> np.ndarray | None:
    """The scored rows as a finite 2-D array (one per score), or None when they are not given."""
    if X is None:
        return None
    rows = np.asarray(X, dtype=float)
    rows = rows.reshape(-1, 1) if rows.ndim == 1 else rows
    if rows.ndim != 2 or rows.shape[0] != n or not np.all(np.isfinite(rows)):
        raise DataError("The rows given to the calibration must be finite, one per score.")
    return rows


def _finite(scores) -> np.ndarray:
    values = np.asarray(scores, dtype=float).ravel()
    if not np.all(np.isfinite(values)):
        raise DataError("Scores contain NaN or infinite values; they cannot be calibrated.")
    return values


#: Calibrations by name (``"none"``: the raw scores are used as they are).
CALIBRATIONS = {"likelihood": AnomalyLikelihood}


def make_calibration(spec) -> AnomalyLikelihood | None:
    """A calibration from ``None``/``"none"``, a name, ``"likelihood:averaging_window=5"``, a dict
    (``{"calibration": "likelihood", ...}``, as :meth:`AnomalyLikelihood.to_dict` writes) or an object."""
    if spec is None or spec == "none":
        return None
    if isinstance(spec, AnomalyLikelihood):
        return spec
    if isinstance(spec, str):
        name, _, rest = spec.partition(":")
        params = {}
        for pair in filter(None, rest.split(",")):
            key, _, value = pair.partition("=")
            params[key.strip()] = value.strip()
    elif isinstance(spec, dict):
        params = dict(spec)
        name = params.pop("calibration", None)
    else:
        raise DataError(f"Unknown calibration {spec!r}.")
    if name not in CALIBRATIONS:
        raise DataError(f"Unknown calibration {name!r}; choose none or {', '.join(CALIBRATIONS)}.")
    cls = CALIBRATIONS[name]
    unknown = set(params) - set(cls.params)
    if unknown:
        raise DataError(f"The {name} calibration has no parameter {', '.join(sorted(unknown))}.")
    try:
        typed = {key: (float(value) if key in ("min_spread", "threshold", "range_tolerance") else int(float(value)))
                 for key, value in params.items()}
    except (TypeError, ValueError) as exc:
        raise DataError(f"The {name} calibration's parameters must be numbers: {exc}") from exc
    calibration = cls(**typed)
    calibration._checked()
    return calibration
