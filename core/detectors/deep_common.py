"""What the deep detectors share without importing a framework: parameter checks and the row split."""

from __future__ import annotations

import math

import numpy as np

from ..errors import DataError


def check_training_params(epochs, batch_size, learning_rate, patience, validation_fraction) -> None:
    """Raise :class:`DataError` with a readable message when a training parameter is out of range."""
    if int(epochs) < 1:
        raise DataError(f"epochs must be at least 1, got {epochs}.")
    if int(batch_size) < 1:
        raise DataError(f"batch_size must be at least 1, got {batch_size}.")
    if not (float(learning_rate) > 0 and math.isfinite(float(learning_rate))):
        raise DataError(f"learning_rate must be a positive number, got {learning_rate}.")
    if int(patience) < 0:
        raise DataError(f"patience must be 0 (never stop early) or more, got {patience}.")
    if not 0.0 <= float(validation_fraction) < 1.0:
        raise DataError(f"validation_fraction must be in [0, 1), got {validation_fraction}.")


#: Default training-time budget of the sequence autoencoders, in seconds: with scoring, a default
#: run on a long multivariate series ends within a minute on a 2-core CPU.
DEFAULT_TIME_BUDGET_S = 40.0
#: The sequence models' window when a series shows no period (and so the estimate's guess for an
#: automatic window).
SEQUENCE_FALLBACK_WINDOW = 50


def check_time_budget(seconds) -> None:
    """A training-time budget is a number of seconds, 0 meaning none."""
    if not (float(seconds) >= 0 and math.isfinite(float(seconds))):
        raise DataError(f"The time budget must be 0 (no limit) or a number of seconds, got {seconds}.")


def split_rows(n_rows: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random (seeded) train / validation row indices, each sorted; no validation when too few rows."""
    order = np.random.default_rng(seed).permutation(n_rows)
    n_val = int(round(fraction * n_rows))
    if n_val < 1 or n_rows - n_val < 1:
        return np.sort(order), order[:0]
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def parse_hidden(hidden) -> tuple[int, ...]:
    """``"32,16,8"`` (or a sequence of ints) -> ``(32, 16, 8)``: the encoder's layer sizes."""
    try:
        sizes = tuple(int(v) for v in (hidden.split(",") if isinstance(hidden, str) else hidden))
    except (TypeError, ValueError) as exc:
        raise DataError(f"Layer sizes must be whole numbers separated by commas, got {hidden!r}.") from exc
    if not sizes or min(sizes) < 1:
        raise DataError(f"Layer sizes must be positive, got {hidden!r}.")
    return sizes


# ---- how long training will take, before it starts ------------------------------------------
#: Sustained float32 throughput, in FLOP/s, of each model's training step and forward pass on an
#: idle 2-core x86 CPU (this project's machine): the LSTM's from its benchmark (4,161 training and
#: 25,072 scoring windows/s at window 50, 64 units, 1 feature), the others from their speed
#: relative to it measured in one run (convolutions on few channels keep oneDNN less busy).
_THROUGHPUT = {"lstm_ae": (133e9, 268e9), "conv_ae": (55e9, 180e9), "dense_ae": (36e9, 11e9)}
#: A training step (forward, backward, update) costs about three forward passes.
_TRAIN_PASSES = 3.0


def _forward_flops(method: str, params: dict, n_features: int) -> float:
    """Floating-point operations of one forward pass over one sample (a window or a row)."""
    d = n_features
    if method == "lstm_ae":
        h, latent, layers, window = (int(params[k]) for k in ("hidden_size", "latent_size", "num_layers", "window"))
        per_step = 4 * h * (d + h) + 4 * h * (latent + h) + 2 * (layers - 1) * 4 * h * (2 * h) + h * d
        return 2.0 * window * per_step
    if method == "conv_ae":
        c, k, window = int(params["channels"]), int(params["kernel_size"]), int(params["window"])
        quarter, half = math.ceil(window / 4), math.ceil(window / 2)
        macs = (half * c * d * k + quarter * 2 * c * c * k + 2 * quarter * 2 * c * d
                + 2 * quarter * c * 2 * c * k + 4 * quarter * d * c * k)
        return 2.0 * macs
    if method == "dense_ae":
        sizes = (d, *parse_hidden(params["hidden"]))
        sizes = sizes + sizes[-2::-1]
        return 2.0 * sum(a * b for a, b in zip(sizes, sizes[1:]))
    raise KeyError(method)


def estimate_training_seconds(method: str, params: dict, n_train: int, n_features: int,
                              n_scored: int) -> float | None:
    """About how many seconds training ``method`` on ``n_train`` rows (or time steps) and scoring
    ``n_scored`` take, on an idle 2-core CPU; ``None`` for a method this does not model.

    From the model's size (operations per window or row), the epochs, the training samples and,
    for the sequence models, the time budget, which caps training however large the data. Early
    stopping can end training sooner; a busy machine or the first use of PyTorch in a process
    (a few seconds to load it) takes longer.
    """
    if method not in _THROUGHPUT:
        return None
    train_rate, score_rate = _THROUGHPUT[method]
    if "window" in params and not int(params["window"]):  # automatic: not known before the fit, so the usual one
        params = {**params, "window": SEQUENCE_FALLBACK_WINDOW}
    flops = _forward_flops(method, params, n_features)
    window = int(params.get("window", 1))
    stride = max(1, int(params.get("stride", 1)))
    samples = max(0, (n_train - window) // stride + 1)
    samples -= int(round(float(params.get("validation_fraction", 0.0)) * samples))
    training = float(params["epochs"]) * samples * _TRAIN_PASSES * flops / train_rate
    budget = float(params.get("time_budget", 0.0))
    if budget > 0:
        training = min(training, budget)
    scored_samples = max(0, n_scored - window + 1) + max(0, n_train - window + 1)  # test part and training scores
    return training + scored_samples * flops / score_rate


def describe_seconds(seconds: float) -> str:
    """``"about 40 s"``, ``"about 3 min"``: an estimate in words."""
    if seconds < 90:
        return f"about {max(1, round(seconds))} s"
    if seconds < 5400:
        return f"about {round(seconds / 60)} min"
    return f"about {seconds / 3600:.1f} h"
