"""What an analyst's verdicts do: labels from verdicts, metrics against them, a threshold, suppression rules.

A verdict (stored in the workspace, see :meth:`core.workspace.Workspace.annotate`) says that a row
or an event of a run is a ``real`` anomaly, a ``false_alarm`` or ``unsure``. Here verdicts become

- labels (:func:`verdict_labels`): 1 for real, 0 for a false alarm, unknown otherwise; an event's
  verdict covers each of its steps, and a later verdict on a step replaces an earlier one;
- metrics of a run's flags against those labels, beside the file's own labels (:func:`verdict_metrics`);
- a threshold, "best F1 on my verdicts" (:class:`BestF1OnVerdicts`, fitted on the judged rows);
- suppression rules (:func:`rule_from_false_alarm`): a false alarm's leading features and the range
  of values they had, so that a flag on a row whose values lie in the same ranges is dropped. A
  run applies its rules in one place, :meth:`core.run.ScoredRun.flags` (see :func:`suppressed`);
- a label CSV (:func:`verdict_label_table`): the run's table with a ``verdict`` column (1 = real
  anomaly) that the Data page reads back as a label column.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .errors import DataError
from .metrics import counts_metrics
from .thresholds import BestF1

#: The label column a verdict export adds to the table.
VERDICT_COLUMN = "verdict"
#: In words, for tables and messages.
VERDICT_NAMES = {"real": "real anomaly", "false_alarm": "false alarm", "unsure": "unsure"}


def verdict_labels(annotations: pd.DataFrame, n_rows: int) -> np.ndarray:
    """One float per row: 1.0 (real), 0.0 (false alarm) or NaN (no verdict, or unsure), from verdicts oldest first."""
    labels = np.full(int(n_rows), np.nan)
    if annotations is None or len(annotations) == 0:
        return labels
    for item in annotations.itertuples(index=False):
        if pd.notna(item.row):
            lo = hi = int(item.row)
        else:
            lo, hi = int(item.event_start), int(item.event_end)
        if lo < 0 or hi >= n_rows or lo > hi:
            raise DataError(f"A verdict covers rows {lo} to {hi}, outside the run's {n_rows} rows.")
        labels[lo:hi + 1] = {"real": 1.0, "false_alarm": 0.0}.get(item.verdict, np.nan)
    return labels


def _judged(run, annotations) -> tuple[np.ndarray, np.ndarray]:
    labels = verdict_labels(annotations, run.n_rows)
    judged = ~np.isnan(labels)
    return judged, labels[judged].astype(int)


def verdict_metrics(run, annotations: pd.DataFrame, threshold: float | None = None) -> dict[str, Any]:
    """Metrics of the run's flags (its suppression rules applied) on the rows with a verdict.

    Returns precision, recall, F1 and the counts against the verdicts, ``n_judged``, ``n_real`` and
    ``n_false_alarm`` (rows), and ``labels``: the same flags against the file's labels on the same
    rows (None without a label column), to set the two side by side.
    """
    judged, truth = _judged(run, annotations)
    flags = run.flags(threshold)[judged].astype(int)

    def against(labels) -> dict:
        tp = int(((flags == 1) & (labels == 1)).sum())
        fp = int(((flags == 1) & (labels == 0)).sum())
        fn = int(((flags == 0) & (labels == 1)).sum())
        tn = int(((flags == 0) & (labels == 0)).sum())
        return counts_metrics(tn, fp, fn, tp)

    result = against(truth) if truth.size else {}
    result.update(n_judged=int(truth.size), n_real=int((truth == 1).sum()), n_false_alarm=int((truth == 0).sum()),
                  labels=against(np.asarray(run.y)[judged].astype(int)) if run.y is not None and truth.size else None)
    return result


@dataclass
class BestF1OnVerdicts(BestF1):
    """The threshold that maximises F1 on the rows the analyst judged (real anomaly = positive)."""

    name = "best_f1_verdicts"
    needs_labels = True
    fitted_on = "verdicts"

    def _choose(self, values, y):
        y = np.asarray(y).ravel()
        if y.sum() == 0 or y.sum() == y.size:
            raise DataError("Re-tuning from verdicts needs at least one real anomaly and one false alarm "
                            "(or a normal row) among the verdicts.")
        return super()._choose(values, y)

    def _explain(self):
        return "best F1 on the analyst's verdicts"


def threshold_from_verdicts(run, annotations: pd.DataFrame) -> BestF1OnVerdicts:
    """A :class:`BestF1OnVerdicts` fitted on the run's scores of the judged rows (``threshold_`` is the value)."""
    judged, truth = _judged(run, annotations)
    if truth.size == 0:
        raise DataError("There are no verdicts (real anomaly or false alarm) on this run yet.")
    return BestF1OnVerdicts().fit(np.asarray(run.scores, dtype=float)[judged], truth)


def retune_from_verdicts(run, annotations: pd.DataFrame):
    """Set the run's threshold to the best F1 on its verdicts (recomputing its metrics); returns the strategy."""
    strategy = threshold_from_verdicts(run, annotations)
    run.with_threshold(strategy.threshold_, strategy.describe())
    run.threshold_policy = {**strategy.to_dict(), "value": float(strategy.threshold_)}
    run.measure()
    return strategy


# -- suppression rules -------------------------------------------------------------------------------
def rule_from_false_alarm(run, start: int, end: int | None = None, *, n_features: int = 2,
                          margin: float = 0.1, note: str = "", author: str = "analyst") -> dict[str, Any]:
    """A rule that suppresses flags like the false alarm on rows ``start``..``end``.

    Its features are the ``n_features`` that contributed most to the scores there; its range for
    each is the values they took there, widened by ``margin`` normal standard deviations. A row is
    suppressed when every one of the rule's features lies in its range.
    """
    dataset = run.dataset
    if dataset is None:
        raise DataError("This run has no dataset attached; open it with its data to make a rule.")
    end = start if end is None else end
    start, end = int(start), int(end)
    if not 0 <= start <= end < run.n_rows:
        raise DataError(f"Rows {start} to {end} are not inside the run's {run.n_rows} rows.")
    lo, _ = run.context_rows(start)
    _, hi = run.context_rows(end)
    contributions = np.asarray(run.pipeline.feature_contributions(dataset.X[lo:hi]))[start - lo:end - lo + 1]
    order = np.argsort(-contributions.mean(axis=0), kind="stable")[: max(1, int(n_features))]
    _, std = run.pipeline.normal_profile()
    std = np.asarray(std, dtype=float)
    values = dataset.X[start:end + 1]
    names = [str(n) for n in dataset.feature_names]
    ranges = {}
    for i in order:
        pad = float(margin) * (float(std[i]) if np.isfinite(std[i]) and std[i] > 0 else 1.0)
        ranges[names[i]] = [float(np.nanmin(values[:, i])) - pad, float(np.nanmax(values[:, i])) + pad]
    return {"features": ranges, "source": [start, end], "note": str(note or ""), "author": str(author),
            "created": time.time()}


def suppressed(rules: list[dict], dataset) -> np.ndarray:
    """Mask of the rows of ``dataset`` that any rule suppresses (all the rule's features in their ranges)."""
    mask = np.zeros(dataset.n_rows, dtype=bool)
    names = [str(n) for n in dataset.feature_names]
    for rule in rules or ():
        inside = np.ones(dataset.n_rows, dtype=bool)
        for feature, (low, high) in rule.get("features", {}).items():
            if feature not in names:
                raise DataError(f"The suppression rule on {feature!r} does not fit this data (no such feature).")
            column = dataset.X[:, names.index(feature)]
            inside &= (column >= float(low)) & (column <= float(high))
        mask |= inside
    return mask


def describe_rule(rule: dict) -> str:
    """``"temp in [20.1, 25.3] and load in [0.4, 0.9]"``."""
    return " and ".join(f"{name} in [{low:.4g}, {high:.4g}]" for name, (low, high) in rule["features"].items())


# -- export ------------------------------------------------------------------------------------------
def verdict_label_table(run, annotations: pd.DataFrame) -> pd.DataFrame:
    """The run's table with a ``verdict`` column: 1 on rows judged real anomalies, 0 elsewhere.

    False alarms, unsure and unjudged rows are 0 (normal), as in any label column.
    """
    dataset = run.dataset
    if dataset is None:
        raise DataError("This run has no dataset attached; open it with its data to export verdicts.")
    table = dataset.frame.reset_index(drop=True).copy()
    if len(table) != run.n_rows:
        raise DataError("The run's table and its scored rows differ in number; the verdicts cannot be matched to rows.")
    labels = verdict_labels(annotations, run.n_rows)
    column = VERDICT_COLUMN
    while column in table.columns:
        column = f"{column}_"
    table[column] = (labels == 1.0).astype(int)
    return table
