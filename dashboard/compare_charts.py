"""Figures of the Compare page: agreement heat maps, score distributions and score overlays."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard.compute import minmax_indices

#: One colour per compared run in overlays and distributions (at most three are overlaid).
RUN_COLOURS = ["#2563eb", "#f97316", "#16a34a", "#9333ea", "#dc2626", "#0891b2", "#ca8a04", "#4b5563"]


def _layout(fig: go.Figure, title: str, height: int = 340, **extra) -> go.Figure:
    fig.update_layout(title=dict(text=title, font=dict(size=14)), height=height, template="plotly_white", **extra)
    if fig.layout.margin.b is None:
        fig.update_layout(margin=dict(l=10, r=10, t=40, b=10))
    return fig


def _short(name: str, limit: int = 28) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


def agreement_heatmap(table: pd.DataFrame, title: str, low: float = -1.0) -> go.Figure:
    """A square table (runs × runs) as a heat map with the value written in each cell."""
    names = [_short(str(n)) for n in table.index]
    values = table.to_numpy(dtype=float)
    text = [["–" if np.isnan(v) else f"{v:.2f}" for v in row] for row in values]
    fig = go.Figure(go.Heatmap(z=values, x=names, y=names, zmin=low, zmax=1.0, colorscale="Blues", text=text,
                               texttemplate="%{text}", hovertemplate="%{y} vs %{x}: %{text}<extra></extra>",
                               showscale=False))
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(tickangle=-30)
    return _layout(fig, title, height=120 + 40 * max(3, len(names)))


def score_distributions(scores: pd.DataFrame, names: Sequence[str]) -> go.Figure:
    """Histograms of each run's normalised scores (rank among its own training scores) on the tested rows."""
    fig = go.Figure()
    for i, name in enumerate(names):
        fig.add_trace(go.Histogram(x=scores[name], name=_short(name), nbinsx=40, opacity=0.55,
                                   marker_color=RUN_COLOURS[i % len(RUN_COLOURS)]))
    fig.update_layout(barmode="overlay", legend=dict(orientation="h", y=-0.3, yanchor="top", x=0),
                      margin=dict(l=10, r=10, t=40, b=90))
    fig.update_xaxes(title="rank among the run's training scores", range=[0, 1.02])
    fig.update_yaxes(title="tested rows")
    return _layout(fig, "Score distributions (tested rows)", height=120 + 40 * max(3, len(names)) + 120)


def score_overlay(x, scores: pd.DataFrame, names: Sequence[str], thresholds: Sequence[float],
                  label_spans: tuple[np.ndarray, np.ndarray] | None = None, x_title: str = "row") -> go.Figure:
    """The scores of two or three runs on one scale over the rows, each with its threshold as a dotted line."""
    values = scores[list(names)].to_numpy(dtype=float)
    keep = minmax_indices(values)
    x = np.asarray(x)
    fig = go.Figure()
    for i, name in enumerate(names):
        colour = RUN_COLOURS[i % len(RUN_COLOURS)]
        fig.add_trace(go.Scatter(x=x[keep], y=values[keep, i], mode="lines", name=_short(name),
                                 line=dict(color=colour, width=1.2)))  # SVG: see charts.SVG_MAX_MARKERS
        fig.add_hline(y=float(thresholds[i]), line=dict(color=colour, dash="dot", width=1))
    if label_spans is not None:
        for start, end in list(zip(*label_spans))[:150]:
            fig.add_vrect(x0=x[int(start)], x1=x[int(end)], fillcolor="#ef4444", opacity=0.12, line_width=0)
    fig.update_layout(legend=dict(orientation="h", y=-0.25, yanchor="top", x=0), hovermode="x unified",
                      margin=dict(l=10, r=10, t=40, b=90))
    fig.update_xaxes(title=x_title)
    fig.update_yaxes(title="rarity (log10)", rangemode="tozero")
    return _layout(fig, "Scores side by side: how rare each row is among the run's training rows", height=380)
