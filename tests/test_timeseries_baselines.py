"""Rolling-median and windowed-PCA baselines: per-step scores, spikes, edges and saved state."""

import numpy as np
import pytest

from core.errors import DataError
from core.registry import create_detector

METHODS = [("rolling_median", {"window": 9}), ("windowed_pca", {"window": 16})]


def _sine(n=400, seed=0, features=1):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    columns = [np.sin(2 * np.pi * t / 40 + k) + 0.05 * rng.normal(size=n) for k in range(features)]
    return np.column_stack(columns)


@pytest.mark.parametrize("name, params", METHODS)
@pytest.mark.parametrize("spike_at", [0, 57, 199])
def test_a_spike_scores_higher_than_its_neighbours(name, params, spike_at):
    detector = create_detector(name, **params).fit(_sine(seed=1))
    series = _sine(200, seed=2)
    series[spike_at, 0] += 4.0
    scores = detector.score_samples(series)
    assert scores.shape == (200,) and np.all(np.isfinite(scores))  # every step, the first included
    neighbours = np.r_[max(0, spike_at - 10):spike_at, spike_at + 1:min(200, spike_at + 11)]
    assert scores[spike_at] > scores[neighbours].max(), (name, spike_at)
    assert detector.predict(series)[spike_at] == 1


@pytest.mark.parametrize("name, params", METHODS)
def test_feature_scores_point_at_the_feature_with_the_spike(name, params):
    detector = create_detector(name, **params).fit(_sine(features=3))
    series = _sine(120, seed=5, features=3)
    series[60, 2] -= 5.0
    contributions = detector.feature_scores(series)
    assert contributions.shape == (120, 3) and np.all(contributions >= 0)
    assert np.argmax(contributions[60]) == 2


@pytest.mark.parametrize("name, params", METHODS)
def test_state_round_trip_gives_identical_scores(name, params):
    fitted = create_detector(name, **params).fit(_sine(features=2))
    restored = create_detector(name, **params).set_state(fitted.get_state())
    series = _sine(150, seed=9, features=2)
    np.testing.assert_array_equal(fitted.score_samples(series), restored.score_samples(series))
    np.testing.assert_array_equal(fitted.feature_scores(series), restored.feature_scores(series))
    assert restored.threshold_ == fitted.threshold_


def test_rolling_median_is_a_robust_z_of_the_training_residuals():
    noise = np.random.default_rng(3).normal(size=(500, 1))
    detector = create_detector("rolling_median", window=9).fit(noise)
    # Training residuals standardised by their own median / MAD: median 0, MAD 1 / 1.4826.
    z = detector.decision_scores_
    assert np.median(z) == pytest.approx(0.0, abs=1e-9)
    assert np.median(np.abs(z)) == pytest.approx(1 / 1.4826, rel=1e-6)


def test_rolling_median_on_a_flat_series_stays_finite():
    flat = np.zeros((100, 1))
    flat[::10] = 1.0  # MAD of the residuals is 0 here
    detector = create_detector("rolling_median", window=5).fit(flat)
    assert np.all(np.isfinite(detector.decision_scores_))
    assert np.all(np.isfinite(detector.score_samples(np.ones((30, 1)))))


def test_windowed_pca_reconstructs_each_step():
    detector = create_detector("windowed_pca", window=16, n_components=4).fit(_sine())
    series = _sine(100, seed=4)
    rebuilt = detector.reconstruct(series)
    assert rebuilt.shape == series.shape
    assert np.abs(rebuilt - series).mean() < 0.1  # a smooth sine is well described by 4 components
    np.testing.assert_allclose(detector.feature_scores(series).mean(axis=1), detector.score_samples(series))


def test_series_shorter_than_the_window_is_refused():
    with pytest.raises(DataError):
        create_detector("windowed_pca", window=32).fit(_sine(20))
    detector = create_detector("windowed_pca", window=16).fit(_sine())
    with pytest.raises(DataError):
        detector.score_samples(_sine(10))
