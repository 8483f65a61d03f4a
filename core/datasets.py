"""Small deterministic synthetic datasets (numpy only), for samples, tests and benchmarks."""

from __future__ import annotations

import numpy as np

from .errors import DataError


def make_sine_with_spikes(n: int = 2000, seed: int = 0, *, period: float = 100.0, noise: float = 0.1,
                          spike_fraction: float = 0.05, spike_low: float = 2.0,
                          spike_high: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
    """A noisy sine wave with point spikes (S2's sample data).

    ``x_t = sin(2 pi t / period) + N(0, noise^2)``; then ``round(spike_fraction * n)`` distinct
    steps, drawn at random, get a spike of random sign and size uniform in
    ``[spike_low, spike_high]`` added.

    Parameters
    ----------
    n : int, default 2000
        Number of time steps.
    seed : int, default 0
        Seed of the random generator: the same arguments always give the same arrays.
    period, noise, spike_fraction, spike_low, spike_high : float
        Shape of the wave, noise standard deviation, share of spiked steps and spike size range.

    Returns
    -------
    X : ndarray of shape (n, 1)
        The series (one feature).
    y : ndarray of shape (n,)
        1 at the spiked steps, 0 elsewhere.
    """
    n = int(n)
    if n < 1:
        raise DataError(f"The series needs at least one step, got n={n}.")
    if not 0.0 <= spike_fraction <= 1.0:
        raise DataError(f"spike_fraction must be between 0 and 1, got {spike_fraction}.")
    rng = np.random.default_rng(seed)
    steps = np.arange(n)
    values = np.sin(2 * np.pi * steps / period) + rng.normal(0.0, noise, n)
    labels = np.zeros(n, dtype=np.int64)
    spiked = rng.choice(n, size=int(round(spike_fraction * n)), replace=False)
    signs = rng.choice([-1.0, 1.0], spiked.size)
    values[spiked] += signs * rng.uniform(spike_low, spike_high, spiked.size)
    labels[spiked] = 1
    return values.reshape(-1, 1), labels
