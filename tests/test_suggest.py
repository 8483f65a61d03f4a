"""The label-free method suggestion against the product's own benchmark table."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core import suggest as suggest_module
from core.data import Roles, prepare
from core.registry import create_detector, get_method
from core.suggest import BENCHMARKS, Benchmark, BenchmarkResult, DataProfile, profile_of, suggest
from core.windows import dominant_period

README = Path(__file__).resolve().parents[1] / "README.md"


def _top_three_scores(benchmark):
    """The third-best figure of a benchmark: a method in its top three scores at least this much."""
    return sorted((r.score for r in benchmark.results), reverse=True)[2]


def _score_of(benchmark, method):
    return max(r.score for r in benchmark.results if r.method == method)


def test_ecg5000_gets_a_method_of_its_top_three():
    # ECG5000 as the benchmark reads it: 4,998 rows x 140 features, no time column, nothing missing
    suggestion = suggest(DataProfile("rows", 4998, 140))
    ecg = BENCHMARKS["ECG5000"]
    assert _score_of(ecg, suggestion.method) >= _top_three_scores(ecg)
    assert suggestion.benchmark == "ECG5000" and suggestion.rank <= 3
    assert not get_method(suggestion.method).supervised
    assert "ROC-AUC" in suggestion.why and "ECG5000" in suggestion.why
    create_detector(suggestion.method, **suggestion.params)  # the parameters are valid


@pytest.mark.parametrize("length", [1000, 4032, 15000, 22695])
@pytest.mark.parametrize("period", [None, 288])
def test_every_nab_series_gets_a_method_of_its_top_three(length, period):
    # NAB's series: one value per step, 1,000 to 22,695 steps, some with a daily period
    suggestion = suggest(DataProfile("series", length, 1, period))
    nab = BENCHMARKS["NAB"]
    assert _score_of(nab, suggestion.method) >= _top_three_scores(nab)
    assert "standard score" in suggestion.why
    create_detector(suggestion.method, **suggestion.params)


def test_large_data_gets_a_method_that_scores_it_in_time_still_of_the_top_three():
    ecg = BENCHMARKS["ECG5000"]
    small, large = suggest(DataProfile("rows", 5000, 20)), suggest(DataProfile("rows", 1_500_000, 20))
    assert small.method == "ensemble"  # the best unsupervised row on ECG5000 in the table
    assert large.method != small.method and _score_of(ecg, large.method) >= _top_three_scores(ecg)
    assert suggest_module._seconds(large.method, large.params, 1_500_000) <= suggest_module.SCORING_BUDGET_S
    assert "would take about" in large.why


def test_few_rows_get_the_z_score_and_one_feature_never_gets_pca():
    assert suggest(DataProfile("rows", 30, 4)).method == "zscore"
    assert "30 rows" in suggest(DataProfile("rows", 30, 4)).why
    one = suggest(DataProfile("rows", 5000, 1))
    assert one.method != "pca" and get_method(one.method).input_kind == "rows"


def test_a_window_method_gets_the_period_and_missing_cells_are_mentioned(monkeypatch):
    table = Benchmark("NAB", "series", "series", "standard score", "bench",
                      (BenchmarkResult("windowed_pca", 60.0), BenchmarkResult("zscore", 50.0),
                       BenchmarkResult("knn", 40.0)))
    monkeypatch.setitem(BENCHMARKS, "NAB", table)
    suggestion = suggest(DataProfile("series", 5000, 2, period=48, missing_share=0.031))
    assert suggestion.method == "windowed_pca" and suggestion.params == {"window": 48}
    assert "48 steps" in suggestion.why and "3.1% of the feature cells are missing" in suggestion.why
    # a window method is never suggested for rows without a time order
    assert suggest(DataProfile("rows", 5000, 2)).method != "windowed_pca"


def test_dominant_period_of_a_seasonal_series_and_of_noise():
    rng = np.random.default_rng(0)
    steps = np.arange(3000)
    seasonal = np.sin(2 * np.pi * steps / 40) + 0.2 * rng.normal(size=steps.size)
    assert abs(dominant_period(seasonal) - 40) <= 1
    assert abs(dominant_period(np.c_[seasonal, 3 * seasonal + 5]) - 40) <= 1
    assert dominant_period(rng.normal(size=3000)) is None
    assert dominant_period(np.ones(100)) is None


def test_profile_of_a_dataset_counts_missing_cells_and_finds_the_period():
    steps = np.arange(600)
    frame = pd.DataFrame({"time": pd.date_range("2024-01-01", periods=600, freq="h").astype(str),
                          "value": np.sin(2 * np.pi * steps / 24), "other": np.cos(2 * np.pi * steps / 24)})
    frame.loc[[5, 9, 11], "value"] = np.nan
    dataset = prepare(frame, Roles(time="time"), missing="median")
    profile = profile_of(dataset, frame)
    assert (profile.kind, profile.n_rows, profile.n_features) == ("series", 600, 2)
    assert profile.missing_share == pytest.approx(3 / 1200)
    assert abs(profile.period - 24) <= 1
    rows = profile_of(prepare(frame.drop(columns="time").fillna(0.0), Roles()))
    assert rows.kind == "rows" and rows.period is None and rows.missing_share == 0


def test_the_readme_shows_the_table_the_suggestion_comes_from():
    text = README.read_text(encoding="utf-8")
    section = text.split("## Which method?", 1)[1].split("\n## ", 1)[0]
    assert suggest_module.table_markdown() in section
