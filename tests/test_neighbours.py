"""Neighbour detectors: the search they pick, and training scores that leave each row out."""

import numpy as np
import pytest
from sklearn.neighbors import LocalOutlierFactor, NearestNeighbors

from core.detectors.classical import KNNDetector, LOFDetector, neighbour_algorithm


@pytest.mark.parametrize("n, d, expected", [(5000, 2, "kd_tree"), (5000, 4, "kd_tree"), (5000, 6, "brute"),
                                            (50000, 6, "kd_tree"), (5000, 10, "brute"), (2000, 140, "brute")])
def test_search_follows_the_measured_crossover(n, d, expected):
    assert neighbour_algorithm(n, d) == expected


@pytest.mark.parametrize("d", [2, 10])
def test_scores_equal_exact_brute_force(d):
    rng = np.random.default_rng(0)
    train, rows = rng.normal(size=(300, d)), rng.normal(size=(200, d))
    exact = NearestNeighbors(n_neighbors=5, algorithm="brute").fit(train).kneighbors(rows)[0][:, -1]
    np.testing.assert_allclose(KNNDetector().fit(train).score_samples(rows), exact)
    lof = LocalOutlierFactor(n_neighbors=20, novelty=True, algorithm="brute").fit(train)
    np.testing.assert_allclose(LOFDetector().fit(train).score_samples(rows), -lof.score_samples(rows))


def test_training_scores_leave_each_row_out_of_its_own_neighbourhood():
    rng = np.random.default_rng(1)
    train = np.vstack([rng.normal(size=(200, 3)), [[8.0, 8.0, 8.0]]])  # one far-away training row
    knn, lof = KNNDetector().fit(train), LOFDetector().fit(train)
    # scored against the others, the far row is far; scored against itself it would be at distance 0
    assert knn.decision_scores_[-1] == pytest.approx(knn.score_samples(train[-1:])[0], rel=0.5)
    assert knn.decision_scores_[-1] > 5
    expected = -LocalOutlierFactor(n_neighbors=20).fit(train).negative_outlier_factor_
    np.testing.assert_allclose(lof.decision_scores_, expected)
    assert lof.decision_scores_[-1] == lof.decision_scores_.max()
