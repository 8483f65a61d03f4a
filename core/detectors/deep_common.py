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
