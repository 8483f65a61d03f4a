"""Detection metrics with the anomaly as the positive class, plus S1's normal-positive view.

Threshold-dependent numbers are plain numpy (cheap enough to recompute on every slider move);
ranking metrics (ROC-AUC, PR-AUC) come from scikit-learn and do not depend on the threshold.
"""

from __future__ import annotations

import numpy as np

from .errors import DataError
from .thresholds import apply_threshold


def _labels(y_true, n: int | None = None) -> np.ndarray:
    y = np.asarray(y_true).astype(int).ravel()
    if n is not None and y.size != n:
        raise DataError(f"{y.size} labels for {n} scores.")
    if not np.isin(y, (0, 1)).all():
        raise DataError("Labels must be 0 (normal) or 1 (anomaly).")
    return y


def confusion(y_true, y_pred) -> np.ndarray:
    """``[[tn, fp], [fn, tp]]`` with 1 = anomaly (scikit-learn's layout for labels [0, 1])."""
    y, p = _labels(y_true), _labels(y_pred)
    tp = int(np.sum((y == 1) & (p == 1)))
    fp = int(np.sum((y == 0) & (p == 1)))
    fn = int(np.sum((y == 1) & (p == 0)))
    tn = int(y.size - tp - fp - fn)
    return np.array([[tn, fp], [fn, tp]])


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den else 0.0


def counts_metrics(tn: int, fp: int, fn: int, tp: int) -> dict:
    """Accuracy, precision, recall and F1 (anomaly positive) and the normal-positive view, from counts."""
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    n_precision, n_recall = _ratio(tn, tn + fn), _ratio(tn, tn + fp)
    return {
        "accuracy": _ratio(tp + tn, tp + tn + fp + fn),
        "precision": precision,
        "recall": recall,
        "f1": _ratio(2 * precision * recall, precision + recall),
        "tn": int(tn), "fp": int(fp), "fn": int(fn), "tp": int(tp),
        "n_flagged": int(tp + fp),
        "normal_positive": {
            "precision": n_precision,
            "recall": n_recall,
            "f1": _ratio(2 * n_precision * n_recall, n_precision + n_recall),
        },
    }


def ranking_metrics(y_true, scores) -> dict:
    """ROC-AUC and PR-AUC (average precision) of the scores; ``None`` when only one class is present."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    scores = np.asarray(scores, dtype=float).ravel()
    y = _labels(y_true, scores.size)
    if y.min() == y.max():
        return {"roc_auc": None, "pr_auc": None}
    return {"roc_auc": float(roc_auc_score(y, scores)), "pr_auc": float(average_precision_score(y, scores))}


def classification_metrics(y_true, scores, threshold: float) -> dict:
    """Every metric of a scored, labelled set at ``threshold`` (flag = score > threshold).

    Returns
    -------
    dict
        accuracy, precision, recall, f1, roc_auc, pr_auc, tn, fp, fn, tp, n_flagged, threshold and
        ``normal_positive`` (precision, recall, F1 with normal as the positive class, as S1 reports).
    """
    scores = np.asarray(scores, dtype=float).ravel()
    y = _labels(y_true, scores.size)
    (tn, fp), (fn, tp) = confusion(y, apply_threshold(scores, threshold))
    result = counts_metrics(tn, fp, fn, tp)
    result.update(ranking_metrics(y, scores))
    result["threshold"] = float(threshold)
    return result


def roc_points(y_true, scores):
    """``(fpr, tpr, thresholds)`` of the ROC curve."""
    from sklearn.metrics import roc_curve

    return roc_curve(_labels(y_true), np.asarray(scores, dtype=float))


def pr_points(y_true, scores):
    """``(precision, recall, thresholds)`` of the precision-recall curve."""
    from sklearn.metrics import precision_recall_curve

    return precision_recall_curve(_labels(y_true), np.asarray(scores, dtype=float))


class ThresholdSweep:
    """Confusion counts at any threshold in O(log n), from scores sorted once.

    Used where the threshold moves often (the dashboard's slider): build once per scored set, then
    :meth:`counts` and :meth:`metrics` cost a binary search each.
    """

    def __init__(self, y_true, scores):
        scores = np.asarray(scores, dtype=float).ravel()
        y = _labels(y_true, scores.size)
        order = np.argsort(scores, kind="mergesort")
        self.sorted_scores = scores[order]
        # anomalies among the k lowest scores, for every k
        self._anomalies_below = np.r_[0, np.cumsum(y[order])]
        self.n, self.n_anomalies = scores.size, int(y.sum())

    def counts(self, threshold: float) -> tuple[int, int, int, int]:
        """``(tn, fp, fn, tp)`` when flagging scores strictly above ``threshold``."""
        below = int(np.searchsorted(self.sorted_scores, threshold, side="right"))
        fn = int(self._anomalies_below[below])
        tn = below - fn
        tp = self.n_anomalies - fn
        fp = self.n - below - tp
        return tn, fp, fn, tp

    def metrics(self, threshold: float) -> dict:
        return counts_metrics(*self.counts(threshold))
