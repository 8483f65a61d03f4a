"""Metrics for labelled time series (anomaly = positive class).

Point-wise scores treat every time step as an independent sample, which misjudges detectors on
series: one labelled anomaly often spans hundreds of steps, and a detector that raises one alarm
inside it has done its job. So this module also measures by event (range), the optimistic
point-adjusted protocol (with a warning attached), and VUS-PR, a threshold-free measure that
tolerates small misalignments between labels and detections (Paparrizos et al., "Volume Under the
Surface: a new accuracy evaluation measure for time-series anomaly detection", PVLDB 15(11), 2022).

Where a ratio has a zero denominator (no flagged step, say) it is 0, as in scikit-learn's
``zero_division=0``, never NaN.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import DataError
from .events import _binary, _steps, find_events, runs
from .thresholds import apply_threshold

POINT_ADJUST_WARNING = (
    "Point-adjusted scores count a whole labelled event as detected when any single step in it is "
    "flagged; they inflate results (even random scores reach high point-adjusted F1 on long events). "
    "Report them only next to point-wise and event-wise figures."
)

#: Default largest buffer (in steps) of VUS-PR.
DEFAULT_MAX_BUFFER = 20


def _labels(y) -> np.ndarray:
    labels = _binary(y, "labels (1 = anomaly)")
    if labels.size == 0:
        raise DataError("There are no labelled time steps to evaluate.")
    return labels.astype(np.int8)


def _with_positives(y) -> np.ndarray:
    labels = _labels(y)
    if labels.sum() == 0:
        raise DataError("The evaluated part of the series has no labelled anomaly; these metrics need at least one.")
    return labels


def _scores(scores, n: int) -> np.ndarray:
    values = np.asarray(scores, dtype=float).ravel()
    if values.size != n:
        raise DataError(f"There are {values.size} scores for {n} labels.")
    if not np.all(np.isfinite(values)):
        raise DataError("The scores contain NaN or infinite values.")
    return values


def _flags(flags, n: int) -> np.ndarray:
    values = np.asarray(flags).ravel()
    if values.size != n:
        raise DataError(f"There are {values.size} flags for {n} labels.")
    return _labels(values).astype(bool)


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den > 0 else 0.0


def _f1(precision: float, recall: float) -> float:
    return _ratio(2.0 * precision * recall, precision + recall)


def point_metrics(y, scores, threshold: float) -> dict[str, float]:
    """Point-wise precision, recall and F1; a step is flagged when ``score > threshold``.

    Returns
    -------
    dict
        ``precision``, ``recall``, ``f1``, ``tp``, ``fp``, ``fn``, ``n_flagged``.
    """
    labels = _labels(y).astype(bool)
    flags = apply_threshold(_scores(scores, labels.size), threshold).astype(bool)
    return _point_counts(labels, flags)


def _point_counts(labels: np.ndarray, flags: np.ndarray) -> dict[str, float]:
    tp = int(np.sum(labels & flags))
    fp = int(np.sum(~labels & flags))
    fn = int(np.sum(labels & ~flags))
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    return {"precision": precision, "recall": recall, "f1": _f1(precision, recall),
            "tp": tp, "fp": fp, "fn": fn, "n_flagged": tp + fp}


def pr_auc(y, scores) -> float:
    """Area under the point-wise precision-recall curve, as average precision (scikit-learn)."""
    from sklearn.metrics import average_precision_score

    labels = _with_positives(y)
    return float(average_precision_score(labels, _scores(scores, labels.size)))


def event_metrics(y, flags, *, min_gap: int = 0) -> dict[str, float]:
    """Event-wise (range-based) precision, recall and F1.

    Definitions (existence-based, each event counts once whatever its length):

    - a true event is a run of consecutive labelled steps; a predicted event is a run of flagged
      steps (runs at most ``min_gap`` unflagged steps apart are merged, see
      :func:`core.events.find_events`);
    - recall = share of true events with at least one flagged step;
    - precision = share of predicted events that overlap (share at least one step with) a true event.

    Returns
    -------
    dict
        ``precision``, ``recall``, ``f1``, ``n_true_events``, ``n_predicted_events``,
        ``n_detected_events`` (true events hit) and ``n_correct_predictions`` (predicted events
        overlapping a true one).
    """
    labels = _labels(y).astype(bool)
    flagged = _flags(flags, labels.size)
    true_starts, true_ends = runs(labels)
    predicted = find_events(flagged, None, min_gap=min_gap)
    pred_starts = predicted["start_index"].to_numpy()
    pred_ends = predicted["end_index"].to_numpy()
    # Count of labelled / flagged steps before each position: range sums in O(1).
    labelled_before = np.r_[0, np.cumsum(labels)]
    flagged_before = np.r_[0, np.cumsum(flagged)]
    detected = (flagged_before[true_ends + 1] - flagged_before[true_starts]) > 0
    correct = (labelled_before[pred_ends + 1] - labelled_before[pred_starts]) > 0
    recall = _ratio(detected.sum(), detected.size)
    precision = _ratio(correct.sum(), correct.size)
    return {"precision": precision, "recall": recall, "f1": _f1(precision, recall),
            "n_true_events": int(detected.size), "n_predicted_events": int(correct.size),
            "n_detected_events": int(detected.sum()), "n_correct_predictions": int(correct.sum())}


def point_adjusted_metrics(y, flags) -> dict[str, Any]:
    """Point-adjusted precision, recall and F1, with a warning about what they mean.

    Point adjustment (Xu et al., 2018) marks every step of a true event as detected as soon as one
    of its steps is flagged, then scores point-wise. It inflates results, especially on long events,
    so the returned dict carries ``warning`` (a sentence to show next to the figures).

    Returns
    -------
    dict
        ``precision``, ``recall``, ``f1``, ``tp``, ``fp``, ``fn``, ``n_flagged`` and ``warning``.
    """
    labels = _labels(y).astype(bool)
    flagged = _flags(flags, labels.size).copy()
    starts, ends = runs(labels)
    flagged_before = np.r_[0, np.cumsum(flagged)]
    hit = (flagged_before[ends + 1] - flagged_before[starts]) > 0
    for start, end in zip(starts[hit], ends[hit]):
        flagged[start:end + 1] = True
    result: dict[str, Any] = _point_counts(labels, flagged)
    result["warning"] = POINT_ADJUST_WARNING
    return result


def soft_range_labels(y, buffer: int) -> np.ndarray:
    """Labels widened by a decaying buffer around each true range (VUS, Paparrizos et al. 2022).

    Steps inside a labelled range keep 1; the ``buffer // 2`` steps on either side of a range at
    distance ``d`` (1, 2, ...) from it get ``sqrt(1 - d / buffer)``. Where the buffers of two ranges
    overlap a step keeps the larger value. ``buffer`` 0 or 1 leaves the labels unchanged.
    """
    labels = _labels(y).astype(float)
    half = _steps(buffer, "buffer") // 2
    if half == 0:
        return labels
    n = labels.size
    starts, ends = runs(labels > 0)
    soft = labels.copy()
    distance = np.arange(1, half + 1)
    weight = np.sqrt(1.0 - distance / float(buffer))
    # Before each start and after each end, all ranges at once: (n_ranges, half) index grids.
    for anchors, sign in ((starts, -1), (ends, 1)):
        positions = anchors[:, None] + sign * distance[None, :]
        inside = (positions >= 0) & (positions < n)
        np.maximum.at(soft, positions[inside], np.broadcast_to(weight, positions.shape)[inside])
    return soft


def _sorted_cuts(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Order of the scores (highest first) and the number of flagged steps at each distinct threshold."""
    order = np.argsort(-scores, kind="stable")
    ranked = scores[order]
    # Thresholds between distinct scores: flag every step with a score >= each distinct value.
    cuts = np.r_[np.flatnonzero(ranked[1:] != ranked[:-1]) + 1, scores.size]
    return order, cuts


def _range_pr_auc(labels: np.ndarray, order: np.ndarray, cuts: np.ndarray, buffer: int) -> float:
    soft = soft_range_labels(labels, buffer)
    positives = 0.5 * (labels.sum() + soft.sum())  # P_l: between the hard and the soft label mass
    starts, ends = runs(soft > 0)
    # Rank of each step (0 = highest score); a range is detected once the cut passes its best rank.
    rank = np.empty(order.size, dtype=np.int64)
    rank[order] = np.arange(order.size)
    masked = np.where(soft > 0, rank, order.size)
    best_rank = np.minimum.reduceat(masked, starts)  # each segment runs from a range start to the next
    detected = np.searchsorted(np.sort(best_rank), cuts, side="left")  # ranges with best rank < cut
    true_positive = np.cumsum(soft[order])[cuts - 1]
    recall = np.minimum(true_positive / positives, 1.0) * detected / starts.size
    precision = true_positive / cuts
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def range_pr_auc(y, scores, buffer: int = 0) -> float:
    """Range-based area under the precision-recall curve for one buffer length (Range-AUC-PR).

    With soft labels ``L`` from :func:`soft_range_labels` and ``P = (sum(y) + sum(L)) / 2``, each
    threshold flags the steps with a score at or above it and gives

    - ``TP = sum(L * flagged)``, precision = ``TP / flagged steps``,
    - recall = ``min(TP / P, 1) x (share of widened ranges with a flagged step)``;

    the area is average precision over every distinct score as threshold (step-wise, from recall 0).
    """
    labels = _with_positives(y)
    values = _scores(scores, labels.size)
    order, cuts = _sorted_cuts(values)
    return _range_pr_auc(labels, order, cuts, _steps(buffer, "buffer"))


def vus_pr(y, scores, max_buffer: int = DEFAULT_MAX_BUFFER) -> float:
    """Volume under the range-based PR surface (VUS-PR), Paparrizos et al. 2022.

    The mean of :func:`range_pr_auc` over every buffer length 0, 1, ..., ``max_buffer`` steps: a
    threshold-free score that rewards detections near a labelled range, less the further they are.
    Sorting is done once; each buffer costs O(n), so 20,000 steps and 21 buffers take milliseconds.

    Read it with the labels' shape in mind: around single-step anomalies the buffer gives partial
    credit to the neighbours, so scores that rise a little around a spike (a window model's) earn
    more than scores that mark only the spike itself; choose ``max_buffer`` well below the typical
    labelled range length when anomalies are isolated points.
    """
    labels = _with_positives(y)
    values = _scores(scores, labels.size)
    largest = _steps(max_buffer, "max_buffer")
    order, cuts = _sorted_cuts(values)
    return float(np.mean([_range_pr_auc(labels, order, cuts, b) for b in range(largest + 1)]))


def timeseries_metrics(y, scores, threshold: float, max_buffer: int = DEFAULT_MAX_BUFFER,
                       min_gap: int = 0) -> dict[str, Any]:
    """All series metrics in one flat dict (anomaly = positive, flagged when ``score > threshold``).

    Keys: ``point_precision``, ``point_recall``, ``point_f1``, ``pr_auc``, ``event_precision``,
    ``event_recall``, ``event_f1``, ``n_true_events``, ``n_predicted_events``,
    ``point_adjusted_f1`` (with ``point_adjusted_warning``), ``vus_pr``, ``threshold``,
    ``max_buffer``, ``n_flagged``.
    """
    labels = _with_positives(y)
    values = _scores(scores, labels.size)
    flags = apply_threshold(values, threshold)
    point = point_metrics(labels, values, threshold)
    event = event_metrics(labels, flags, min_gap=min_gap)
    adjusted = point_adjusted_metrics(labels, flags)
    return {
        "point_precision": point["precision"], "point_recall": point["recall"], "point_f1": point["f1"],
        "pr_auc": pr_auc(labels, values),
        "event_precision": event["precision"], "event_recall": event["recall"], "event_f1": event["f1"],
        "n_true_events": event["n_true_events"], "n_predicted_events": event["n_predicted_events"],
        "point_adjusted_f1": adjusted["f1"], "point_adjusted_warning": adjusted["warning"],
        "vus_pr": vus_pr(labels, values, max_buffer=max_buffer),
        "threshold": float(threshold), "max_buffer": int(max_buffer), "n_flagged": point["n_flagged"],
    }
