"""The Results page's threshold figures are built without plotly's validation, for speed: each must
be exactly the figure a validated build gives (the JSON Streamlit sends to the browser)."""

import json

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
import pytest

from dashboard import charts
from dashboard.compute import ScoreView


def _validated(traces, layout):
    return go.Figure(data=traces, layout=layout)


def _both(monkeypatch, build):
    fast = json.loads(pio.to_json(build(), validate=False))
    with monkeypatch.context() as patched:
        patched.setattr(charts, "_figure", _validated)
        checked = json.loads(pio.to_json(build(), validate=False))
    return fast, checked


def _views():
    rng = np.random.default_rng(3)
    y = (rng.uniform(size=3000) < 0.05).astype(int)
    linear = rng.normal(size=3000) + 4 * y
    spread = np.exp(rng.normal(size=3000) * 3) * (1 + 50 * y)  # positive, over orders of magnitude: log axes
    return [ScoreView.build(linear, y), ScoreView.build(linear), ScoreView.build(spread, y)]


@pytest.mark.parametrize("which", range(3))
@pytest.mark.parametrize("threshold_at", [0.0, 0.5, 0.97, 1.0])
def test_threshold_figures_are_the_validated_figures(monkeypatch, which, threshold_at):
    view = _views()[which]
    threshold = float(np.quantile(view.scores, threshold_at))
    strategies = {"trained": threshold, "mean_std": threshold * 1.01 + 0.2, "percentile": float(view.scores.max()),
                  "nan": float("nan")}
    builders = {
        "scatter": lambda: charts.score_scatter(view.scores, view.y, threshold, log_y=view.hist.log),
        "histogram": lambda: charts.score_histogram(view.hist, threshold, strategies, {"trained": "as trained"}),
    }
    if view.roc is not None:
        metrics = view.at(threshold)
        builders["roc"] = lambda: charts.roc_curve(view.roc[0], view.roc[1], view.ranking["roc_auc"],
                                                   (metrics["fpr"], metrics["recall"]))
        builders["pr"] = lambda: charts.pr_curve(view.pr[0], view.pr[1], view.ranking["pr_auc"],
                                                 (metrics["recall"], metrics["precision"]), 0.05)
        builders["pr without a point"] = lambda: charts.pr_curve(view.pr[0], view.pr[1], None, None)
    for name, build in builders.items():
        fast, checked = _both(monkeypatch, build)
        assert fast == checked, name


@pytest.mark.parametrize("zoom", [False, True])
def test_series_figure_is_the_validated_figure(monkeypatch, zoom):
    rng = np.random.default_rng(5)
    n = 9000  # long enough to be decimated
    time = pd.date_range("2024-03-30", periods=n, freq="min", tz="Europe/Paris")
    x = time.tz_convert(None).to_numpy(dtype="datetime64[ns]").astype(np.int64) / 1e6
    values = rng.normal(size=(n, 3))
    scores = np.abs(rng.normal(size=n))
    scores[4000:4050] += 6
    labels = (np.array([100, 4000]), np.array([120, 4060]))
    events = (np.array([4001, 7000]), np.array([4049, 7000]))
    window = (x[3000], x[5000]) if zoom else None

    def build():
        return charts.series_with_scores(x, values, ["a", "b", "c"], scores, 3.0, label_spans=labels,
                                         event_spans=events, train_span=(float(x[0]), float(x[2000])), zoom=window,
                                         time_axis=True, dragmode="select")

    fast, checked = _both(monkeypatch, build)
    assert fast == checked


def test_the_html_report_still_applies_its_template_to_these_figures():
    from dashboard import report

    view = _views()[0]
    page = report._figure_html(charts.score_histogram(view.hist, 0.5, {}, {}), first=False)
    assert '"template":"plotly_white"' not in page.replace(" ", "")  # a name plotly.js cannot apply
    white = go.Figure(layout=dict(template=charts.TEMPLATE)).to_dict()["layout"]["template"]["layout"]
    assert json.dumps(white["plot_bgcolor"]) in page
