"""Deep detectors: shapes, per-step scoring, training loop behaviour, state round trips (CPU, tiny)."""

import subprocess
import sys

import numpy as np
import pytest
import torch

from core.datasets import make_sine_with_spikes
from core.errors import DataError, TrainingCancelled
from core.registry import create_detector

TINY = {
    "dense_ae": {"epochs": 3, "batch_size": 32, "device": "cpu"},
    "lstm_ae": {"epochs": 2, "window": 12, "hidden_size": 8, "latent_size": 4, "num_layers": 2, "stride": 2,
                "device": "cpu"},
    "conv_ae": {"epochs": 3, "window": 12, "channels": 4, "stride": 2, "device": "cpu"},
}
WINDOW_MODELS = ("lstm_ae", "conv_ae")


def _rows(n=200, d=6, seed=0):
    return np.random.default_rng(seed).uniform(size=(n, d))


def _series(n=240, seed=0):
    t = np.arange(n)
    rng = np.random.default_rng(seed)
    return np.c_[np.sin(2 * np.pi * t / 24), np.cos(2 * np.pi * t / 24)] + 0.02 * rng.normal(size=(n, 2))


def _fit(name, X=None, **params):
    X = (_series() if name in WINDOW_MODELS else _rows()) if X is None else X
    return create_detector(name, **{**TINY[name], **params}).fit(X), X


@pytest.mark.parametrize("name", sorted(TINY))
def test_shapes_device_and_history(name):
    detector, X = _fit(name)
    assert detector.device_ == "cpu"
    assert detector.score_samples(X).shape == (X.shape[0],)
    assert detector.feature_scores(X).shape == X.shape
    assert np.all(detector.feature_scores(X) >= 0)
    assert detector.reconstruct(X).shape == X.shape
    assert len(detector.history_["train_loss"]) == TINY[name]["epochs"]
    assert len(detector.history_["val_loss"]) == TINY[name]["epochs"]


@pytest.mark.parametrize("name", WINDOW_MODELS)
def test_window_models_score_every_step_including_the_first(name):
    detector, X = _fit(name)
    test = _series(37, seed=1)  # not a multiple of the window or the stride
    scores = detector.score_samples(test)
    assert scores.shape == (37,) and np.all(np.isfinite(scores))
    # the mean over features of the per-step feature errors is the step's score
    np.testing.assert_allclose(detector.feature_scores(test).mean(axis=1), scores)


@pytest.mark.parametrize("name", WINDOW_MODELS)
def test_series_shorter_than_the_window_is_refused(name):
    with pytest.raises(DataError, match="window"):
        create_detector(name, **TINY[name]).fit(_series(10))
    detector, _ = _fit(name)
    with pytest.raises(DataError, match="window"):
        detector.score_samples(_series(11))


def test_conv_autoencoder_handles_odd_windows():
    detector, X = _fit("conv_ae", window=15, kernel_size=4)
    assert detector.reconstruct(X).shape == X.shape


@pytest.mark.parametrize("name, params", [
    ("conv_ae", {"epochs": 40, "window": 24, "channels": 8, "learning_rate": 0.01, "patience": 0}),
    ("lstm_ae", {"epochs": 12, "window": 24, "hidden_size": 16, "latent_size": 8, "num_layers": 1,
                 "learning_rate": 0.01, "patience": 0}),
])
def test_a_spike_scores_higher_than_its_neighbours(name, params):
    detector, _ = _fit(name, _series(400), **params)
    test = _series(120, seed=2)
    test[60, 0] += 3.0
    scores = detector.score_samples(test)
    assert scores[60] > 2 * max(np.delete(scores[50:71], 10)), scores[50:71]


@pytest.mark.parametrize("name", sorted(TINY))
def test_same_seed_same_scores_other_seed_other_scores(name):
    first, X = _fit(name, random_state=5)
    second, _ = _fit(name, random_state=5)
    other, _ = _fit(name, random_state=6)
    np.testing.assert_array_equal(first.score_samples(X), second.score_samples(X))
    assert not np.allclose(first.score_samples(X), other.score_samples(X))


@pytest.mark.parametrize("name", sorted(TINY))
def test_state_round_trip_gives_identical_scores(name):
    detector, X = _fit(name)
    state = detector.get_state()
    assert all(isinstance(v, np.ndarray) for k, v in state.items() if k.startswith("weights."))
    restored = create_detector(name, **TINY[name]).set_state(state)
    np.testing.assert_array_equal(restored.score_samples(X), detector.score_samples(X))
    np.testing.assert_array_equal(restored.reconstruct(X), detector.reconstruct(X))
    assert restored.device_ == "cpu" and restored.threshold_ == detector.threshold_


@pytest.mark.parametrize("name", sorted(TINY))
def test_progress_is_reported_every_epoch_and_cancellation_raises(name):
    calls = []
    detector = create_detector(name, **TINY[name])
    X = _series() if name in WINDOW_MODELS else _rows()
    detector.fit(X, progress=lambda *args: calls.append(args))
    epochs = TINY[name]["epochs"]
    assert [c[0] for c in calls] == list(range(1, epochs + 1))
    assert all(c[1] == epochs and c[2] > 0 and c[3] is not None for c in calls)

    asked = []

    def stop_after_first_epoch():
        asked.append(True)
        return len(calls) > epochs  # true once the second fit has reported one epoch

    with pytest.raises(TrainingCancelled):
        create_detector(name, **TINY[name]).fit(
            X, progress=lambda *args: calls.append(args), should_stop=stop_after_first_epoch)
    assert len(calls) == epochs + 1 and asked


def test_early_stopping_stops_and_restores_the_best_weights():
    from core.detectors.torch_training import TrainSettings, train_autoencoder

    torch.manual_seed(0)
    model = torch.nn.Linear(3, 3)
    data = torch.randn(64, 3)
    planned_val_losses = iter([3.0, 1.0, 2.0, 2.5, 0.5, 0.1])
    snapshots = []

    def loss_fn(output, target):
        loss = torch.nn.functional.mse_loss(output, target)
        if torch.is_inference_mode_enabled():  # the validation pass: follow the plan
            return loss * 0 + next(planned_val_losses)
        return loss

    def progress(epoch, n_epochs, train_loss, val_loss):
        snapshots.append({k: v.clone() for k, v in model.state_dict().items()})

    settings = TrainSettings(epochs=6, batch_size=16, learning_rate=0.1, patience=2, seed=0, device="cpu")
    history = train_autoencoder(model, lambda i: data[i], torch.arange(48), torch.arange(48, 64), loss_fn,
                                settings, progress=progress)
    assert history["val_loss"] == [3.0, 1.0, 2.0, 2.5]  # two epochs without improvement, then stop
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, snapshots[1][key])  # the weights after the best epoch


def test_window_model_with_patience_keeps_the_weights_of_its_best_validation_epoch():
    from core.detectors.torch_training import evaluate_loss

    detector, X = _fit("conv_ae", epochs=12, patience=3, learning_rate=0.05, stride=1)
    starts = detector._window_starts(X.shape[0], 1)
    _, val = detector._chronological_split(starts)
    val_loss = evaluate_loss(detector.model_, detector._window_taker(X, starts), torch.as_tensor(val),
                             torch.nn.functional.mse_loss, "cpu")
    assert val_loss == pytest.approx(min(detector.history_["val_loss"]), rel=1e-5)


def test_validation_windows_come_from_the_end_without_overlap():
    detector = create_detector("lstm_ae", window=10, validation_fraction=0.2)
    starts = detector._window_starts(100, 1)
    train, val = detector._chronological_split(starts)
    assert starts[val].min() >= starts[train].max() + 10
    assert val.size == round(0.2 * starts.size)


def test_bad_parameters_raise_data_error():
    with pytest.raises(DataError):
        create_detector("dense_ae", **{**TINY["dense_ae"], "validation_fraction": 0.0}).set_params(
            hidden="0,4").fit(_rows())
    with pytest.raises(DataError):
        create_detector("lstm_ae", **TINY["lstm_ae"]).set_params(batch_size=0).fit(_series())


def test_sine_with_spikes_is_deterministic():
    X, y = make_sine_with_spikes(500, seed=3)
    X2, y2 = make_sine_with_spikes(500, seed=3)
    assert X.shape == (500, 1) and y.sum() == 25
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    assert np.abs(X[y == 1, 0]).min() > 0.8  # every spike is at least 2 minus the wave's amplitude


def test_registry_does_not_import_tensorflow_and_keras_needs_no_torch():
    code = ("import sys, core.registry, core.detectors.keras_dense; "
            "print([m for m in ('tensorflow', 'keras', 'torch') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_keras_autoencoder_trains_reports_cancels_and_round_trips():
    X = _rows(120, 5)
    calls = []
    params = {"epochs": 2, "batch_size": 32}
    detector = create_detector("dense_ae_keras", **params).fit(X, progress=lambda *a: calls.append(a))
    assert [c[0] for c in calls] == [1, 2] and detector.device_ in ("cpu", "gpu")
    scores = detector.score_samples(X)
    assert scores.shape == (120,) and detector.reconstruct(X).shape == X.shape
    state = detector.get_state()
    assert {k for k in state if k.startswith("weights.")} == {f"weights.{i}" for i in range(12)}  # 6 layers
    restored = create_detector("dense_ae_keras", **params).set_state(state)
    np.testing.assert_array_equal(restored.score_samples(X), scores)
    with pytest.raises(TrainingCancelled):
        create_detector("dense_ae_keras", **params).fit(X, should_stop=lambda: True)


def test_dense_scores_batch_by_batch_equal_the_whole_reconstruction_error():
    from core.detectors.torch_training import EVAL_BATCH_SIZE

    rng = np.random.default_rng(3)
    model = create_detector("dense_ae", epochs=1).fit(rng.random((300, 6)))
    rows = rng.random((2 * EVAL_BATCH_SIZE + 17, 6))  # several batches and a short last one
    rebuilt = model.reconstruct(rows)
    assert rebuilt.shape == rows.shape and rebuilt.dtype == np.float64
    np.testing.assert_allclose(model.score_samples(rows), np.abs(rows - rebuilt).mean(axis=1))
    np.testing.assert_allclose(model.feature_scores(rows), np.abs(rows - rebuilt))
