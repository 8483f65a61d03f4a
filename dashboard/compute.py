"""Numbers behind the Results page, computed without Streamlit so they are cheap and testable.

A threshold change must re-render in well under 100 ms at 100k rows, so everything that does not
depend on the threshold (sorted scores, ROC/PR curves, histograms, series decimation buckets) is
computed once per run in :class:`ScoreView`, and the per-threshold work is a binary search plus a
few vectorised comparisons (in :class:`core.run.ScoredPart`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from core.errors import DataError
from core.metrics import pr_points, roc_points
from core.run import ScoredPart
from core.thresholds import PARAMETERS, STRATEGIES

#: Most points a curve or a series trace sends to the browser.
MAX_CURVE_POINTS = 2000
MAX_SERIES_POINTS = 4000
MAX_FLAGGED_POINTS = 20000


def thin_curve(x: np.ndarray, y: np.ndarray, max_points: int = MAX_CURVE_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """Keep at most ``max_points`` evenly spaced points of a monotone curve (ends included)."""
    if x.size <= max_points:
        return x, y
    keep = np.unique(np.linspace(0, x.size - 1, max_points).round().astype(int))
    return x[keep], y[keep]


def minmax_indices(values: np.ndarray, max_points: int = MAX_SERIES_POINTS) -> np.ndarray:
    """Indices that keep the shape of a long series: the first, min, max and last of each bucket.

    Parameters
    ----------
    values : ndarray, shape (n,) or (n, d)
        The series; with several columns the union of every column's extremes is kept.
    max_points : int
        Rough budget of points per column.

    Returns
    -------
    ndarray of int
        Sorted, unique row indices (all rows when ``n <= max_points``).
    """
    values = np.asarray(values, dtype=float)
    if values.ndim == 1:
        values = values[:, None]
    n = values.shape[0]
    if n <= max_points:
        return np.arange(n)
    buckets = max(1, max_points // 4)
    size = int(np.ceil(n / buckets))
    pad = buckets * size - n
    keep = [np.arange(0, n, size), np.r_[np.arange(size - 1, n, size), n - 1]]
    for column in values.T:
        padded = np.r_[column, np.full(pad, np.nan)].reshape(buckets, size)
        filled_low = np.where(np.isnan(padded), np.inf, padded)
        filled_high = np.where(np.isnan(padded), -np.inf, padded)
        base = np.arange(buckets) * size
        keep.append(base + filled_low.argmin(axis=1))
        keep.append(base + filled_high.argmax(axis=1))
    index = np.unique(np.concatenate(keep))
    return index[index < n]


def decimate(values: np.ndarray, keep: np.ndarray | None = None, max_points: int = MAX_SERIES_POINTS) -> np.ndarray:
    """:func:`minmax_indices` plus every index where ``keep`` is true (flagged points are never dropped)."""
    index = minmax_indices(values, max_points)
    if keep is not None:
        extra = np.flatnonzero(keep)
        if extra.size > MAX_FLAGGED_POINTS:  # a threshold near the bottom flags nearly everything
            extra = extra[np.linspace(0, extra.size - 1, MAX_FLAGGED_POINTS).round().astype(int)]
        index = np.union1d(index, extra)
    return index


@dataclass
class Histogram:
    """Counts per class on shared bins (computed once; the threshold is only a line on top)."""

    edges: np.ndarray
    normal: np.ndarray
    anomaly: np.ndarray | None
    log: bool = False  # edges are log10(score): positive scores spanning orders of magnitude

    def position(self, value: float) -> float:
        """Where a score lies on the histogram's axis (log10 of it on a log histogram)."""
        if not self.log:
            return float(value)
        return float(np.log10(value)) if value > 0 else float(self.edges[0])


def histogram(scores: np.ndarray, y: np.ndarray | None, bins: int = 60) -> Histogram:
    """Score histogram per true class on common bins.

    Positive scores whose bulk sits orders of magnitude below the largest ones (reconstruction
    errors, distances) are binned on log10(score), so both classes stay visible.
    """
    scores = np.asarray(scores, dtype=float)
    low, high = float(scores.min()), float(scores.max())
    log = low > 0 and high / max(float(np.median(scores)), 1e-300) > 30
    values = np.log10(scores) if log else scores
    low, high = float(values.min()), float(values.max())
    if high <= low:
        high = low + 1.0
    edges = np.linspace(low, high, bins + 1)
    if y is None:
        return Histogram(edges, np.histogram(values, edges)[0], None, log)
    y = np.asarray(y).astype(bool)
    return Histogram(edges, np.histogram(values[~y], edges)[0], np.histogram(values[y], edges)[0], log)


@dataclass
class ScoreView:
    """Chart data of a run's test part that does not depend on the threshold: curves, histogram, order.

    Build once per run (``ScoreView.build``); the metrics at any threshold come from the run's
    :class:`core.run.ScoredPart` (:meth:`at`), a binary search on scores sorted once.
    """

    part: ScoredPart
    roc: tuple[np.ndarray, np.ndarray] | None
    pr: tuple[np.ndarray, np.ndarray] | None
    hist: Histogram
    low: float
    high: float
    order: np.ndarray = field(repr=False)

    @classmethod
    def build(cls, scores, y=None) -> "ScoreView":
        """From a :class:`~core.run.ScoredPart`, or from scores (and labels) directly."""
        part = scores if isinstance(scores, ScoredPart) else ScoredPart(scores, y)
        roc = pr = None
        if part.labelled and part.ranking["roc_auc"] is not None:
            fpr, tpr, _ = roc_points(part.y, part.scores)
            roc = thin_curve(fpr, tpr)
            precision, recall, _ = pr_points(part.y, part.scores)
            pr = thin_curve(recall[::-1], precision[::-1])
        return cls(part=part, roc=roc, pr=pr, hist=histogram(part.scores, part.y), low=float(part.scores.min()),
                   high=float(part.scores.max()), order=np.argsort(-part.scores, kind="stable"))

    @property
    def scores(self) -> np.ndarray:
        return self.part.scores

    @property
    def y(self) -> np.ndarray | None:
        return self.part.y

    @property
    def ranking(self) -> dict:
        return self.part.ranking

    @property
    def labelled(self) -> bool:
        return self.part.labelled

    def n_flagged(self, threshold: float) -> int:
        return self.part.n_flagged(threshold)

    def at(self, threshold: float) -> dict:
        """Metrics at ``threshold`` (see :meth:`core.run.ScoredPart.at`)."""
        return self.part.at(threshold)

    def slider_range(self) -> tuple[float, float, float]:
        """``(low, high, step)`` for a threshold slider covering every score."""
        span = self.high - self.low
        if span <= 0:
            span = max(abs(self.high), 1.0)
        step = float(10 ** np.floor(np.log10(span / 1000.0)))
        low = float(np.floor(self.low / step) * step)
        high = float(np.ceil(self.high / step) * step)
        if high <= low:
            high = low + step
        return low, high, step


def _choices() -> dict:
    """The strategies the Results page offers, as ``name -> (label, parameter)`` (parameter as in core)."""
    rows = {"mean_std": "Mean + k·std", "percentile": "Percentile", "contamination": "Contamination",
            "best_f1": "Best F1"}
    choices = {"trained": ("As trained", None)}
    for name, label in rows.items():
        where = "training scores" if STRATEGIES[name].fitted_on == "fit" else "validation rows"
        param = PARAMETERS.get(name)
        choices[name] = (f"{label} ({where})",
                         (param.name, param.label, param.default, param.low, param.high, param.step) if param else None)
    choices["manual"] = ("Manual", None)
    return choices


#: Strategies the Results page offers, with the parameter each takes (name, label, default, min, max, step);
#: labels, rows fitted on and defaults all come from core.thresholds.
STRATEGY_CHOICES = _choices()


def strategy_threshold(run, name: str, value: float | None = None) -> float:
    """Where strategy ``name`` (with parameter ``value``) puts the threshold of ``run`` (a ScoredRun).

    ``trained`` and ``manual`` keep the trained value; every other strategy is fitted by the run on
    the rows the strategy declares (:meth:`core.run.ScoredRun.threshold_at`).
    """
    if name in ("trained", "manual"):
        return float(run.threshold)
    if name not in STRATEGY_CHOICES:
        raise DataError(f"Unknown threshold strategy {name!r}.")
    spec = {"strategy": name}
    if name in PARAMETERS and value is not None:
        spec[PARAMETERS[name].name] = float(value)
    return run.threshold_at(spec)
