"""Plotly figure builders: plain arrays and frames in, a figure out (no Streamlit, no models).

Every builder is a pure function so that it can be unit-tested and reused by the HTML report.
Long inputs are decimated (see :mod:`dashboard.compute`), so a million scored rows stay
interactive in the browser. Lines are SVG paths; markers are SVG up to :data:`SVG_MAX_MARKERS`
in a figure and WebGL beyond (:func:`marker_trace_type`).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.thresholds import apply_threshold

from .compute import MAX_FLAGGED_POINTS, MAX_SERIES_POINTS, Histogram, decimate, minmax_indices

NORMAL = "#3b82f6"
ANOMALY = "#ef4444"
FLAGGED = "#f97316"
RECON = "#f59e0b"
THRESHOLD = "#111827"
MUTED = "#9ca3af"
TEMPLATE = "plotly_white"  # used by the HTML report
#: Most shaded windows drawn on a series (more would make the chart sluggish).
MAX_SHAPES = 150
#: Most markers one figure draws as SVG elements; more are drawn with WebGL. Measured in headless
#: Chromium (WebGL in software, as on a machine without a GPU): 2,000 markers take 0.12 s as SVG
#: and 0.30 s with WebGL, 5,000 take 0.35 s either way, 20,000 take 1.3 s and 0.6 s. Lines are
#: always SVG: a line of 4,000 points takes 0.06 s as an SVG path against 0.7 s with WebGL (and
#: 100,000 points 0.1 s against 4 s), and WebGL charts made the Results page wait seconds.
SVG_MAX_MARKERS = 5000


def marker_trace_type(n_markers: int) -> str:
    """The trace type for a figure's markers: ``scatter`` (SVG) when it draws at most
    :data:`SVG_MAX_MARKERS` of them in all, else ``scattergl`` (WebGL)."""
    return "scatter" if n_markers <= SVG_MAX_MARKERS else "scattergl"


#: Margins (px) that fit the usual y tick labels and axis title, and x tick labels and title.
CHART_MARGIN_LEFT, CHART_MARGIN_BOTTOM = 84, 68


def _margins(title: bool, left: int = CHART_MARGIN_LEFT, bottom: int = CHART_MARGIN_BOTTOM) -> dict:
    """A chart's margins in Streamlit's theme, whose axes grow the margins to fit their labels.

    Set as wide as the labels usually need, the chart is laid out once; set narrower, plotly.js
    lays it out, finds that the labels do not fit and draws it all again (twice the work).
    """
    return dict(l=left, r=10, t=48 if title else 40, b=bottom)


def _layout_dict(title: str | None = None, height: int = 360, **extra) -> dict:
    """Common layout. No template here: Streamlit applies its theme, the HTML report applies
    ``plotly_white`` (a template costs validation time on every threshold change)."""
    # datarevision: Streamlit draws each chart twice when it appears (once more to apply its theme);
    # a fixed revision tells plotly.js that the data arrays of that second drawing are unchanged,
    # which saves recomputing them. New data always arrives as a new chart element (Streamlit's id
    # of a chart includes its figure), drawn from scratch, so the revision never hides a change.
    layout = dict(height=height, margin=_margins(bool(title)),
                  legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1.0),
                  hovermode="closest", datarevision=1)
    if title:
        layout["title"] = dict(text=title, x=0.0, xanchor="left", font=dict(size=15))
    layout.update(extra)
    return layout


def _figure(traces: list, layout: dict) -> go.Figure:
    """A figure from plain trace and layout dicts, without plotly's property validation.

    Validating every property was most of the server's time on a threshold move; these dicts are
    only ever built by the functions here, and the tests check that the figure is the one
    validation would give (same JSON). Named colour scales are left to validated figures: plotly
    expands them, and plotly.js's own scales of the same name differ. Later changes to such a
    figure are not validated either (a template given by name would stay a bare name): change a
    validated copy, ``go.Figure(fig)``.
    """
    return go.Figure(data=traces, layout=layout, _validate=False)


def _layout(fig: go.Figure, title: str | None = None, height: int = 360, **extra) -> go.Figure:
    fig.update_layout(**_layout_dict(title, height, **extra))
    return fig


def _line_shape(value: float, *, vertical: bool, yaxis: str = "y", colour: str = THRESHOLD, dash: str = "dash",
                width: float = 1.5) -> dict:
    """A full-width (or full-height) line as a plain shape dict, on x axis "x" and y axis ``yaxis``."""
    if vertical:
        return dict(type="line", xref="x", yref=f"{yaxis} domain", x0=value, x1=value, y0=0, y1=1,
                    line=dict(color=colour, width=width, dash=dash))
    return dict(type="line", xref="x domain", yref=yaxis, x0=0, x1=1, y0=value, y1=value,
                line=dict(color=colour, width=width, dash=dash))


def _line_label(value: float, text: str, *, vertical: bool, yaxis: str = "y", colour: str = THRESHOLD,
                angle: float = 0) -> dict:
    if vertical:
        return dict(x=value, xref="x", y=1, yref=f"{yaxis} domain", text=text, showarrow=False,
                    xanchor="left", yanchor="top", textangle=angle, font=dict(size=11, color=colour))
    return dict(x=0, xref="x domain", y=value, yref=yaxis, text=text, showarrow=False,
                xanchor="left", yanchor="bottom", font=dict(size=11, color=colour))


def _corner_legend(side: str) -> dict:
    """A legend inside the plot's lower corner, where ROC and PR curves leave room, so that it never
    sits on the title (the default legend above the plot collides with long titles)."""
    return dict(orientation="v", yanchor="bottom", y=0.02, xanchor=side, x=0.98 if side == "right" else 0.02,
                bgcolor="rgba(255,255,255,0.7)")


def _below_legend() -> dict:
    """A legend under the plot: a row view's title is long, and a legend above would sit on it."""
    return dict(orientation="h", yanchor="top", y=-0.18, xanchor="left", x=0.0)


def _staggered(positions: Sequence[float], span: float, levels: int = 3) -> list[float]:
    """Heights (in paper units, 1 = top) for labels at ``positions`` so that labels closer than 6% of
    ``span`` to the previous one step down instead of printing over each other."""
    heights, last, level = [], None, 0
    for where in positions:
        level = (level + 1) % levels if last is not None and abs(where - last) < 0.06 * span else 0
        heights.append(1.0 - 0.3 * level)
        last = where
    return heights


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
                  max_rows: int = 50_000) -> go.Figure:
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
    if label is not None:  # normal first (drawn below), in the product's colours
        groups.sort(key=lambda group: str(group[0]) != "normal")
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
    fig = _layout(fig, height=max(260, 230 * n_rows) + 30)
    fig.update_layout(margin=dict(t=70), legend=dict(y=0.99, yanchor="top", yref="container"))
    return fig


def _float_matrix(frame: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """The columns as one float matrix, in one copy of them (a long series' columns are large);
    cells that are not numbers become NaN."""
    matrix = np.empty((len(frame), len(columns)))
    for i, column in enumerate(columns):
        cells = frame[column]
        if pd.api.types.is_numeric_dtype(cells) or pd.api.types.is_bool_dtype(cells):
            matrix[:, i] = cells.to_numpy(dtype=float, na_value=np.nan)
        else:
            matrix[:, i] = pd.to_numeric(cells, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return matrix


def series_preview(time: pd.Series | np.ndarray, frame: pd.DataFrame, columns: Sequence[str],
                   label: np.ndarray | None = None) -> go.Figure:
    """The chosen columns over time (decimated), labelled anomalies marked."""
    columns = list(columns)[:8]
    if not columns:
        return empty_figure("Choose one or more numeric columns to plot.")
    values = _float_matrix(frame, columns)
    keep = None if label is None else np.asarray(label).astype(bool)
    index = decimate(np.nan_to_num(values) if np.isnan(values).any() else values, keep)
    x = np.asarray(time)[index]
    fig = make_subplots(rows=len(columns), cols=1, shared_xaxes=True, vertical_spacing=0.03,
                        subplot_titles=None)
    where = np.flatnonzero(keep[index]) if keep is not None else np.array([], dtype=int)
    markers = marker_trace_type(where.size * len(columns))
    for i, column in enumerate(columns):
        fig.add_trace(go.Scatter(x=x, y=values[index, i], mode="lines", name=column,
                                 line=dict(width=1, color=NORMAL)), row=i + 1, col=1)
        fig.update_yaxes(title_text=column, row=i + 1, col=1)
        if where.size:
            fig.add_trace(dict(type=markers, x=x[where], y=values[index, i][where], mode="markers",
                               name="labelled anomaly", marker=dict(color=ANOMALY, size=5), showlegend=i == 0,
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
    return _layout(fig, title, height=360, legend=_below_legend(), margin=_margins(bool(title), bottom=100))


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
    return _layout(fig, title, height=360, legend=_below_legend(), margin=_margins(bool(title), bottom=100))


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


#: Rows wider than this are one signal (a heartbeat, a spectrum): their contributions are a curve.
WIDE_ROW = 30


def _contribution_curve(values: np.ndarray, feature_names: Sequence[str], top: int, title: str) -> go.Figure:
    """Each feature's contribution in the row's own order, the strongest few marked: where along a
    signal the row departs from normal, which a bar per feature out of 140 cannot show."""
    names = [str(n) for n in feature_names]
    total = values.sum()
    strongest = np.sort(np.argsort(-values, kind="stable")[:min(top, 5)])
    fig = go.Figure([
        go.Scatter(x=names, y=values, mode="lines", fill="tozeroy", line=dict(color=ANOMALY, width=1.5),
                   fillcolor="rgba(239,68,68,0.25)", name="contribution", showlegend=False,
                   hovertemplate="%{x}: %{y:.4g}<extra></extra>"),
        go.Scatter(x=[names[i] for i in strongest], y=values[strongest], mode="markers+text",
                   marker=dict(color=ANOMALY, size=7), showlegend=False, textposition="top center",
                   text=[f"{names[i]} ({values[i] / total:.0%})" if total > 0 else names[i] for i in strongest],
                   textfont=dict(size=10), hoverinfo="skip")])
    fig.update_xaxes(type="category", title_text="feature (in the row's order)", nticks=12)
    fig.update_yaxes(title_text="contribution to the score", rangemode="tozero")
    return _layout(fig, title or "Features driving the score", height=300)


def contributions(values: np.ndarray, feature_names: Sequence[str], top: int = 12, title: str = "") -> go.Figure:
    """Horizontal bars of the features that contribute most to a row's score.

    The feature axis is categorical, so numeric column names (a heartbeat's 0..139) stay labels
    instead of becoming positions; beyond ``top`` features the rest are summed into one "other" bar.
    """
    values = np.asarray(values, dtype=float).ravel()
    if values.size > WIDE_ROW:
        return _contribution_curve(values, feature_names, top, title)
    order = np.argsort(-values, kind="stable")
    shown, rest = order[:top], order[top:]
    bars = [float(v) for v in values[shown]]
    names = [str(feature_names[i]) for i in shown]
    if rest.size:
        bars.append(float(values[rest].sum()))
        names.append(f"other {rest.size} features")
    total = values.sum()
    share = [b / total if total > 0 else 0.0 for b in bars]
    bars, names, share = bars[::-1], names[::-1], share[::-1]  # largest on top
    colours = [MUTED if rest.size and i == 0 else ANOMALY for i in range(len(bars))]
    fig = go.Figure(go.Bar(x=bars, y=names, orientation="h", marker_color=colours,
                           text=[f"{s:.0%}" for s in share], textposition="outside", textangle=0,
                           cliponaxis=False, hovertemplate="%{y}: %{x:.4g}<extra></extra>"))
    fig.update_xaxes(title_text="contribution to the score")
    fig.update_yaxes(type="category", automargin=True)
    return _layout(fig, title or "Features driving the score", height=max(240, 26 * len(bars) + 90))


# ------------------------------------------------------------------------------------------------
# Threshold-dependent views
# ------------------------------------------------------------------------------------------------
def score_scatter(scores: np.ndarray, y: np.ndarray | None, threshold: float, x=None,
                  x_title: str = "test row", title: str = "Anomaly score per row", time_axis: bool = False,
                  log_y: bool = False) -> go.Figure:
    """Score per row coloured by true class, with the threshold line (long inputs decimated)."""
    scores = np.asarray(scores, dtype=float)
    x = np.arange(scores.size) if x is None else np.asarray(x)
    classes = [("normal", NORMAL, np.ones(scores.size, bool) if y is None else np.asarray(y) == 0)]
    if y is not None:
        classes.append(("anomaly", ANOMALY, np.asarray(y) == 1))
    traces = []
    for name, colour, mask in classes:
        where = np.flatnonzero(mask)
        if where.size == 0:
            continue
        part = scores[where]
        keep = decimate(part, apply_threshold(part, threshold).astype(bool))
        traces.append(dict(x=x[where[keep]], y=part[keep], mode="markers",
                           name=name if y is not None else "score", marker=dict(color=colour, size=4, opacity=0.7)))
    markers = marker_trace_type(sum(len(trace["x"]) for trace in traces))
    for trace in traces:
        trace["type"] = markers
    xaxis = dict(title=dict(text=x_title))
    if time_axis:
        xaxis["type"] = "date"
    yaxis = dict(title=dict(text="score"))
    label_at = threshold
    if log_y and threshold > 0:  # positive scores over orders of magnitude
        # one tick per power of ten: plotly's default log ticks ("5 2 5 100µ") crowd a short axis
        yaxis.update(type="log", title=dict(text="score (log scale)"), dtick=1, exponentformat="power")
        label_at = float(np.log10(threshold))  # annotations on a log axis take log10 positions, shapes do not
    layout = _layout_dict(title, 340, xaxis=xaxis, yaxis=yaxis, margin=_margins(bool(title), bottom=84 if time_axis else
                                                                                 CHART_MARGIN_BOTTOM),
                          shapes=[_line_shape(threshold, vertical=False)],
                          annotations=[_line_label(label_at, f"threshold {threshold:.4g}", vertical=False)])
    return _figure(traces, layout)


def score_histogram(hist: Histogram, threshold: float, strategies: dict[str, float] | None = None,
                    labels: dict[str, str] | None = None) -> go.Figure:
    """Score distribution per class (pre-binned) with the threshold and where each strategy would put it."""
    centres = (hist.edges[:-1] + hist.edges[1:]) / 2
    width = float(hist.edges[1] - hist.edges[0])
    shown = 10 ** centres if hist.log else centres  # the score each bar stands for, for hovering
    hover = "score ≈ %{customdata:.3g}: %{y} rows<extra>%{fullData.name}</extra>"
    traces = [dict(type="bar", x=centres, y=hist.normal, width=width, customdata=shown, hovertemplate=hover,
                   name="normal" if hist.anomaly is not None else "rows", marker=dict(color=NORMAL), opacity=0.65)]
    if hist.anomaly is not None:
        traces.append(dict(type="bar", x=centres, y=hist.anomaly, width=width, name="anomaly", customdata=shown,
                           hovertemplate=hover, marker=dict(color=ANOMALY), opacity=0.65))
    at = hist.position(threshold)
    shapes = [_line_shape(at, vertical=True)]
    annotations = [_line_label(at, f"threshold {threshold:.4g}", vertical=True)]
    rules = []
    span = float(hist.edges[-1] - hist.edges[0]) or 1.0
    for name, value in (strategies or {}).items():
        if not np.isfinite(value):
            continue
        where = hist.position(value)
        # a rule that sits on the threshold line would only print over it (the caption lists them all)
        if hist.edges[0] <= where <= hist.edges[-1] and abs(where - at) > max(width / 4, 0.02 * span):
            rules.append((where, (labels or {}).get(name, name)))
    rules.sort()
    # the threshold's own label runs along the top to the right of its line: rule labels beside it
    # start lower down, so that the two never print over each other
    beside = [abs(where - at) < 0.12 * span for where, _ in rules]
    for ((where, text), height), low in zip(zip(rules, _staggered([w for w, _ in rules], span)), beside):
        if low:
            height = min(height, 0.8)
        shapes.append(_line_shape(where, vertical=True, colour=MUTED, dash="dot", width=1))
        label = _line_label(where, text, vertical=True, colour=MUTED, angle=-90)
        label["y"] = height
        annotations.append(label)
    xaxis = dict(title=dict(text="score"))
    if hist.log:  # bars are binned on log10(score); label the ticks in score units
        ticks = np.arange(np.floor(hist.edges[0]), np.ceil(hist.edges[-1]) + 1)
        xaxis.update(title=dict(text="score (log scale)"), tickvals=ticks, ticktext=[f"{10 ** t:g}" for t in ticks],
                     range=[float(hist.edges[0]), float(hist.edges[-1])])
    title = "Score distribution per class" if hist.anomaly is not None else "Score distribution"
    layout = _layout_dict(title, 340, barmode="overlay", bargap=0,
                          xaxis=xaxis, yaxis=dict(title=dict(text="rows")),
                          shapes=shapes, annotations=annotations)
    return _figure(traces, layout)


def confusion_matrix(tn: int, fp: int, fn: int, tp: int) -> go.Figure:
    """2x2 heatmap: rows = true class, columns = predicted class, counts and row shares written in."""
    counts = np.array([[tn, fp], [fn, tp]], dtype=float)
    totals = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    text = [[f"<b>{int(counts[i, j]):,}</b><br>{share[i, j]:.1%}" for j in range(2)] for i in range(2)]
    trace = dict(type="heatmap", z=share, x=["predicted normal", "predicted anomaly"],
                 y=["true normal", "true anomaly"], text=text, texttemplate="%{text}", textfont=dict(size=16),
                 colorscale="Blues", zmin=0, zmax=1, showscale=False,
                 hovertemplate="%{y}, %{x}: %{text}<extra></extra>")
    layout = _layout_dict("Confusion matrix (test part)", 320, yaxis=dict(autorange="reversed"),
                          margin=_margins(True, left=96))  # "true anomaly" is wider than numbers
    return go.Figure(data=[trace], layout=layout)


def roc_curve(fpr: np.ndarray, tpr: np.ndarray, auc: float | None, point: tuple[float, float] | None) -> go.Figure:
    """ROC curve with the current operating point."""
    traces = [dict(type="scatter", x=[0, 1], y=[0, 1], mode="lines", line=dict(color=MUTED, dash="dot"), name="chance"),
              dict(type="scatter", x=fpr, y=tpr, mode="lines", line=dict(color=NORMAL, width=2),
                   name=f"ROC (AUC {auc:.3f})" if auc is not None else "ROC")]
    if point is not None:
        traces.append(dict(type="scatter", x=[point[0]], y=[point[1]], mode="markers", name="threshold",
                           marker=dict(color=ANOMALY, size=12, symbol="x")))
    layout = _layout_dict("ROC curve", 340, xaxis=dict(title=dict(text="false positive rate"), range=[-0.02, 1.02]),
                          yaxis=dict(title=dict(text="true positive rate (recall)"), range=[-0.02, 1.02]),
                          legend=_corner_legend("right"))
    return _figure(traces, layout)


def pr_curve(recall: np.ndarray, precision: np.ndarray, ap: float | None, point: tuple[float, float] | None,
             base_rate: float | None = None) -> go.Figure:
    """Precision-recall curve with the current operating point."""
    traces = []
    if base_rate is not None:
        traces.append(dict(type="scatter", x=[0, 1], y=[base_rate, base_rate], mode="lines", name="chance",
                           line=dict(color=MUTED, dash="dot")))
    traces.append(dict(type="scatter", x=recall, y=precision, mode="lines", line=dict(color=NORMAL, width=2),
                       name=f"PR (AP {ap:.3f})" if ap is not None else "PR"))
    if point is not None:
        traces.append(dict(type="scatter", x=[point[0]], y=[point[1]], mode="markers", name="threshold",
                           marker=dict(color=ANOMALY, size=12, symbol="x")))
    layout = _layout_dict("Precision-recall curve", 340,
                          xaxis=dict(title=dict(text="recall"), range=[-0.02, 1.02]),
                          yaxis=dict(title=dict(text="precision"), range=[-0.02, 1.05]),
                          legend=_corner_legend("left"))
    return _figure(traces, layout)


def _spans(starts: np.ndarray, ends: np.ndarray, limit: int = MAX_SHAPES) -> tuple[np.ndarray, np.ndarray]:
    """At most about ``limit`` (start, end) index spans: when there are more, the neighbours with the
    smallest gaps between them are joined first, so the picture stays faithful when zoomed out."""
    starts, ends = np.asarray(starts, dtype=np.int64), np.asarray(ends, dtype=np.int64)
    if starts.size <= limit:
        return starts, ends
    gaps = starts[1:] - ends[:-1]
    cut = np.partition(gaps, gaps.size - limit)[gaps.size - limit]
    keep_gap = gaps > cut  # gaps at or below the cut are filled in
    new_start = np.r_[True, keep_gap]
    new_end = np.r_[keep_gap, True]
    return starts[new_start], ends[new_end]


def span_outline(x: np.ndarray, starts: np.ndarray, ends: np.ndarray, low: float, high: float,
                 limit: int = MAX_SHAPES) -> tuple[list, list]:
    """Closed rectangles (x, y with None separators) covering index spans, for one filled trace.

    One trace with a few thousand points draws hundreds of shaded windows far faster than as many
    layout shapes (each shape is validated separately).
    """
    a, b = _spans(starts, ends, limit)
    if a.size == 0:
        return [], []
    n = x.size
    x0, x1 = x[np.clip(a, 0, n - 1)], x[np.clip(b, 0, n - 1)]
    # plain values with None between rectangles: NaN gaps would be read as 1970 on a date axis
    xs = np.empty(6 * a.size, dtype=object)
    ys = np.empty(6 * a.size, dtype=object)
    for offset, (xv, yv) in enumerate(((x0, low), (x0, high), (x1, high), (x1, low), (x0, low))):
        xs[offset::6] = xv
        ys[offset::6] = yv
    return xs.tolist(), ys.tolist()


def series_index(values: np.ndarray, scores: np.ndarray, max_features: int = 4,
                 features: Sequence[int] | None = None) -> np.ndarray:
    """Rows kept when drawing a long series (extremes of every shown column and of the score).

    ``features`` are the column indices drawn (default: the first ``max_features``).
    """
    values = np.asarray(values, dtype=float)
    if values.ndim == 1:
        values = values[:, None]
    shown = list(features) if features is not None else list(range(min(values.shape[1], max_features)))
    columns = np.column_stack([values[:, shown], scores])
    return minmax_indices(columns, max(1000, MAX_SERIES_POINTS // columns.shape[1]))


def zoom_index(x: np.ndarray, columns: np.ndarray, zoom: tuple) -> np.ndarray:
    """Rows inside the x range ``zoom``, at full resolution (every row) unless there are more
    than the series budget, then the extremes of each bucket of that range only.

    Added to the decimated whole series, so that a zoomed view shows the real plateaus and ramps
    instead of the straight lines between the points kept for the whole series.
    """
    x = np.asarray(x)
    low, high = sorted(zoom)
    inside = np.flatnonzero((x >= low) & (x <= high))
    if inside.size == 0:
        return inside
    columns = np.asarray(columns, dtype=float)
    if columns.ndim == 1:
        columns = columns[:, None]
    keep = minmax_indices(columns[inside], max(MAX_SERIES_POINTS, 4 * MAX_SERIES_POINTS // columns.shape[1]))
    # one row either side, so the lines run on to the edges of the view
    return np.unique(np.r_[max(0, inside[0] - 1), inside[keep], min(x.size - 1, inside[-1] + 1)])


def series_with_scores(x, values: np.ndarray, feature_names: Sequence[str], scores: np.ndarray, threshold: float,
                       *, label_spans: tuple[np.ndarray, np.ndarray] | None = None,
                       event_spans: tuple[np.ndarray, np.ndarray] | None = None,
                       train_span: tuple | None = None, zoom: tuple | None = None,
                       max_features: int = 4, height: int | None = None, base_index: np.ndarray | None = None,
                       time_axis: bool = False, dragmode: str = "zoom",
                       features: Sequence[int] | None = None) -> go.Figure:
    """The series (one panel per feature, flagged points orange) above the score, on one time axis.

    Labelled anomaly windows are shaded red, detected events orange, the training range grey.
    ``*_spans`` are (start_index, end_index) arrays, both ends included. ``features`` are the
    column indices drawn (default: the first ``max_features``); with ``zoom`` (an x range) the
    rows inside it are drawn at full resolution.
    """
    x = np.asarray(x)
    values = np.asarray(values, dtype=float)
    if values.ndim == 1:
        values = values[:, None]
    scores = np.asarray(scores, dtype=float)
    flags = apply_threshold(scores, threshold).astype(bool)
    shown = list(features) if features is not None else list(range(min(values.shape[1], max_features)))
    columns = [values[:, k] for k in shown] + [scores]
    if base_index is None:
        base_index = series_index(values, scores, features=shown)
    flagged = np.flatnonzero(flags)
    if flagged.size > MAX_FLAGGED_POINTS:
        flagged = flagged[np.linspace(0, flagged.size - 1, MAX_FLAGGED_POINTS).round().astype(int)]
    index = np.union1d(base_index, flagged)
    if zoom is not None:
        index = np.union1d(index, zoom_index(x, np.column_stack(columns), zoom))
    n_panels = len(columns)
    gap = 0.03
    heights = [0.62 / len(shown)] * len(shown) + [0.38]
    palette = [NORMAL, "#10b981", "#8b5cf6", "#0ea5e9"]
    xi = x[index]
    where = np.flatnonzero(flags[index])
    traces, layout_axes, shapes, annotations = [], {}, [], []
    top = 1.0
    for panel, column in enumerate(columns):
        axis = "" if panel == 0 else str(panel + 1)
        bottom = max(0.0, top - heights[panel] + (gap if panel < n_panels - 1 else 0))
        is_score = panel == n_panels - 1
        name = "score" if is_score else str(feature_names[shown[panel]])
        layout_axes[f"yaxis{axis}"] = dict(domain=[bottom, top], anchor="x", title=dict(text=name))
        top = bottom - gap
        y_all = column
        low, high = float(np.min(y_all)), float(np.max(y_all))
        pad = (high - low) * 0.05 or 1.0
        low, high = low - pad, high + pad
        if is_score:
            high = max(high, threshold + pad)
            low = min(low, threshold - pad)
        layout_axes[f"yaxis{axis}"]["range"] = [low, high]
        fills = []
        if train_span is not None:
            t0, t1 = train_span
            fills.append(("training range", MUTED, 0.15,
                          ([t0, t0, t1, t1, t0], [low, high, high, low, low])))
        if label_spans is not None and len(label_spans[0]):
            fills.append(("labelled anomaly", ANOMALY, 0.18, span_outline(x, *label_spans, low, high)))
        if event_spans is not None and len(event_spans[0]):
            fills.append(("detected event", FLAGGED, 0.22, span_outline(x, *event_spans, low, high)))
        for label, colour, opacity, (fx, fy) in fills:
            traces.append(dict(type="scatter", x=fx, y=fy, xaxis="x", yaxis=f"y{axis}", mode="lines",
                               fill="toself", fillcolor=colour, opacity=opacity, line=dict(width=0),
                               hoverinfo="skip", name=label, legendgroup=label, showlegend=panel == 0))
        colour = "#374151" if is_score else palette[panel % len(palette)]
        traces.append(dict(type="scatter", x=xi, y=column[index], xaxis="x", yaxis=f"y{axis}", mode="lines",
                           name=name, line=dict(width=1, color=colour)))
        if where.size:
            traces.append(dict(type=marker_trace_type(where.size * n_panels), x=xi[where], y=column[index[where]], xaxis="x", yaxis=f"y{axis}",
                               mode="markers", name="flagged", legendgroup="flagged", showlegend=panel == 0,
                               marker=dict(color=FLAGGED, size=6 if not is_score else 5)))
        if is_score:
            shapes.append(_line_shape(threshold, vertical=False, yaxis=f"y{axis}"))
            annotations.append(_line_label(threshold, f"threshold {threshold:.4g}", vertical=False, yaxis=f"y{axis}"))
    xaxis = dict(anchor=f"y{n_panels if n_panels > 1 else ''}", domain=[0, 1])
    if time_axis:
        xaxis["type"] = "date"
    if zoom is not None:
        xaxis["range"] = list(zoom)
    layout = _layout_dict(None, height or 220 + 150 * n_panels, xaxis=xaxis, shapes=shapes, annotations=annotations,
                          dragmode=dragmode, selectdirection="h", **layout_axes)
    if dragmode in ("select", "lasso"):  # the click mode Streamlit sets for it: said here, it is not drawn twice more
        layout["clickmode"] = "event"
    layout["legend"] = dict(orientation="h", yanchor="bottom", y=1.0, xanchor="left", x=0.0)  # clear of the toolbar
    return _figure(traces, layout)
