"""Everything the Results page draws, as data and figures, without Streamlit.

:class:`ResultContext` holds the chart data that does not depend on the threshold (built once per
:class:`core.run.ScoredRun`, which owns the scores, flags, metrics and threshold options);
:func:`threshold_figures` turns a threshold into metrics and every threshold-dependent figure.
The benchmark in tests/bench/threshold_latency.py times exactly this function.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core.events import label_events
from dashboard import charts
from dashboard.compute import STRATEGY_CHOICES, ScoreView


@dataclass
class ResultContext:
    """Threshold-independent views of one scored run; ``result`` is the run, ``dataset`` its dataset."""

    result: object  # core.run.ScoredRun
    dataset: object
    view: ScoreView  # the test part
    test_index: np.ndarray
    strategies: dict[str, float]
    x_axis: np.ndarray  # time stamps (series) or row numbers
    label_spans: tuple[np.ndarray, np.ndarray] | None = None
    train_span: tuple | None = None
    extras: dict = field(default_factory=dict)

    @classmethod
    def build(cls, result, dataset=None) -> "ResultContext":
        """From a :class:`core.run.ScoredRun` (and its dataset, by default the one attached to it)."""
        dataset = result.dataset if dataset is None else dataset
        test_index = np.flatnonzero(result.test_mask)
        view = ScoreView.build(result.part("test"))
        strategies = result.threshold_options()
        if dataset.is_series:
            # epoch milliseconds on a date axis: numbers serialise far faster than datetime64 values
            x_axis = _epoch_ms(dataset.time)
        else:
            x_axis = np.arange(dataset.n_rows)
        label_spans = None
        if dataset.is_series and result.y is not None:
            events = label_events(result.y)
            label_spans = (events["start_index"].to_numpy(), events["end_index"].to_numpy())
        train_span = None
        if dataset.is_series and result.train_mask.any():
            where = np.flatnonzero(result.train_mask)
            train_span = (float(x_axis[where[0]]), float(x_axis[where[-1]]))
        return cls(result=result, dataset=dataset, view=view, test_index=test_index, strategies=strategies,
                   x_axis=x_axis, label_spans=label_spans, train_span=train_span)

    @property
    def is_series(self) -> bool:
        return bool(self.dataset.is_series)

    def strategy_labels(self) -> dict[str, str]:
        short = {"trained": "as trained", "mean_std": "mean+k·std", "percentile": "percentile",
                 "contamination": "contamination", "best_f1": "best F1"}
        return {k: short.get(k, k) for k in self.strategies}


def _epoch_ms(time: pd.Series) -> np.ndarray:
    values = pd.to_datetime(time)
    if getattr(values.dt, "tz", None) is not None:
        values = values.dt.tz_convert(None)
    return values.to_numpy(dtype="datetime64[ns]").astype(np.int64) / 1e6


def events_at(ctx: ResultContext, threshold: float, min_gap: int = 0) -> pd.DataFrame:
    """Runs of flagged time steps over the whole series at ``threshold`` (see ScoredRun.events_at)."""
    return ctx.result.events_at(threshold, min_gap)


def threshold_figures(ctx: ResultContext, threshold: float, *, zoom=None, min_gap: int = 0,
                      dragmode: str = "zoom", features=None, curves: bool = True, metrics: dict | None = None) -> dict:
    """Metrics, events and every figure that depends on ``threshold``.

    ``curves=False`` leaves out the confusion matrix and the ROC and PR curves (their tab is closed).
    ``metrics``: ``ctx.view.at(threshold)`` when the caller has it already.

    Returns
    -------
    dict
        ``metrics`` (from :meth:`ScoreView.at`), ``events`` (DataFrame or None) and ``figures``
        (name -> plotly Figure).
    """
    view = ctx.view
    metrics = view.at(threshold) if metrics is None else metrics
    figures = {}
    if ctx.is_series:
        events = events_at(ctx, threshold, min_gap)
        spans = (events["start_index"].to_numpy(), events["end_index"].to_numpy())
        features = None if features is None else tuple(features)
        base = ctx.extras.get(("series_index", features))
        if base is None:  # the decimation of the series does not depend on the threshold: do it once
            base = ctx.extras[("series_index", features)] = charts.series_index(
                ctx.dataset.X, ctx.result.scores, features=features)
        figures["series"] = charts.series_with_scores(
            ctx.x_axis, ctx.dataset.X, ctx.dataset.feature_names, ctx.result.scores, threshold,
            label_spans=ctx.label_spans, event_spans=spans, train_span=ctx.train_span, zoom=zoom, base_index=base,
            time_axis=True, dragmode=dragmode, features=features)
    else:
        events = None
    x = ctx.x_axis[ctx.test_index]
    figures["scatter"] = charts.score_scatter(
        view.scores, view.y, threshold, x=x, x_title="time" if ctx.is_series else "row number (test part)",
        title="Anomaly score per test row", time_axis=ctx.is_series, log_y=view.hist.log)
    figures["histogram"] = charts.score_histogram(view.hist, threshold, ctx.strategies, ctx.strategy_labels())
    if view.labelled and curves:
        figures["confusion"] = charts.confusion_matrix(metrics["tn"], metrics["fp"], metrics["fn"], metrics["tp"])
        if view.roc is not None:
            figures["roc"] = charts.roc_curve(view.roc[0], view.roc[1], view.ranking["roc_auc"],
                                              (metrics["fpr"], metrics["recall"]))
            base = float(view.y.mean())
            point = (metrics["recall"], metrics["precision"]) if metrics["n_flagged"] else None
            figures["pr"] = charts.pr_curve(view.pr[0], view.pr[1], view.ranking["pr_auc"], point, base)
    return {"metrics": metrics, "events": events, "figures": figures}


def strategy_names(ctx: ResultContext) -> list[str]:
    """The strategies the run can offer (best F1 only with a validation part), then manual."""
    return [k for k in STRATEGY_CHOICES if k in ctx.strategies or k == "manual"]
