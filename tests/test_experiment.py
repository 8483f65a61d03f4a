"""The evaluation protocol: splits, normal-only training, threshold choice without test labels."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.data import Roles, prepare, read_table
from core.errors import DataError
from core.experiment import run_experiment, split_masks

ECG = Path(__file__).resolve().parents[2] / "shared" / "data" / "ecg5000.csv"


def _dataset(n=500, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    y = (rng.random(n) < 0.1).astype(int)
    X[y == 1] += 4
    frame = pd.DataFrame(X, columns=list("abcd")).assign(label=y)
    return prepare(frame, Roles(label="label", normal_value=0))


def test_ecg5000_split_is_s1s_split():
    """train_test_split(test_size=0.2, random_state=21) on ECG5000: 2359 normal training rows, 560/440 test."""
    data = prepare(read_table(ECG), Roles(label="140", normal_value=1))
    train, test, split = split_masks(data, "lof", test_size=0.2, seed=21)
    assert split == "random"
    assert int((train & (data.y == 0)).sum()) == 2359
    assert int((test & (data.y == 0)).sum()) == 560 and int((test & (data.y == 1)).sum()) == 440


def test_trains_on_normal_training_rows_only():
    data = _dataset()
    result = run_experiment(data, "zscore")
    assert not (result.fit_mask & (data.y == 1)).any()
    assert (result.fit_mask <= result.train_mask).all()
    assert result.metrics["roc_auc"] > 0.95
    assert result.scores.shape == (data.n_rows,)


def test_threshold_from_training_scores_not_test_labels():
    data = _dataset()
    a = run_experiment(data, "knn", threshold="mean_std:k=2")
    flipped = prepare(data.frame.assign(label=1 - data.y), Roles(label="label", normal_value=1))
    flipped.y = data.y.copy()  # same data and training rows, test labels scrambled below
    flipped.y[a.test_mask] = np.random.default_rng(1).integers(0, 2, a.test_mask.sum())
    b = run_experiment(flipped, "knn", threshold="mean_std:k=2")
    assert a.threshold == b.threshold


def test_best_f1_uses_a_validation_part():
    result = run_experiment(_dataset(), "knn", threshold="best_f1")
    assert "held out" in result.notes[0]
    assert result.metrics["f1"] > 0.8


def test_supervised_method_needs_labels():
    data = _dataset()
    data.y = None
    with pytest.raises(DataError, match="supervised"):
        run_experiment(data, "random_forest")


def test_chronological_split_for_series():
    times = pd.date_range("2024-01-01", periods=200, freq="min")
    frame = pd.DataFrame({"t": times.astype(str), "v": np.sin(np.arange(200) / 5.0)})
    data = prepare(frame, Roles(time="t"))
    train, test, split = split_masks(data, "zscore", test_size=0.25)
    assert split == "chronological"
    assert train[:150].all() and not train[150:].any() and test[150:].all()


@pytest.mark.parametrize("test_size", [0.0, 1.0, 1.5])
def test_bad_test_size(test_size):
    with pytest.raises(DataError):
        run_experiment(_dataset(), "zscore", test_size=test_size, split="random")


def test_labelled_series_gets_series_metrics():
    rng = np.random.default_rng(0)
    values = np.sin(np.arange(400) / 6.0) + 0.05 * rng.normal(size=400)
    label = np.zeros(400, dtype=int)
    label[[250, 300, 301, 350]] = 1
    values[label == 1] += 3
    frame = pd.DataFrame({"t": pd.date_range("2024-01-01", periods=400, freq="min"), "v": values, "y": label})
    result = run_experiment(prepare(frame, Roles(time="t", label="y", normal_value=0)), "rolling_median",
                            train_fraction=0.5)
    assert result.series_metrics["n_true_events"] == 3
    assert result.series_metrics["event_recall"] == 1.0
    assert 0 < result.series_metrics["vus_pr"] <= 1
    assert "series_vus_pr" in result.summary()
