"""Numbers behind the Results page, computed without Streamlit so they are cheap and testable.

A threshold change must re-render in well under 100 ms at 100k rows, so everything that does not
depend on the threshold (sorted scores, ROC/PR curves, histograms, series decimation buckets) is
computed once per result in :class:`ScoreView`, and the per-threshold work is a binary search plus
a few vectorised comparisons.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from core.errors import DataError
from core.metrics import ThresholdSweep, counts_metrics, pr_points, ranking_metrics, roc_points
from core.thresholds import make_threshold

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
    """Everything threshold-independent about a scored, optionally labelled set of rows.

    Build once per experiment result (``ScoreView.build``); then :meth:`at` gives the metrics at any
    threshold in O(log n).
    """

    scores: np.ndarray
    y: np.ndarray | None
    sweep: ThresholdSweep | None
    ranking: dict
    roc: tuple[np.ndarray, np.ndarray] | None
    pr: tuple[np.ndarray, np.ndarray] | None
    hist: Histogram
    low: float
    high: float
    order: np.ndarray = field(repr=False)

    @classmethod
    def build(cls, scores, y=None) -> "ScoreView":
        scores = np.asarray(scores, dtype=float).ravel()
        if scores.size == 0:
            raise DataError("There are no scored rows to show (the test part is empty).")
        if not np.all(np.isfinite(scores)):
            raise DataError("Some scores are NaN or infinite; the model produced invalid output.")
        labelled = y is not None and np.asarray(y).size == scores.size
        y = np.asarray(y).astype(int).ravel() if labelled else None
        sweep, ranking, roc, pr = None, {"roc_auc": None, "pr_auc": None}, None, None
        if y is not None:
            sweep = ThresholdSweep(y, scores)
            ranking = ranking_metrics(y, scores)
            if ranking["roc_auc"] is not None:
                fpr, tpr, _ = roc_points(y, scores)
                roc = thin_curve(fpr, tpr)
                precision, recall, _ = pr_points(y, scores)
                pr = thin_curve(recall[::-1], precision[::-1])
        return cls(scores=scores, y=y, sweep=sweep, ranking=ranking, roc=roc, pr=pr,
                   hist=histogram(scores, y), low=float(scores.min()), high=float(scores.max()),
                   order=np.argsort(-scores, kind="stable"))

    @property
    def labelled(self) -> bool:
        return self.y is not None

    def n_flagged(self, threshold: float) -> int:
        if self.sweep is not None:
            return int(self.sweep.n - np.searchsorted(self.sweep.sorted_scores, threshold, side="right"))
        return int(np.count_nonzero(self.scores > threshold))

    def at(self, threshold: float) -> dict:
        """Metrics at ``threshold`` (flag = score > threshold): counts, rates and the ranking AUCs."""
        if self.sweep is None:
            n_flagged = self.n_flagged(threshold)
            return {"n_flagged": n_flagged, "n": int(self.scores.size), "threshold": float(threshold)}
        tn, fp, fn, tp = self.sweep.counts(threshold)
        result = counts_metrics(tn, fp, fn, tp)
        n = tn + fp + fn + tp
        result.update(self.ranking, threshold=float(threshold), n=int(n),
                      fpr=float(fp / (fp + tn)) if fp + tn else 0.0)
        return result

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


#: Strategies the Results page offers, with the parameter each takes (name, label, default, min, max, step).
STRATEGY_CHOICES = {
    "trained": ("As trained", None),
    "mean_std": ("Mean + k·std (training scores)", ("k", "k", 3.0, 0.0, 20.0, 0.5)),
    "percentile": ("Percentile (training scores)", ("q", "Percentile", 99.0, 50.0, 100.0, 0.1)),
    "contamination": ("Contamination (share of test rows flagged)", ("fraction", "Share flagged", 0.05, 0.001, 0.5, 0.005)),
    "best_f1": ("Best F1 (labelled training part)", None),
    "manual": ("Manual", None),
}


def strategy_threshold(name: str, value: float | None, *, train_scores, test_scores,
                       train_labelled_scores=None, train_labels=None, trained: float) -> float:
    """Where strategy ``name`` (with parameter ``value``) puts the threshold.

    Statistics strategies fit on the normal training scores (no test data leaks into the choice),
    contamination on the test scores (it is an expected anomaly rate among the rows being scored),
    best F1 on the labelled training part.
    """
    if name in ("trained", "manual"):
        return float(trained)
    if name == "mean_std":
        return float(make_threshold({"strategy": "mean_std", "k": value}).fit(train_scores).threshold_)
    if name == "percentile":
        return float(make_threshold({"strategy": "percentile", "q": value}).fit(train_scores).threshold_)
    if name == "contamination":
        return float(make_threshold({"strategy": "contamination", "fraction": value}).fit(test_scores).threshold_)
    if name == "best_f1":
        if train_labels is None:
            raise DataError("Best F1 needs a label column.")
        return float(make_threshold("best_f1").fit(train_labelled_scores, train_labels).threshold_)
    raise DataError(f"Unknown threshold strategy {name!r}.")


def all_strategy_thresholds(result, test_scores, params: dict | None = None) -> dict[str, float]:
    """Every strategy's threshold for an experiment result (strategies that cannot apply are left out)."""
    params = params or {}
    train_scores = result.scores[result.fit_mask]
    labels = result.y[result.train_mask] if result.y is not None else None
    out = {}
    for name, (_, param) in STRATEGY_CHOICES.items():
        if name == "manual":
            continue
        value = params.get(name, param[2] if param else None)
        try:
            out[name] = strategy_threshold(name, value, train_scores=train_scores, test_scores=test_scores,
                                           train_labelled_scores=result.scores[result.train_mask],
                                           train_labels=labels, trained=result.threshold)
        except DataError:
            continue
    return out
