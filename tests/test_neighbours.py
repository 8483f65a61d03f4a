"""Neighbour detectors: the search they pick, exactness against scikit-learn, the approximate
search's recall, scores that do not depend on batching, and fitted state in a bundle."""

import copy
import pickle
import subprocess
import sys

import numpy as np
import pytest
from sklearn.neighbors import LocalOutlierFactor, NearestNeighbors

from core.detectors.classical import KNNDetector, LOFDetector, neighbour_algorithm
from core.detectors.neighbour_search import NeighbourIndex
from core.errors import DataError
from core.pipeline import DetectionPipeline
from core.registry import get_method


@pytest.mark.parametrize("n, d, expected", [(5000, 2, "kd_tree"), (5000, 4, "kd_tree"), (5000, 6, "brute"),
                                            (50000, 6, "kd_tree"), (5000, 10, "brute"), (2000, 140, "brute")])
def test_search_follows_the_measured_crossover(n, d, expected):
    assert neighbour_algorithm(n, d) == expected


@pytest.mark.parametrize("d, expected", [(2, "tree"), (6, "tree"), (7, "brute"), (140, "brute")])
def test_knn_and_lof_search_by_the_measured_crossover(d, expected):
    assert NeighbourIndex(np.random.default_rng(0).normal(size=(50, d))).method == expected


@pytest.mark.parametrize("k", [1, 3])
def test_tree_leaves_each_training_row_out_as_scikit_learn_does(k):
    rng = np.random.default_rng(7)
    rows = np.vstack([rng.normal(size=(60, 3)), np.repeat([[0.5, 0.5, 0.5]], 6, axis=0)])  # duplicates
    distances, _ = NeighbourIndex(rows).kneighbors(rows, k, leave_out_self=True)
    expected, _ = NearestNeighbors(n_neighbors=k, algorithm="brute").fit(rows).kneighbors()
    np.testing.assert_allclose(distances, expected, atol=1e-7)
    one, _ = NeighbourIndex(rows).kneighbors(rows[:1], k)
    assert one.shape == (1, k)


@pytest.mark.parametrize("d", [3, 10, 140])
def test_exact_scores_equal_scikit_learn_brute_force(d):
    rng = np.random.default_rng(d)
    train, rows = rng.normal(size=(300, d)), rng.normal(size=(120, d))
    brute = NearestNeighbors(n_neighbors=5, algorithm="brute").fit(train)
    distances = brute.kneighbors(rows)[0]
    training = brute.kneighbors()[0]
    largest, mean = KNNDetector().fit(train), KNNDetector(aggregate="mean").fit(train)
    np.testing.assert_allclose(largest.score_samples(rows), distances[:, -1], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(mean.score_samples(rows), distances.mean(axis=1), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(largest.decision_scores_, training[:, -1], rtol=1e-9, atol=1e-12)
    lof = LocalOutlierFactor(n_neighbors=20, novelty=True, algorithm="brute").fit(train)
    ours = LOFDetector().fit(train)
    np.testing.assert_allclose(ours.score_samples(rows), -lof.score_samples(rows), rtol=1e-9)
    np.testing.assert_allclose(ours.decision_scores_, -lof.negative_outlier_factor_, rtol=1e-9)


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


def _clustered(rng, n, d):
    """Rows near the same few centres (real data has structure; Gaussian noise in 10-d has none)."""
    centres = np.random.default_rng(d).normal(scale=4.0, size=(8, d))
    return centres[rng.integers(0, 8, n)] + rng.normal(size=(n, d))


def test_approximate_search_finds_nearly_all_true_neighbours():
    rng = np.random.default_rng(2)
    reference, rows = _clustered(rng, 3000, 10), _clustered(rng, 500, 10)
    approximate = NeighbourIndex(reference, "approximate")
    assert approximate.method == "hnsw"
    distances, positions = approximate.kneighbors(rows, 5)
    exact_distances, exact_positions = NearestNeighbors(n_neighbors=5).fit(reference).kneighbors(rows)
    recall = np.mean([len(set(a) & set(b)) / 5 for a, b in zip(positions, exact_positions)])
    assert recall >= 0.95
    # what it finds is measured exactly, so it is never nearer than the truth
    assert np.all(distances[:, -1] >= exact_distances[:, -1] - 1e-12)
    found = positions == exact_positions
    np.testing.assert_allclose(distances[found], exact_distances[found], rtol=1e-12)


@pytest.mark.parametrize("search", ["exact", "approximate"])
@pytest.mark.parametrize("detector", [KNNDetector, LOFDetector])
def test_one_row_at_a_time_scores_as_the_whole_batch(detector, search):
    rng = np.random.default_rng(3)
    train, rows = _clustered(rng, 3000, 10), _clustered(rng, 60, 10)
    model = detector(search=search).fit(train)
    batch = model.score_samples(rows)
    one_by_one = np.array([model.score_samples(row[None, :])[0] for row in rows])
    if search == "approximate":  # its own distances, independent of the batch: bit for bit
        np.testing.assert_array_equal(one_by_one, batch)
    else:
        np.testing.assert_allclose(one_by_one, batch, rtol=1e-12)


@pytest.mark.parametrize("search", ["exact", "approximate"])
@pytest.mark.parametrize("method", ["knn", "lof"])
def test_bundle_round_trip_keeps_the_scores(method, search):
    rng = np.random.default_rng(4)
    train, rows = _clustered(rng, 3000, 8), _clustered(rng, 50, 8)
    names = [f"f{i}" for i in range(8)]
    pipeline = DetectionPipeline(method, {"search": search}).fit(train, feature_names=names)
    assert pipeline.detector_._index().method == ("hnsw" if search == "approximate" else "brute")
    loaded = DetectionPipeline.from_bytes(pipeline.to_bytes(key=None), key=None)
    np.testing.assert_array_equal(loaded.score(rows), pipeline.score(rows))
    np.testing.assert_array_equal(loaded.detector_.decision_scores_, pipeline.detector_.decision_scores_)


@pytest.mark.parametrize("method", ["knn", "lof"])
def test_bundles_holding_the_former_scikit_learn_estimator_still_load(method, monkeypatch):
    """Bundles saved when knn/lof kept scikit-learn's fitted estimator (saved with skops)."""
    rng = np.random.default_rng(5)
    train, rows = rng.normal(size=(300, 4)), rng.normal(size=(40, 4))
    names = ["a", "b", "c", "d"]
    pipeline = DetectionPipeline(method).fit(train, feature_names=names)
    detector = pipeline.detector_

    def former_state(self):
        scaled = self.reference_
        if method == "knn":
            return {"estimator_": NearestNeighbors(n_neighbors=self.k_, algorithm="kd_tree").fit(scaled),
                    "k_": int(self.k_)}
        return {"estimator_": LocalOutlierFactor(n_neighbors=self.k_, novelty=True, algorithm="kd_tree").fit(scaled)}

    with monkeypatch.context() as patch:
        patch.setattr(type(detector), "_get_model_state", former_state)
        patch.setattr(type(detector), "state_fields", {"k_": "count"} if method == "knn" else {})
        former = pipeline.to_bytes(key=None)
    loaded = DetectionPipeline.from_bytes(former, key=None)
    np.testing.assert_allclose(loaded.score(rows), pipeline.score(rows), rtol=1e-9)


def test_unknown_search_is_refused_in_words():
    with pytest.raises(DataError, match="neighbour search"):
        KNNDetector(search="fastest").fit(np.zeros((10, 3)))
    with pytest.raises(DataError, match="search"):
        get_method("lof").param("search").coerce("fastest")
    assert get_method("knn").param("search").plain_label == "Neighbour search"


def test_a_fitted_detector_copies_and_pickles_without_its_search_index():
    rng = np.random.default_rng(6)
    train, rows = _clustered(rng, 3000, 8), _clustered(rng, 20, 8)
    model = LOFDetector(search="approximate").fit(train)
    assert model._index().method == "hnsw"
    expected = model.score_samples(rows)  # builds the faiss index
    for copied in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        assert getattr(copied, "_neighbour_index", None) is None
        np.testing.assert_array_equal(copied.score_samples(rows), expected)


def test_exact_search_does_not_import_faiss():
    code = ("import sys, numpy as np; from core.detectors.classical import KNNDetector, LOFDetector; "
            "rows = np.random.default_rng(0).normal(size=(200, 12)); "
            "KNNDetector().fit(rows).score_samples(rows); LOFDetector().fit(rows).score_samples(rows); "
            "print('faiss' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_candidates_are_ranked_by_exact_distance_then_position():
    from core.detectors.candidate_ranking import NO_POSITION, rank_candidates

    reference = np.array([[0.0], [1.0], [-1.0], [2.0], [3.0]])
    X = np.array([[0.0], [0.0], [2.0]])
    candidates = np.array([[4, 2, 1, 0], [3, -1, 0, 1], [-1, -1, 3, -1]])  # -1: nothing found there
    own = np.array([-1, 0, -1])  # row 1 is reference row 0: not its own neighbour
    k = 2
    distances, positions, kth = np.empty((3, k)), np.empty((3, k), dtype=np.int64), np.empty(3)
    rank_candidates(X, reference, candidates, own, k, distances, positions, kth)
    assert positions[0].tolist() == [0, 1] and distances[0].tolist() == [0.0, 1.0]  # 1 and 2 tie at 1: position 1 first
    assert positions[1].tolist() == [1, 3] and kth[1] == 4.0
    assert positions[2].tolist() == [3, NO_POSITION] and np.isinf(kth[2])  # fewer than k valid candidates
