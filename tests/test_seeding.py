"""Training draws random numbers from each model's own generators: the process-wide ones stay as
they were, and the same seed gives the same scores even when two fits run at once in threads."""

from __future__ import annotations

import random
import threading

import numpy as np
import pytest
import torch

from core.registry import get_method

CHEAP = {"epochs": 3, "batch_size": 32}
METHODS = {
    "dense_ae": CHEAP,
    "lstm_ae": {**CHEAP, "window": 8, "hidden_size": 8, "latent_size": 4, "dropout": 0.3},
    "conv_ae": {**CHEAP, "window": 8, "channels": 4},
    "dense_ae_keras": CHEAP,
    "isolation_forest": {"n_estimators": 20},
}


def _global_states():
    return torch.get_rng_state().clone(), np.random.get_state(), random.getstate()


def _same_states(first, second) -> bool:
    (t1, n1, r1), (t2, n2, r2) = first, second
    return (torch.equal(t1, t2) and n1[0] == n2[0] and np.array_equal(n1[1], n2[1]) and n1[2:] == n2[2:]
            and r1 == r2)


def _fit_scores(name: str, X: np.ndarray, seed: int) -> np.ndarray:
    model = get_method(name).load_class()(**METHODS[name], random_state=seed)
    return model.fit(X).score_samples(X)


@pytest.mark.parametrize("name", list(METHODS))
def test_threads_leave_global_rng_alone_and_same_seed_gives_same_scores(name):
    X = np.random.default_rng(0).uniform(size=(160, 3))
    # One fit first: libraries imported on first use may draw a random number at import (rich's ids).
    _fit_scores(name, X, 1)
    scores: dict[str, np.ndarray] = {}
    errors: list[BaseException] = []

    def fit(tag: str, seed: int) -> None:
        try:
            scores[tag] = _fit_scores(name, X, seed)
        except BaseException as error:  # surfaced by the assertion below
            errors.append(error)

    before = _global_states()
    threads = [threading.Thread(target=fit, args=(tag, seed)) for tag, seed in (("a", 7), ("b", 7), ("c", 8))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert _same_states(before, _global_states()), "a training thread changed a process-wide generator"
    np.testing.assert_array_equal(scores["a"], scores["b"])
    assert not np.array_equal(scores["a"], scores["c"])
