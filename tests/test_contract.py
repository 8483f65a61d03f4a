"""The detector contract, checked over every registered method."""

import subprocess
import sys

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.metrics import roc_auc_score

from core.errors import DataError
from core.pipeline import DetectionPipeline
from core.registry import METHODS, PLAIN_LABELS, create_detector, get_method

# Small settings so that every method trains in a second or two on CPU.
FAST = {
    "dense_ae": {"epochs": 30, "batch_size": 32, "learning_rate": 0.01},
    "dense_ae_keras": {"epochs": 30, "batch_size": 32, "learning_rate": 0.01},
    "lstm_ae": {"epochs": 4, "window": 16, "hidden_size": 16, "latent_size": 8, "num_layers": 1, "stride": 2},
    "conv_ae": {"epochs": 8, "window": 16, "channels": 8, "stride": 2},
    "windowed_pca": {"window": 16},
    "rolling_median": {"window": 9},
    # short windows: a spike raises every window that holds it, so a long one blurs point anomalies
    "windowed_knn": {"window": 4},
    "windowed_lof": {"window": 4},
    "matrix_profile": {"window": 4, "context": "centred"},
}


def _rows(seed=0):
    rng = np.random.default_rng(seed)
    train = rng.normal(size=(300, 5))
    test = np.vstack([rng.normal(size=(60, 5)), rng.normal(size=(12, 5)) + 6.0])
    y_test = np.r_[np.zeros(60), np.ones(12)].astype(int)
    return train, test, y_test


def _series(seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(600)
    values = np.sin(2 * np.pi * t / 40) + 0.05 * rng.normal(size=t.size)
    labels = np.zeros(t.size, dtype=int)
    spikes = rng.choice(np.arange(350, 600), 10, replace=False)
    values[spikes] += rng.choice([-4.0, 4.0], spikes.size)
    labels[spikes] = 1
    X = np.c_[values, np.cos(2 * np.pi * t / 40)]
    return X[:300], X[300:], labels[300:]


def _data(spec):
    return _series() if spec.input_kind == "windows" else _rows()


def _fit(name, seed=0):
    spec = get_method(name)
    train, test, y_test = _data(spec)
    params = dict(FAST.get(name, {}))
    if "random_state" in spec.defaults():
        params["random_state"] = seed
    detector = create_detector(name, **params)
    if spec.supervised:
        X = np.vstack([train, test[y_test == 1][:6]])
        y = np.r_[np.zeros(len(train)), np.ones(6)].astype(int)
        fitted = detector.fit(X, y)
    else:
        fitted = detector.fit(train)
    return detector, fitted, test, y_test


#: Methods whose library compiles its kernels on first use in a process (numba): a minute or more.
COMPILES = {"matrix_profile"}


def _methods():
    return [pytest.param(m, marks=pytest.mark.timeout(1800)) if m in COMPILES else m for m in sorted(METHODS)]


@pytest.fixture(scope="module", params=_methods())
def fitted(request):
    name = request.param
    detector, returned, test, y_test = _fit(name)
    return name, detector, returned, test, y_test


def test_fit_returns_self_and_sets_fitted_attributes(fitted):
    name, detector, returned, test, _ = fitted
    assert returned is detector
    assert np.isfinite(detector.threshold_)
    assert detector.decision_scores_.ndim == 1 and np.all(np.isfinite(detector.decision_scores_))
    assert detector.n_features_in_ == test.shape[1]


def test_scores_one_per_row_and_higher_is_anomalous(fitted):
    name, detector, _, test, y_test = fitted
    scores = detector.score_samples(test)
    assert scores.shape == (test.shape[0],)
    assert np.array_equal(detector.decision_function(test), scores)
    assert roc_auc_score(y_test, scores) > 0.9, name
    flags = detector.predict(test)
    assert set(np.unique(flags)) <= {0, 1}
    assert flags[y_test == 1].mean() > flags[y_test == 0].mean()


def test_feature_scores_and_reconstruction_shapes(fitted):
    name, detector, _, test, _ = fitted
    contributions = detector.feature_scores(test)
    assert contributions.shape == test.shape and np.all(contributions >= 0)
    spec = get_method(name)
    assert spec.reconstruction == detector.is_reconstruction
    if spec.reconstruction:
        assert detector.reconstruct(test).shape == test.shape
    else:
        with pytest.raises(DataError):
            detector.reconstruct(test)


def test_registry_metadata_matches_class(fitted):
    name, detector, *_ = fitted
    spec = get_method(name)
    assert (spec.family, spec.input_kind, spec.supervised) == (detector.family, detector.input_kind, detector.supervised)
    params = detector.get_params()
    assert {p.name for p in spec.params} | {"threshold"} == set(params)
    assert clone(detector).get_params() == params
    assert not hasattr(clone(detector), "threshold_")


@pytest.mark.parametrize("name", _methods())
def test_same_seed_same_scores(name):
    first = _fit(name, seed=3)
    second = _fit(name, seed=3)
    np.testing.assert_allclose(first[0].score_samples(first[2]), second[0].score_samples(second[2]), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", _methods())
def test_bundle_round_trip_gives_identical_scores(name, tmp_path):
    spec = get_method(name)
    train, test, y_test = _data(spec)
    y = None
    if spec.supervised:
        train = np.vstack([train, test[y_test == 1][:6]])
        y = np.r_[np.zeros(len(train) - 6), np.ones(6)].astype(int)
    pipeline = DetectionPipeline(name, FAST.get(name, {})).fit(train, y)
    loaded = DetectionPipeline.load(pipeline.save(tmp_path / "model.bundle"))
    np.testing.assert_array_equal(pipeline.score(test), loaded.score(test))
    assert loaded.threshold_ == pipeline.threshold_
    assert loaded.feature_names_ == pipeline.feature_names_


def test_unfitted_detector_refuses_to_score():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        create_detector("zscore").score_samples(np.zeros((3, 2)))


def test_wrong_feature_count_is_refused():
    detector = create_detector("zscore").fit(np.random.default_rng(0).normal(size=(20, 3)))
    with pytest.raises(DataError, match="3 features"):
        detector.score_samples(np.zeros((5, 4)))


def test_import_core_loads_no_heavy_framework():
    code = ("import sys, core, core.registry, core.pipeline, core.experiment, core.data; "
            "heavy = [m for m in ('torch', 'tensorflow', 'pyspark', 'faiss') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_pca_keeps_a_component_out_and_needs_two_features():
    X = np.random.default_rng(0).normal(size=(200, 4))
    detector = create_detector("pca").fit(X)
    assert detector.estimator_.n_components_ <= 3 and detector.decision_scores_.max() > 0
    with pytest.raises(DataError, match="two features"):
        create_detector("pca").fit(X[:, :1])


@pytest.mark.parametrize("name", sorted(n for n, s in METHODS.items() if s.input_kind == "rows"))
def test_a_single_row_can_be_scored_and_explained(name):
    _, detector, test, _ = _fit(name)
    row = test[-1:]
    assert detector.score_samples(row).shape == (1,)
    assert detector.feature_scores(row).shape == (1, test.shape[1])
    if detector.is_reconstruction:
        assert detector.reconstruct(row).shape == (1, test.shape[1])


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_parameter_has_a_plain_label_and_help(name):
    for param in get_method(name).params:
        assert param.label or param.name in PLAIN_LABELS, f"{name}.{param.name} has no plain label"
        assert param.plain_label != param.name and "_" not in param.plain_label
        assert len(param.help) > 15
