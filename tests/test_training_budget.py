"""The deep sequence models keep to a training-time budget, and say beforehand about how long they take."""

from __future__ import annotations

import numpy as np
import pytest

from core.detectors.deep_common import describe_seconds, estimate_training_seconds
from core.registry import create_detector, get_method


def _series(n: int = 3000, d: int = 3) -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.sin(np.arange(n) / 15.0)[:, None] + 0.05 * rng.normal(size=(n, d))


def test_a_budget_ends_training_however_many_epochs_are_asked_for():
    detector = create_detector("conv_ae", epochs=1000, patience=0, time_budget=1.0).fit(_series())
    report = detector.budget_report_
    assert report["ended_by_budget"] is True
    assert report["epochs"] == len(detector.history_["train_loss"]) < 1000
    assert np.isfinite(detector.decision_scores_).all()


def test_a_tight_budget_trains_each_epoch_on_a_sample_of_the_windows():
    detector = create_detector("lstm_ae", epochs=50, patience=0, time_budget=0.3, hidden_size=8, latent_size=4,
                               num_layers=1).fit(_series(4000))
    report = detector.budget_report_
    assert report["samples_per_epoch"] < report["training_samples"]
    assert report["samples_per_epoch"] >= 32  # at least one batch


def test_without_a_budget_every_window_trains_every_epoch():
    detector = create_detector("conv_ae", epochs=2, patience=0, time_budget=0.0).fit(_series(600))
    assert detector.budget_report_["samples_per_epoch"] == detector.budget_report_["training_samples"]
    assert detector.budget_report_["epochs"] == 2 and detector.budget_report_["ended_by_budget"] is False


def test_a_negative_budget_is_refused_with_a_message():
    from core.errors import DataError

    from core.detectors.torch_sequence import ConvAutoencoderDetector

    with pytest.raises(DataError, match="time budget"):
        ConvAutoencoderDetector(epochs=1, time_budget=-1.0).fit(_series(600))
    with pytest.raises(DataError, match="time_budget"):  # the form's range says so first
        create_detector("conv_ae", time_budget=-1.0)


def test_the_budget_is_a_plainly_labelled_parameter_of_both_sequence_models():
    for method in ("lstm_ae", "conv_ae"):
        spec = get_method(method).param("time_budget")
        assert spec.plain_label.startswith("Time budget (s")
        assert create_detector(method).get_params()["time_budget"] == spec.default > 0


def test_the_estimate_grows_with_the_data_and_keeps_to_the_budget():
    params = get_method("lstm_ae").defaults()
    small = estimate_training_seconds("lstm_ae", {**params, "time_budget": 0}, 2_000, 34, 1_000)
    large = estimate_training_seconds("lstm_ae", {**params, "time_budget": 0}, 20_000, 34, 10_000)
    assert 8 < large / small < 12
    capped = estimate_training_seconds("lstm_ae", params, 20_000, 34, 10_000)
    assert params["time_budget"] < capped < params["time_budget"] + 10  # the budget, then scoring
    assert estimate_training_seconds("zscore", {}, 1_000, 3, 100) is None
    assert describe_seconds(42.4) == "about 42 s" and describe_seconds(600) == "about 10 min"
