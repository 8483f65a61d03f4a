"""Comparing runs of one dataset: leaderboard, agreement, normalised scores and disagreements."""

import numpy as np
import pandas as pd
import pytest

from core.compare import (agreement, compared_rows, disagreements, leaderboard, normalised_scores, score_table,
                          spearman, top_overlap)
from core.data import Roles, prepare
from core.errors import DataError
from core.experiment import run_experiment
from tests.app_support import spiked_series


def _rows(n=500, seed=0, labelled=True):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = (rng.random(n) < 0.1).astype(int)
    X[y == 1] += 4
    frame = pd.DataFrame(X, columns=list("abc"))
    if labelled:
        return prepare(frame.assign(label=y), Roles(label="label", normal_value=0))
    return prepare(frame, Roles())


def _series(n=400):
    return spiked_series(n, spike_at=360)


def test_spearman_and_top_overlap_match_their_definitions():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(1)
    a = rng.normal(size=200)
    b = a + rng.normal(scale=0.5, size=200)
    b[:10] = b[10]  # ties share their mean rank
    assert spearman(a, b) == pytest.approx(spearmanr(a, b).statistic)
    assert spearman(a, -a) == pytest.approx(-1.0)
    assert np.isnan(spearman(a, np.ones(200)))
    assert top_overlap(a, a, 20) == 1.0
    assert top_overlap(a, -a, 20) == 0.0


def test_normalised_scores_rank_rows_among_the_runs_own_training_scores():
    run = run_experiment(_rows(), "zscore")
    normal = normalised_scores(run)
    assert normal.shape == run.scores.shape and normal.min() >= 0 and normal.max() <= 1
    fit = run.scores[run.fit_mask]
    row = int(np.flatnonzero(run.test_mask)[0])
    assert normal[row] == pytest.approx((fit <= run.scores[row]).mean())
    # the ordering of the scores is kept
    order = np.argsort(run.scores)
    assert np.all(np.diff(normal[order]) >= 0)


def test_leaderboard_ranks_labelled_runs_and_shows_the_flagged_share():
    data = _rows()
    good = run_experiment(data, "zscore")
    noise = run_experiment(data, "zscore")
    noise.scores = np.random.default_rng(3).random(noise.n_rows)  # a detector that knows nothing
    noise.name = "random"
    noise._parts.clear()
    table = leaderboard([noise, good])
    assert list(table["run"]) == [good.display_name, "random"]  # best ROC-AUC first
    assert table.loc[0, "roc_auc"] == pytest.approx(good.metrics["roc_auc"])
    assert table.loc[0, "f1"] == pytest.approx(good.metrics["f1"])
    assert table.loc[1, "roc_auc"] < 0.7
    flagged = good.flags()[good.test_mask].mean()
    assert table.loc[0, "flagged_share"] == pytest.approx(flagged)
    assert table["event_f1"].isna().all()  # rows, not a series


def test_leaderboard_of_a_series_has_event_f1_and_vus_pr():
    run = run_experiment(_series(), "zscore")
    row = leaderboard([run]).iloc[0]
    assert 0 <= row["event_f1"] <= 1 and 0 <= row["vus_pr"] <= 1
    assert row["vus_pr"] == pytest.approx(run.series_metrics["vus_pr"])


def test_agreement_without_labels():
    data = _rows(labelled=False)
    a, b = run_experiment(data, "zscore"), run_experiment(data, "isolation_forest")
    a.name, b.name = "z", "forest"
    tables = agreement([a, b], top_share=0.1)
    rho, overlap = tables["spearman"], tables["top_overlap"]
    assert list(rho.index) == ["z", "forest"] and rho.loc["z", "z"] == 1.0
    rows = compared_rows([a, b])
    assert rho.loc["z", "forest"] == pytest.approx(spearman(a.scores[rows], b.scores[rows]))
    assert rho.loc["z", "forest"] > 0.3  # two sensible detectors agree on the outliers
    assert 0 < overlap.loc["z", "forest"] <= 1 and overlap.loc["forest", "z"] == overlap.loc["z", "forest"]
    assert leaderboard([a, b])["roc_auc"].isna().all()


def test_disagreements_list_the_most_disputed_rows_first():
    data = _rows()
    a, b = run_experiment(data, "zscore"), run_experiment(data, "zscore")
    b.scores = b.scores.copy()
    row = int(np.flatnonzero(a.test_mask & (normalised_scores(a) < 0.5))[0])
    b.scores[row] = b.scores.max() * 10  # b alone finds row `row` extreme
    b.name = "other"
    table = disagreements([a, b], top=5)
    assert table.loc[0, "row"] == row and table.loc[0, "spread"] > 0.5
    assert bool(table.loc[0, "other flagged"]) and not bool(table.loc[0, f"{a.display_name} flagged"])
    assert len(table) == 5 and table["spread"].is_monotonic_decreasing
    scores = score_table([a, b])
    assert list(scores.columns) == ["row", a.display_name, "other", "tested"]
    with pytest.raises(DataError):
        disagreements([a])


def test_runs_of_different_data_are_refused():
    with pytest.raises(DataError):
        leaderboard([run_experiment(_rows(300), "zscore"), run_experiment(_rows(400), "zscore")])
    with pytest.raises(DataError):
        agreement([])


def test_rarity_puts_ordinary_rows_low_and_outliers_high():
    from core.compare import rarity

    run = run_experiment(_rows(), "zscore")
    values = rarity(run)
    fit = run.scores[run.fit_mask]
    assert values[np.argmax(run.scores)] == pytest.approx(np.log10(2 * fit.size))
    assert np.median(values[run.fit_mask]) == pytest.approx(np.log10(2), abs=0.05)  # half the rows score higher
    assert rarity(run, [np.percentile(fit, 99)])[0] == pytest.approx(2.0, abs=0.1)
