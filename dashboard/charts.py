"""Plotly figure builders: plain arrays and frames in, a figure out (no Streamlit, no models).

Every builder is a pure function so that it can be unit-tested and reused by the HTML report.
Long inputs are decimated (see :mod:`dashboard.compute`) and drawn with WebGL traces, so a
million scored rows stay interactive in the browser.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .compute import Histogram, decimate, minmax_indices

NORMAL = "#3b82f6"
ANOMALY = "#ef4444"
FLAGGED = "#f97316"
RECON = "#f59e0b"
THRESHOLD = "#111827"
MUTED = "#9ca3af"
TEMPLATE = "plotly_white"
#: Most shaded windows drawn on a series (more would make the chart sluggish).
MAX_SHAPES = 150


def _layout(fig: go.Figure, title: str | None = None, height: int = 360, **extra) -> go.Figure:
    fig.update_layout(template=TEMPLATE, height=height, margin=dict(l=10, r=10, t=48 if title else 16, b=10),
                      title=dict(text=title, x=0.0, xanchor="left", font=dict(size=15)) if title else None,
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1.0),
                      hovermode="closest", **extra)
    return fig


def _threshold_line(fig: go.Figure, threshold: float, *, vertical: bool = False, row=None, col=None) -> None:
    kwargs = dict(line=dict(color=THRESHOLD, width=1.5, dash="dash"))
    if row is not None:
        kwargs.update(row=row, col=col)
    if vertical:
        fig.add_vline(x=threshold, annotation_text=f"threshold {threshold:.4g}", annotation_position="top",
                      **kwargs)
    else:
        fig.add_hline(y=threshold, annotation_text=f"threshold {threshold:.4g}", annotation_position="top left",
                      **kwargs)


def empty_figure(message: str, height: int = 240) -> go.Figure:
    """A blank figure carrying a short message (used instead of an error when there is nothing to draw)."""
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, font=dict(size=14, color=MUTED), x=0.5, y=0.5,
                       xref="paper", yref="paper")
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _layout(fig, height=height)


# ------------------------------------------------------------------------------------------------
# Data page
# ------------------------------------------------------------------------------------------------
def distributions(frame: pd.DataFrame, columns: Sequence[str], label: str | None = None,
                  max_rows: int = 200_000) -> go.Figure:
    """Histogram of each chosen column (split by label when one is given), one small panel each."""
    columns = list(columns)[:12]
    if not columns:
        return empty_figure("Choose one or more numeric columns to see their distributions.")
    if len(frame) > max_rows:
        frame = frame.sample(max_rows, random_state=0)
    n_cols = min(3, len(columns))
    n_rows = int(np.ceil(len(columns) / n_cols))
    fig = make_subplots(rows=n_rows, cols=n_cols, subplot_titles=columns, horizontal_spacing=0.06,
                        vertical_spacing=0.12 if n_rows > 1 else 0.0)
    groups = [(None, frame)] if label is None else list(frame.groupby(label, sort=True))[:6]
    palette = [NORMAL, ANOMALY, "#10b981", "#8b5cf6", "#f59e0b", "#6b7280"]
    for i, column in enumerate(columns):
        row, col = i // n_cols + 1, i % n_cols + 1
        for g, (name, part) in enumerate(groups):
            values = pd.to_numeric(part[column], errors="coerce").dropna()
            fig.add_trace(go.Histogram(x=values, name=f"{label} = {name}" if label else column, nbinsx=50,
                                       marker_color=palette[g % len(palette)], opacity=0.7,
                                       legendgroup=str(name), showlegend=(i == 0 and label is not None)),
                          row=row, col=col)
    fig.update_layout(barmode="overlay")
    return _layout(fig, height=max(260, 230 * n_rows))


def series_preview(time: pd.Series | np.ndarray, frame: pd.DataFrame, columns: Sequence[str],
                   label: np.ndarray | None = None) -> go.Figure:
    """The chosen columns over time (decimated, WebGL), labelled anomalies marked."""
    columns = list(columns)[:8]
    if not columns:
        return empty_figure("Choose one or more numeric columns to plot.")
    values = frame[columns].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    keep = None if label is None else np.asarray(label).astype(bool)
    index = decimate(np.nan_to_num(values), keep)
    x = np.asarray(time)[index]
    fig = make_subplots(rows=len(columns), cols=1, shared_xaxes=True, vertical_spacing=0.03,
                        subplot_titles=None)
    for i, column in enumerate(columns):
        fig.add_trace(go.Scattergl(x=x, y=values[index, i], mode="lines", name=column,
                                   line=dict(width=1, color=NORMAL)), row=i + 1, col=1)
        fig.update_yaxes(title_text=column, row=i + 1, col=1)
        if keep is not None and keep.any():
            where = np.flatnonzero(keep[index])
            fig.add_trace(go.Scattergl(x=x[where], y=values[index, i][where], mode="markers", name="labelled anomaly",
                                       marker=dict(color=ANOMALY, size=5), showlegend=i == 0,
                                       legendgroup="labelled"), row=i + 1, col=1)
    return _layout(fig, height=max(260, 170 * len(columns)))


# ------------------------------------------------------------------------------------------------
# Training
# ------------------------------------------------------------------------------------------------
def example_rows(normal: np.ndarray | None, abnormal: np.ndarray | None, feature_names: Sequence[str]) -> go.Figure:
    """One normal and one abnormal row side by side (S1's first plot)."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("A normal row", "An abnormal row"), shared_yaxes=True)
    x = list(feature_names)
    for col, (row, colour) in enumerate(((normal, NORMAL), (abnormal, ANOMALY)), start=1):
        if row is not None:
            fig.add_trace(go.Scatter(x=x, y=row, mode="lines+markers" if len(x) < 30 else "lines",
                                     line=dict(color=colour, width=1.6), showlegend=False), row=1, col=col)
    return _layout(fig, height=300)


def loss_curves(history: dict | None) -> go.Figure:
    """Training and validation loss per epoch."""
    history = history or {}
    train, val = list(history.get("train_loss") or []), list(history.get("val_loss") or [])
    if not train and not val:
        return empty_figure("This method trains in one pass: there is no loss curve.")
    fig = go.Figure()
    if train:
        fig.add_trace(go.Scatter(x=np.arange(1, len(train) + 1), y=train, mode="lines+markers", name="training",
                                 line=dict(color=NORMAL)))
    val = [v for v in val if v is not None and np.isfinite(v)]
    if val:
        fig.add_trace(go.Scatter(x=np.arange(1, len(val) + 1), y=val, mode="lines+markers", name="validation",
                                 line=dict(color=RECON)))
    fig.update_xaxes(title_text="epoch")
    fig.update_yaxes(title_text="loss")
    return _layout(fig, "Loss per epoch", height=300)


# ------------------------------------------------------------------------------------------------
# Explaining one row
# ------------------------------------------------------------------------------------------------
def reconstruction(x: np.ndarray, recon: np.ndarray, feature_names: Sequence[str], title: str = "") -> go.Figure:
    """Input vs reconstruction with the error shaded between them (S1's reconstruction plot)."""
    names = list(feature_names)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=names, y=x, mode="lines", name="input", line=dict(color=NORMAL, width=2)))
    fig.add_trace(go.Scatter(x=names, y=recon, mode="lines", name="reconstruction", line=dict(color=RECON, width=2),
                             fill="tonexty", fillcolor="rgba(239,68,68,0.25)"))
    fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name="error",
                             marker=dict(color="rgba(239,68,68,0.45)", size=12, symbol="square")))
    if len(names) > 20:
        fig.update_xaxes(showticklabels=len(names) <= 60)
    return _layout(fig, title, height=340)


def _comparable(mean: np.ndarray, std: np.ndarray) -> bool:
    """True when the features share a scale, so original units can go on one axis."""
    low, high = mean - 2 * std, mean + 2 * std
    widest = float(np.max(high - low)) if high.size else 0.0
    span = float(np.max(high) - np.min(low)) if high.size else 0.0
    return widest > 0 and span <= 5 * widest


def profile(x: np.ndarray, mean: np.ndarray, std: np.ndarray, feature_names: Sequence[str],
            title: str = "") -> go.Figure:
    """A row (or a stretch of a series) against the normal profile: mean ± 2 std of the normal training rows.

    Features on different scales are shown in standard deviations from the normal mean, so that one
    axis fits them all; few features are drawn as points with the band as error bars.
    """
    names = list(feature_names)
    x, mean, std = (np.asarray(a, dtype=float) for a in (x, mean, std))
    unit = "value"
    if not _comparable(mean, std):
        safe = np.where(std > 0, std, 1.0)
        x, mean, std = (x - mean) / safe, np.zeros_like(mean), np.ones_like(std)
        unit = "standard deviations from the normal mean"
    upper, lower = mean + 2 * std, mean - 2 * std
    outside = (x > upper) | (x < lower)
    fig = go.Figure()
    if len(names) < 12:
        fig.add_trace(go.Scatter(x=names, y=mean, mode="markers", name="normal mean ± 2 std",
                                 error_y=dict(type="data", array=2 * std, color=MUTED, thickness=8, width=0),
                                 marker=dict(color=MUTED, size=9)))
        fig.add_trace(go.Scatter(x=names, y=x, mode="markers", name="this row",
                                 marker=dict(color=np.where(outside, ANOMALY, NORMAL), size=13, symbol="diamond")))
    else:
        fig.add_trace(go.Scatter(x=names, y=upper, mode="lines", line=dict(width=0), showlegend=False,
                                 hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=names, y=lower, mode="lines", line=dict(width=0), fill="tonexty",
                                 fillcolor="rgba(156,163,175,0.3)", name="normal mean ± 2 std"))
        fig.add_trace(go.Scatter(x=names, y=mean, mode="lines", name="normal mean", line=dict(color=MUTED, dash="dot")))
        fig.add_trace(go.Scatter(x=names, y=x, mode="lines", name="this row", line=dict(color=NORMAL, width=2)))
        if outside.any():
            where = np.flatnonzero(outside)
            fig.add_trace(go.Scatter(x=[names[i] for i in where], y=x[where], mode="markers",
                                     name="outside the band", marker=dict(color=ANOMALY, size=7)))
    fig.update_yaxes(title_text=unit)
    return _layout(fig, title, height=340)


def band_over_time(x, values: np.ndarray, mean: float, std: float, name: str, title: str = "") -> go.Figure:
    """A stretch of one feature over time against its normal range (mean ± 2 std)."""
    x = np.asarray(x)
    values = np.asarray(values, dtype=float)
    fig = go.Figure()
    fig.add_hrect(y0=mean - 2 * std, y1=mean + 2 * std, fillcolor=MUTED, opacity=0.2, line_width=0)
    fig.add_hline(y=mean, line=dict(color=MUTED, dash="dot"))
    fig.add_trace(go.Scatter(x=x, y=values, mode="lines+markers", name=name, line=dict(color=NORMAL, width=1.5),
                             marker=dict(size=4)))
    outside = np.abs(values - mean) > 2 * std
    if outside.any():
        fig.add_trace(go.Scatter(x=x[outside], y=values[outside], mode="markers", name="outside mean ± 2 std",
                                 marker=dict(color=ANOMALY, size=8)))
    fig.update_yaxes(title_text=name)
    return _layout(fig, title, height=340)


def contributions(values: np.ndarray, feature_names: Sequence[str], top: int = 12, title: str = "") -> go.Figure:
    """Horizontal bars of the features that contribute most to a row's score."""
    values = np.asarray(values, dtype=float).ravel()
    order = np.argsort(-values, kind="stable")[:top][::-1]
    total = values.sum()
    share = values[order] / total if total > 0 else np.zeros(order.size)
    fig = go.Figure(go.Bar(x=values[order], y=[str(feature_names[i]) for i in order], orientation="h",
                           marker_color=ANOMALY, text=[f"{s:.0%}" for s in share], textposition="auto",
                           hovertemplate="%{y}: %{x:.4g}<extra></extra>"))
    fig.update_xaxes(title_text="contribution to the score")
    return _layout(fig, title or "Features driving the score", height=max(240, 26 * order.size + 90))


# ------------------------------------------------------------------------------------------------
# Threshold-dependent views
# ------------------------------------------------------------------------------------------------
def score_scatter(scores: np.ndarray, y: np.ndarray | None, threshold: float, x=None,
                  x_title: str = "test row", title: str = "Anomaly score per row") -> go.Figure:
    """Score per row coloured by true class, with the threshold line (WebGL; long inputs decimated)."""
    scores = np.asarray(scores, dtype=float)
    x = np.arange(scores.size) if x is None else np.asarray(x)
    fig = go.Figure()
    classes = [("normal", NORMAL, np.ones(scores.size, bool) if y is None else np.asarray(y) == 0)]
    if y is not None:
        classes.append(("anomaly", ANOMALY, np.asarray(y) == 1))
    for name, colour, mask in classes:
        where = np.flatnonzero(mask)
        if where.size == 0:
            continue
        part = scores[where]
        keep = decimate(part, part > threshold)
        fig.add_trace(go.Scattergl(x=x[where[keep]], y=part[keep], mode="markers",
                                   name=name if y is not None else "score",
                                   marker=dict(color=colour, size=4, opacity=0.7)))
    _threshold_line(fig, threshold)
    fig.update_xaxes(title_text=x_title)
    fig.update_yaxes(title_text="score")
    return _layout(fig, title, height=340)


def score_histogram(hist: Histogram, threshold: float, strategies: dict[str, float] | None = None,
                    labels: dict[str, str] | None = None) -> go.Figure:
    """Score distribution per class (pre-binned) with the threshold and where each strategy would put it."""
    centres = (hist.edges[:-1] + hist.edges[1:]) / 2
    width = float(hist.edges[1] - hist.edges[0])
    fig = go.Figure()
    fig.add_trace(go.Bar(x=centres, y=hist.normal, width=width, name="normal" if hist.anomaly is not None else "rows",
                         marker_color=NORMAL, opacity=0.65))
    if hist.anomaly is not None:
        fig.add_trace(go.Bar(x=centres, y=hist.anomaly, width=width, name="anomaly", marker_color=ANOMALY,
                             opacity=0.65))
    for name, value in (strategies or {}).items():
        if np.isfinite(value) and hist.edges[0] <= value <= hist.edges[-1] and abs(value - threshold) > width / 4:
            fig.add_vline(x=value, line=dict(color=MUTED, width=1, dash="dot"))
            fig.add_annotation(x=value, y=1.0, yref="paper", text=(labels or {}).get(name, name), showarrow=False,
                               textangle=-90, xanchor="left", yanchor="top", font=dict(size=10, color=MUTED))
    _threshold_line(fig, threshold, vertical=True)
    fig.update_layout(barmode="overlay", bargap=0)
    fig.update_xaxes(title_text="score")
    fig.update_yaxes(title_text="rows")
    return _layout(fig, "Score distribution per class", height=340)


def confusion_matrix(tn: int, fp: int, fn: int, tp: int) -> go.Figure:
    """2x2 heatmap: rows = true class, columns = predicted class, counts and row shares written in."""
    counts = np.array([[tn, fp], [fn, tp]], dtype=float)
    totals = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    text = [[f"<b>{int(counts[i, j]):,}</b><br>{share[i, j]:.1%}" for j in range(2)] for i in range(2)]
    fig = go.Figure(go.Heatmap(z=share, x=["predicted normal", "predicted anomaly"], y=["true normal", "true anomaly"],
                               text=text, texttemplate="%{text}", textfont=dict(size=16), colorscale="Blues",
                               zmin=0, zmax=1, showscale=False, hovertemplate="%{y}, %{x}: %{text}<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, "Confusion matrix (test part)", height=320)


def roc_curve(fpr: np.ndarray, tpr: np.ndarray, auc: float | None, point: tuple[float, float] | None) -> go.Figure:
    """ROC curve with the current operating point."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(color=MUTED, dash="dot"), name="chance"))
    fig.add_trace(go.Scatter(x=fpr, y=tpr, mode="lines", line=dict(color=NORMAL, width=2),
                             name=f"ROC (AUC {auc:.3f})" if auc is not None else "ROC"))
    if point is not None:
        fig.add_trace(go.Scatter(x=[point[0]], y=[point[1]], mode="markers", name="threshold",
                                 marker=dict(color=ANOMALY, size=12, symbol="x")))
    fig.update_xaxes(title_text="false positive rate", range=[-0.02, 1.02])
    fig.update_yaxes(title_text="true positive rate (recall)", range=[-0.02, 1.02])
    return _layout(fig, "ROC curve", height=340)


def pr_curve(recall: np.ndarray, precision: np.ndarray, ap: float | None, point: tuple[float, float] | None,
             base_rate: float | None = None) -> go.Figure:
    """Precision-recall curve with the current operating point."""
    fig = go.Figure()
    if base_rate is not None:
        fig.add_trace(go.Scatter(x=[0, 1], y=[base_rate, base_rate], mode="lines", name="chance",
                                 line=dict(color=MUTED, dash="dot")))
    fig.add_trace(go.Scatter(x=recall, y=precision, mode="lines", line=dict(color=NORMAL, width=2),
                             name=f"PR (AP {ap:.3f})" if ap is not None else "PR"))
    if point is not None:
        fig.add_trace(go.Scatter(x=[point[0]], y=[point[1]], mode="markers", name="threshold",
                                 marker=dict(color=ANOMALY, size=12, symbol="x")))
    fig.update_xaxes(title_text="recall", range=[-0.02, 1.02])
    fig.update_yaxes(title_text="precision", range=[-0.02, 1.05])
    return _layout(fig, "Precision-recall curve", height=340)


def _spans(starts: np.ndarray, ends: np.ndarray, limit: int = MAX_SHAPES) -> list[tuple[int, int]]:
    """At most ``limit`` (start, end) index spans, merging neighbours when there are more."""
    spans = list(zip(np.asarray(starts).tolist(), np.asarray(ends).tolist()))
    while len(spans) > limit:
        merged = [(spans[i][0], spans[i + 1][1] if i + 1 < len(spans) else spans[i][1])
                  for i in range(0, len(spans), 2)]
        spans = merged
    return spans


def series_with_scores(x, values: np.ndarray, feature_names: Sequence[str], scores: np.ndarray, threshold: float,
                       *, label_spans: tuple[np.ndarray, np.ndarray] | None = None,
                       event_spans: tuple[np.ndarray, np.ndarray] | None = None,
                       train_span: tuple | None = None, zoom: tuple | None = None,
                       max_features: int = 4, height: int | None = None) -> go.Figure:
    """The series on top (flagged points in orange), the score below on a shared time axis.

    Labelled anomaly windows are shaded red, detected events orange, the training range grey.
    ``*_spans`` are (start_index, end_index) arrays (inclusive).
    """
    x = np.asarray(x)
    values = np.asarray(values, dtype=float)
    if values.ndim == 1:
        values = values[:, None]
    scores = np.asarray(scores, dtype=float)
    flags = scores > threshold
    shown = list(range(min(values.shape[1], max_features)))
    index = decimate(np.column_stack([values[:, shown], scores]), flags)
    n_panels = len(shown) + 1
    fig = make_subplots(rows=n_panels, cols=1, shared_xaxes=True, vertical_spacing=0.03,
                        row_heights=[0.62 / len(shown)] * len(shown) + [0.38])
    palette = [NORMAL, "#10b981", "#8b5cf6", "#0ea5e9"]
    xi = x[index]
    where = np.flatnonzero(flags[index])
    for k in shown:
        fig.add_trace(go.Scattergl(x=xi, y=values[index, k], mode="lines", name=str(feature_names[k]),
                                   line=dict(width=1, color=palette[k % len(palette)])), row=k + 1, col=1)
        fig.update_yaxes(title_text=str(feature_names[k]), row=k + 1, col=1)
        if where.size:
            fig.add_trace(go.Scattergl(x=xi[where], y=values[index[where], k], mode="markers", name="flagged",
                                       legendgroup="flagged", showlegend=k == 0,
                                       marker=dict(color=FLAGGED, size=6, line=dict(width=0))), row=k + 1, col=1)
    fig.add_trace(go.Scattergl(x=xi, y=scores[index], mode="lines", name="score", line=dict(width=1, color="#374151")),
                  row=n_panels, col=1)
    if where.size:
        fig.add_trace(go.Scattergl(x=xi[where], y=scores[index[where]], mode="markers", showlegend=False,
                                   legendgroup="flagged", marker=dict(color=FLAGGED, size=5)), row=n_panels, col=1)
    fig.add_hline(y=threshold, line=dict(color=THRESHOLD, width=1.5, dash="dash"), row=n_panels, col=1,
                  annotation_text=f"threshold {threshold:.4g}", annotation_position="top left")
    shapes = []
    n = x.size
    yrefs = ["y domain"] + [f"y{i} domain" for i in range(2, n_panels + 1)]

    def _rect(x0, x1, colour, opacity):
        for yref in yrefs:
            shapes.append(dict(type="rect", xref="x", yref=yref, x0=x0, x1=x1, y0=0, y1=1, fillcolor=colour,
                               opacity=opacity, line=dict(width=0), layer="below"))

    if train_span is not None:
        _rect(train_span[0], train_span[1], MUTED, 0.12)
    if label_spans is not None:
        for a, b in _spans(*label_spans):
            _rect(x[max(0, a)], x[min(n - 1, b)], ANOMALY, 0.15)
    if event_spans is not None:
        for a, b in _spans(*event_spans):
            _rect(x[max(0, a)], x[min(n - 1, b)], FLAGGED, 0.18)
    fig.update_layout(shapes=shapes)
    # legend entries for the shaded areas
    for name, colour in (("labelled anomaly", ANOMALY), ("detected event", FLAGGED), ("training range", MUTED)):
        if (name == "labelled anomaly" and label_spans is not None and len(label_spans[0])) or \
           (name == "detected event" and event_spans is not None and len(event_spans[0])) or \
           (name == "training range" and train_span is not None):
            fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=name,
                                     marker=dict(color=colour, size=12, symbol="square", opacity=0.5)), row=1, col=1)
    fig.update_yaxes(title_text="score", row=n_panels, col=1)
    if zoom is not None:
        fig.update_xaxes(range=list(zoom))
    fig.update_layout(dragmode="zoom")
    return _layout(fig, None, height=height or 220 + 150 * n_panels)
