"""Comparing scored runs of one dataset: a leaderboard, how much they agree, and where they disagree.

Every function takes :class:`core.run.ScoredRun` objects made on the same rows (the same dataset).
Scores of different methods live on different scales, so wherever runs are set side by side a
score is first turned into its rank among the run's own training scores (:func:`normalised_scores`,
the share of the rows the model was fitted on that score at most as much): 0.99 means "higher than
99% of the normal training rows", whatever the method.

Comparisons are made on the rows every run tested (the rows none of them was fitted on); where the
runs share no test row (different splits), on every row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .errors import DataError

#: Columns of :func:`leaderboard`, in order.
LEADERBOARD_COLUMNS = ["run", "method", "roc_auc", "pr_auc", "f1", "event_f1", "vus_pr", "flagged_share",
                       "threshold", "fit_seconds", "score_seconds"]


def _check_same_rows(runs) -> list:
    runs = list(runs)
    if not runs:
        raise DataError("Choose at least one run to compare.")
    sizes = {int(r.n_rows) for r in runs}
    if len(sizes) > 1:
        raise DataError("These runs were scored on data of different lengths; compare runs of one dataset.")
    return runs


def run_label(run) -> str:
    """The name a run goes by in comparisons (its workspace name, else method on table)."""
    return run.display_name


def normalised_scores(run, values=None) -> np.ndarray:
    """Every row's score (or ``values``, on the run's scale) as its rank among the run's training scores, in [0, 1].

    A row scoring above every training row gets 1; ties count as "at most", so a row scoring like
    the median training row gets about 0.5. ``normalised_scores(run, [run.threshold])`` puts the
    run's threshold on the same scale.
    """
    scores = np.asarray(run.scores, dtype=float)
    reference = np.sort(scores[run.fit_mask])
    if reference.size == 0:
        reference = np.sort(scores)
    values = scores if values is None else np.asarray(values, dtype=float)
    return np.searchsorted(reference, values, side="right") / reference.size


def rarity(run, values=None) -> np.ndarray:
    """How rare each score (or ``values``) is among the run's training scores, in powers of ten.

    ``-log10`` of the share of training rows scoring higher: 0 for an ordinary row, 2 when only 1%
    of the training rows score higher, 3 for 0.1%; a score above every training row gets
    ``log10(2 n)``. Normal rows stay near the bottom, so anomalies stand out when runs are overlaid.
    """
    n = max(1, int(np.count_nonzero(run.fit_mask)) or int(run.n_rows))
    above = 1.0 - normalised_scores(run, values)
    return -np.log10(np.maximum(above, 0.5 / n))


def compared_rows(runs) -> np.ndarray:
    """Mask of the rows every run tested; every row where they share none."""
    runs = _check_same_rows(runs)
    mask = np.logical_and.reduce([np.asarray(r.test_mask, dtype=bool) for r in runs])
    return mask if mask.any() else np.ones(runs[0].n_rows, dtype=bool)


def leaderboard(runs) -> pd.DataFrame:
    """One row per run: its ranking and flagging quality on its test part, and its times.

    ``roc_auc``, ``pr_auc`` and ``f1`` (at the run's threshold) need labels; ``event_f1`` and
    ``vus_pr`` need a labelled series (see :mod:`core.metrics_ts`); the others are empty where they
    do not apply. ``flagged_share`` is the share of the test rows flagged at the run's threshold.
    Sorted by ROC-AUC (best first) when there are labels, else by name.
    """
    rows = []
    for run in _check_same_rows(runs):
        at = run.metrics_at(run.threshold, "test")
        series = run.series_metrics or {}
        if run.y is not None and not series and run.is_series and run.y_test is not None and run.y_test.any():
            from .metrics_ts import timeseries_metrics

            series = timeseries_metrics(run.y_test, run.test_scores, run.threshold)
        rows.append({"run": run_label(run), "method": run.method, "roc_auc": at.get("roc_auc"),
                     "pr_auc": at.get("pr_auc"), "f1": at.get("f1"), "event_f1": series.get("event_f1"),
                     "vus_pr": series.get("vus_pr"), "flagged_share": at["n_flagged"] / max(1, at["n"]),
                     "threshold": float(run.threshold), "fit_seconds": float(run.fit_seconds),
                     "score_seconds": float(run.score_seconds)})
    table = pd.DataFrame(rows, columns=LEADERBOARD_COLUMNS)
    for column in ("roc_auc", "pr_auc", "f1", "event_f1", "vus_pr"):
        table[column] = pd.to_numeric(table[column], errors="coerce")
    if table["roc_auc"].notna().any():
        return table.sort_values("roc_auc", ascending=False, kind="stable", na_position="last").reset_index(drop=True)
    return table.sort_values("run", kind="stable").reset_index(drop=True)


def _ranks(values: np.ndarray) -> np.ndarray:
    """Average ranks (ties share their mean rank), as Spearman's correlation needs."""
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(values.size, dtype=float)
    sorted_values = values[order]
    boundaries = np.r_[0, np.flatnonzero(sorted_values[1:] != sorted_values[:-1]) + 1, values.size]
    for lo, hi in zip(boundaries[:-1], boundaries[1:]):
        ranks[order[lo:hi]] = (lo + hi - 1) / 2.0
    return ranks


def spearman(a, b) -> float:
    """Spearman's rank correlation of two score vectors (NaN when either is constant)."""
    ra, rb = _ranks(np.asarray(a, dtype=float)), _ranks(np.asarray(b, dtype=float))
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denominator = np.sqrt((ra ** 2).sum() * (rb ** 2).sum())
    return float((ra * rb).sum() / denominator) if denominator > 0 else float("nan")


def top_overlap(a, b, k: int) -> float:
    """Share of the ``k`` highest-scored rows of ``a`` that are also among the ``k`` highest of ``b``."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    k = int(min(max(1, k), a.size))
    top_a = np.argsort(-a, kind="stable")[:k]
    top_b = np.argsort(-b, kind="stable")[:k]
    return float(np.intersect1d(top_a, top_b).size / k)


def agreement(runs, top_share: float = 0.05) -> dict[str, pd.DataFrame]:
    """How much runs agree on the rows they all tested, without labels.

    Returns ``{"spearman": ..., "top_overlap": ...}``, two square tables indexed by run name:
    Spearman's rank correlation of the scores, and the overlap of the top ``top_share`` of rows
    each run scores highest (1 = the same rows).
    """
    runs = _check_same_rows(runs)
    if not 0.0 < float(top_share) <= 1.0:
        raise DataError(f"The share of top rows must be between 0 and 1, got {top_share}.")
    rows = compared_rows(runs)
    names = _unique_names(runs)
    scores = [np.asarray(r.scores, dtype=float)[rows] for r in runs]
    k = max(1, int(round(top_share * int(rows.sum()))))
    n = len(runs)
    rho, overlap = np.eye(n), np.eye(n)
    for i in range(n):
        for j in range(i + 1, n):
            rho[i, j] = rho[j, i] = spearman(scores[i], scores[j])
            overlap[i, j] = overlap[j, i] = top_overlap(scores[i], scores[j], k)
    return {"spearman": pd.DataFrame(rho, index=names, columns=names),
            "top_overlap": pd.DataFrame(overlap, index=names, columns=names)}


def _unique_names(runs) -> list[str]:
    names, seen = [], {}
    for run in runs:
        name = run_label(run)
        seen[name] = seen.get(name, 0) + 1
        names.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return names


def score_table(runs, scale=normalised_scores) -> pd.DataFrame:
    """Every run's normalised score (columns by run name) on every row, with ``row`` and ``tested``.

    ``scale`` is :func:`normalised_scores` (default) or :func:`rarity`.
    """
    runs = _check_same_rows(runs)
    table = pd.DataFrame({name: scale(r) for name, r in zip(_unique_names(runs), runs)})
    table.insert(0, "row", np.arange(runs[0].n_rows))
    table["tested"] = compared_rows(runs)
    return table


def disagreements(runs, top: int = 20) -> pd.DataFrame:
    """The tested rows where the runs' normalised scores differ most, most disputed first.

    Columns: ``row``, each run's normalised score, each run's flag at its own threshold
    (``<name> flagged``), and ``spread`` (largest minus smallest normalised score). Needs two runs.
    """
    runs = _check_same_rows(runs)
    if len(runs) < 2:
        raise DataError("Choose two or three runs to see where they disagree.")
    names = _unique_names(runs)
    rows = np.flatnonzero(compared_rows(runs))
    normal = np.column_stack([normalised_scores(r)[rows] for r in runs])
    spread = normal.max(axis=1) - normal.min(axis=1)
    order = np.argsort(-spread, kind="stable")[: max(0, int(top))]
    picked = rows[order]
    table = pd.DataFrame({"row": picked})
    for i, (name, run) in enumerate(zip(names, runs)):
        table[name] = normal[order, i]
        table[f"{name} flagged"] = run.flags()[picked].astype(bool)
    table["spread"] = spread[order]
    return table
