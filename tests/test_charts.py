"""Chart builders and the threshold maths behind the Results page (pure functions, no Streamlit)."""

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from core.errors import DataError
from core.metrics import classification_metrics
from dashboard import charts
from dashboard.compute import (ScoreView, decimate, histogram, minmax_indices, strategy_threshold, thin_curve)
from dashboard.results_view import human_duration


@pytest.fixture
def scored():
    rng = np.random.default_rng(0)
    y = (rng.uniform(size=2000) < 0.1).astype(int)
    scores = rng.normal(size=2000) + 3 * y
    return scores, y


def test_score_view_matches_core_metrics_at_any_threshold(scored):
    scores, y = scored
    view = ScoreView.build(scores, y)
    for threshold in (-10, -0.5, 0.0, 1.3, 2.5, float(scores.max()), 10):
        fast, reference = view.at(threshold), classification_metrics(y, scores, threshold)
        for key in ("tp", "fp", "tn", "fn", "precision", "recall", "f1", "accuracy", "n_flagged"):
            assert fast[key] == pytest.approx(reference[key]), key
        assert fast["roc_auc"] == pytest.approx(reference["roc_auc"])


def test_score_view_without_labels_counts_flags(scored):
    scores, _ = scored
    view = ScoreView.build(scores)
    assert view.at(0.0) == {"n_flagged": int((scores > 0).sum()), "n": scores.size, "threshold": 0.0}
    low, high, step = view.slider_range()
    assert low <= scores.min() and high >= scores.max() and 0 < step <= (high - low) / 100


def test_score_view_refuses_invalid_scores():
    with pytest.raises(DataError):
        ScoreView.build(np.array([1.0, np.nan]))
    with pytest.raises(DataError):
        ScoreView.build(np.array([]))


def test_minmax_decimation_keeps_extremes_and_bounds_size():
    rng = np.random.default_rng(1)
    values = rng.normal(size=1_000_000)
    values[123_457] = 50.0
    values[876_543] = -50.0
    index = minmax_indices(values, 4000)
    assert index.size <= 4100
    assert 123_457 in index and 876_543 in index and 0 in index and values.size - 1 in index
    assert np.all(np.diff(index) > 0)


def test_decimation_never_drops_flagged_points():
    values = np.sin(np.linspace(0, 100, 200_000))
    flags = np.zeros(values.size, bool)
    flags[np.arange(5, 200_000, 1001)] = True
    index = decimate(values, flags, 2000)
    assert np.isin(np.flatnonzero(flags), index).all()


def test_short_series_is_not_decimated():
    assert np.array_equal(minmax_indices(np.arange(10.0), 4000), np.arange(10))
    x, y = thin_curve(np.arange(50.0), np.arange(50.0), 20)
    assert x.size <= 20 and x[0] == 0 and x[-1] == 49


def test_histogram_counts_every_row_per_class(scored):
    scores, y = scored
    hist = histogram(scores, y)
    assert hist.normal.sum() == (y == 0).sum() and hist.anomaly.sum() == y.sum()


def _scored_run(scores, y, *, validation=True):
    """A ScoredRun over ``scores``: 500 normal rows fitted on, 400 validation rows, the rest tested."""
    from core.run import ScoredRun

    n = scores.size
    fit = np.zeros(n, bool)
    fit[np.flatnonzero(y == 0)[:500]] = True
    held = np.zeros(n, bool)
    if validation:
        held[np.flatnonzero(~fit)[:400]] = True
    return ScoredRun(pipeline=None, method="zscore", params={}, scores=scores, train_mask=fit | held,
                     test_mask=~(fit | held), fit_mask=fit, y=y, threshold=1.5, threshold_description="fixed",
                     metrics=None, fit_seconds=0.0, score_seconds=0.0, device="cpu", history={}, split="random",
                     validation_mask=held)


def test_strategies_are_fitted_on_the_rows_they_declare(scored):
    scores, y = scored
    run = _scored_run(scores, y)
    train, held = scores[run.fit_mask], run.validation_mask
    assert strategy_threshold(run, "trained") == 1.5 and strategy_threshold(run, "manual", 9.0) == 1.5
    assert strategy_threshold(run, "mean_std", 3.0) == pytest.approx(train.mean() + 3 * train.std())
    assert strategy_threshold(run, "percentile", 90.0) == pytest.approx(np.percentile(train, 90))
    # contamination is an expected share among the rows the model was fitted on, as at training time
    flagged = (train > strategy_threshold(run, "contamination", 0.1)).mean()
    assert flagged == pytest.approx(0.1, abs=0.003)
    best = strategy_threshold(run, "best_f1")
    assert best == pytest.approx(run.threshold_at("best_f1"))
    assert classification_metrics(y[held], scores[held], best)["f1"] >= \
        classification_metrics(y[held], scores[held], 1.5)["f1"]
    # one set of defaults: a strategy without a parameter uses core.thresholds.DEFAULTS, in core and here
    assert strategy_threshold(run, "mean_std") == pytest.approx(run.threshold_at("mean_std:k=3"))
    assert list(run.threshold_options())[:4] == ["trained", "mean_std", "percentile", "contamination"]


def test_best_f1_needs_held_out_rows(scored):
    scores, y = scored
    run = _scored_run(scores, y, validation=False)
    with pytest.raises(DataError, match="validation"):
        strategy_threshold(run, "best_f1")
    assert "best_f1" not in run.threshold_options()
    run.y = None
    run.validation_mask = _scored_run(scores, y).validation_mask
    run._parts.clear()
    with pytest.raises(DataError, match="label"):
        run.threshold_at("best_f1")


def test_markers_are_svg_for_short_inputs_and_webgl_for_long_ones(scored):
    scores, y = scored
    short = charts.score_scatter(scores, y, 2.0)
    assert sum(len(t.x) for t in short.data) <= charts.SVG_MAX_MARKERS
    assert {t.type for t in short.data} == {"scatter"}
    long_scores = np.tile(scores, 50)
    fig = charts.score_scatter(long_scores, np.tile(y, 50), 2.0)
    drawn = sum(len(t.x) for t in fig.data)
    assert charts.SVG_MAX_MARKERS < drawn < 20_000
    assert {t.type for t in fig.data} == {"scattergl"}  # one kind per figure: one layer of markers
    assert any(shape.type == "line" and shape.y0 == 2.0 for shape in fig.layout.shapes)


def test_lines_are_svg_paths_at_any_length():
    n = 200_000
    x = np.arange(n, dtype=float)
    values = np.sin(x / 100)[:, None]
    fig = charts.series_with_scores(x, values, ["v"], np.abs(values[:, 0]), 0.5)
    lines = [t for t in fig.data if t.mode == "lines" and t.fill != "toself"]
    assert lines and {t.type for t in lines} == {"scatter"}
    flagged = next(t for t in fig.data if t.name == "flagged")
    assert flagged.type == "scattergl"  # half the series scores above 0.5: thousands of markers
    preview = charts.series_preview(x, pd.DataFrame({"v": values[:, 0]}), ["v"], label=values[:, 0] > 0.99)
    assert {t.type for t in preview.data if t.mode == "lines"} == {"scatter"}


def test_confusion_matrix_shows_counts():
    fig = charts.confusion_matrix(50, 3, 2, 10)
    text = np.array(fig.data[0].text)
    assert "<b>50</b>" in text[0][0] and "<b>10</b>" in text[1][1]


def test_roc_and_pr_mark_the_operating_point():
    fig = charts.roc_curve(np.array([0, 0.5, 1]), np.array([0, 0.8, 1]), 0.8, (0.1, 0.7))
    assert list(fig.data[-1].x) == [0.1]
    fig = charts.pr_curve(np.array([0, 0.5, 1]), np.array([1, 0.8, 0.3]), 0.7, (0.5, 0.8), 0.1)
    assert list(fig.data[-1].y) == [0.8]


def test_reconstruction_shades_the_error():
    fig = charts.reconstruction(np.arange(5.0), np.arange(5.0) + 1, list("abcde"))
    assert fig.data[1].fill == "tonexty"


def test_profile_switches_to_standard_units_for_mixed_scales():
    same = charts.profile(np.array([1.0, 2.0]), np.array([1.0, 1.5]), np.array([0.5, 0.5]), ["a", "b"])
    mixed = charts.profile(np.array([20.0, 1013.0]), np.array([21.0, 1013.0]), np.array([2.0, 1.0]), ["t", "p"])
    assert same.layout.yaxis.title.text == "value"
    assert mixed.layout.yaxis.title.text.startswith("standard deviations")
    assert list(mixed.data[1].y) == pytest.approx([-0.5, 0.0])


def test_contributions_are_sorted_with_the_largest_on_top():
    fig = charts.contributions(np.array([0.1, 3.0, 1.0]), ["a", "b", "c"])
    assert list(fig.data[0].y) == ["a", "c", "b"]


def test_contributions_keep_numeric_names_as_labels_and_sum_the_rest():
    values = np.arange(25, dtype=float)  # 25 columns named 0..24
    fig = charts.contributions(values, [str(i) for i in range(25)], top=5)
    assert fig.layout.yaxis.type == "category"
    assert list(fig.data[0].y) == ["other 20 features", "20", "21", "22", "23", "24"]
    assert fig.data[0].x[0] == pytest.approx(values[:20].sum())


def test_contributions_of_a_wide_row_are_a_curve_along_the_row():
    values = np.zeros(140)  # a heartbeat's 140 columns named 0..139
    values[55:62] = [1, 3, 9, 12, 8, 2, 1]
    fig = charts.contributions(values, [str(i) for i in range(140)])
    curve, marks = fig.data
    assert fig.layout.xaxis.type == "category" and list(curve.x) == [str(i) for i in range(140)]
    assert list(marks.x) == ["56", "57", "58", "59", "60"]  # the strongest, in the row's order
    assert marks.text[2].startswith("58 (")


def test_curve_legends_sit_inside_the_plot_not_on_the_title():
    roc = charts.roc_curve(np.array([0, 1.0]), np.array([0, 1.0]), 0.5, (0.2, 0.4))
    pr = charts.pr_curve(np.array([0, 1.0]), np.array([1.0, 0.5]), 0.7, (0.3, 0.8), base_rate=0.3)
    for fig in (roc, pr):
        assert fig.layout.legend.yanchor == "bottom" and fig.layout.legend.y < 0.5


def test_histogram_rule_labels_close_together_are_staggered():
    from dashboard.compute import histogram

    hist = histogram(np.linspace(0, 10, 500), None)
    fig = charts.score_histogram(hist, 9.0, {"a": 2.0, "b": 2.1, "c": 2.2, "d": 6.0})
    heights = {a.text: a.y for a in fig.layout.annotations if a.text in "abcd"}
    assert len({heights["a"], heights["b"], heights["c"]}) == 3
    assert heights["d"] == 1.0


def test_log_score_axis_has_one_tick_per_power_of_ten():
    fig = charts.score_scatter(np.logspace(-6, 2, 50), None, 1.0, log_y=True)
    assert fig.layout.yaxis.type == "log" and fig.layout.yaxis.dtick == 1


def test_series_chart_has_one_panel_per_feature_plus_score():
    n = 5000
    x = pd.date_range("2024-01-01", periods=n, freq="min").to_numpy()
    values = np.column_stack([np.sin(np.arange(n) / 50), 1000 + np.cos(np.arange(n) / 50)])
    scores = np.abs(values[:, 0])
    fig = charts.series_with_scores(x, values, ["t", "p"], scores, 0.99,
                                    label_spans=(np.array([10]), np.array([20])),
                                    event_spans=(np.array([100]), np.array([110])), train_span=(x[0], x[1000]))
    assert {"y", "y2", "y3"} <= {t.yaxis for t in fig.data}
    assert {t.xaxis for t in fig.data} == {"x"}  # one shared time axis: zooming one panel zooms all
    shaded = [t for t in fig.data if t.fill == "toself"]
    assert len(shaded) == 9  # training range, labelled windows and events on each of the three panels
    assert sum(len(t.x) for t in fig.data if t.fill != "toself") < 20_000


def test_empty_inputs_give_messages_not_errors():
    assert charts.distributions(pd.DataFrame({"a": [1, 2]}), []).layout.annotations
    assert charts.loss_curves({}).layout.annotations


def test_human_duration():
    assert human_duration(pd.Timedelta(minutes=29)) == "29 min"
    assert human_duration(pd.Timedelta(0)) == "single step"
    assert human_duration(pd.Timedelta(days=2, hours=3)) == "2 d 3 h"
    assert human_duration(7) == "7 steps"


def test_histogram_switches_to_log_bins_for_scores_spanning_magnitudes():
    rng = np.random.default_rng(2)
    scores = np.r_[rng.uniform(1e-4, 3e-4, 900), rng.uniform(5e-3, 2e-2, 100)]
    y = np.r_[np.zeros(900, int), np.ones(100, int)]
    hist = histogram(scores, y)
    assert hist.log and hist.normal.sum() == 900
    fig = charts.score_histogram(hist, 1e-3, {"p": 2e-4})
    threshold_line = fig.layout.shapes[0]
    assert threshold_line.x0 == pytest.approx(-3.0)
    assert fig.layout.xaxis.ticktext[0].startswith("0.000")
    assert not histogram(np.linspace(-1, 1, 100), None).log


def test_a_zoomed_range_is_drawn_at_full_resolution():
    n = 100_000
    x = np.arange(n, dtype=float) * 60_000  # epoch milliseconds, one reading a minute
    values = np.sin(np.arange(n) / 500.0)
    values[50_000:50_300] = 3.0  # a plateau ...
    values[50_300:50_400] = np.linspace(3.0, 0.0, 100)  # ... then a ramp: the whole-series view keeps neither
    scores = np.abs(values)
    whole = charts.series_with_scores(x, values[:, None], ["v"], scores, 10.0)
    line = next(t for t in whole.data if t.mode == "lines" and t.name == "v")
    shown = np.isin(x[49_900:50_500], np.asarray(line.x))
    assert shown.mean() < 0.5  # decimated
    zoom = (x[49_900], x[50_499])
    zoomed = charts.series_with_scores(x, values[:, None], ["v"], scores, 10.0, zoom=zoom)
    line = next(t for t in zoomed.data if t.mode == "lines" and t.name == "v")
    assert np.isin(x[49_900:50_500], np.asarray(line.x)).all()  # every reading of the view
    assert list(zoomed.layout.xaxis.range) == list(zoom)
    assert len(line.x) < 20_000  # the rest of the series stays decimated


def test_the_series_chart_draws_the_chosen_features():
    n = 2000
    x = np.arange(n, dtype=float)
    values = np.random.default_rng(0).normal(size=(n, 6))
    fig = charts.series_with_scores(x, values, [f"s{i}" for i in range(6)], np.abs(values[:, 5]), 3.0,
                                    features=[5, 2])
    titles = [fig.layout[f"yaxis{'' if i == 0 else i + 1}"].title.text for i in range(3)]
    assert titles == ["s5", "s2", "score"]


def test_a_rule_label_beside_the_threshold_starts_below_the_threshold_label():
    scores = np.random.default_rng(1).normal(size=2000)
    hist = histogram(scores, None)
    fig = charts.score_histogram(hist, 1.0, {"mean_std": 1.3, "percentile": -2.5, "best_f1": 1.05}, {"mean_std": "mean+k·std"})
    beside = next(a for a in fig.layout.annotations if a.text == "mean+k·std")
    far = next(a for a in fig.layout.annotations if a.text == "percentile")
    assert beside.y <= 0.8 < far.y
    assert "best_f1" not in [a.text for a in fig.layout.annotations]  # on the threshold line: left out
    assert fig.layout.title.text == "Score distribution"  # no labels: no classes to speak of


def test_series_preview_reads_numbers_of_any_column_type_and_keeps_gaps():
    x = pd.date_range("2024-01-01", periods=6, freq="min")
    frame = pd.DataFrame({"f": [1.0, np.nan, 3.0, 4.0, 5.0, 6.0], "i": pd.array([1, 2, None, 4, 5, 6], dtype="Int64"),
                          "t": ["1", "2", "x", "4", "5", "6"], "b": [True, False, True, False, True, False]})
    fig = charts.series_preview(x, frame, ["f", "i", "t", "b"])
    lines = {t.name: np.asarray(t.y, dtype=float) for t in fig.data if t.mode == "lines"}
    assert np.isnan(lines["f"][1]) and np.isnan(lines["i"][2]) and np.isnan(lines["t"][2])
    assert lines["t"][3] == 4.0 and list(lines["b"]) == [1.0, 0.0, 1.0, 0.0, 1.0, 0.0]
