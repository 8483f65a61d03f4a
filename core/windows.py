"""Sliding windows over a time-ordered table, and folding window errors back to time steps.

A window model reconstructs whole windows, but the product scores time steps: each step's error
is the mean of its errors in every window that covers it, so every step (the first and the last
included) gets a score, and a spike raises only the steps where it is.
"""

from __future__ import annotations

import numpy as np

from .errors import DataError


def window_starts(n_steps: int, window: int, stride: int = 1) -> np.ndarray:
    """Start index of each window; the last window always ends at the last step."""
    if window < 1 or stride < 1:
        raise DataError("Window length and stride must be positive.")
    if window > n_steps:
        raise DataError(
            f"The window ({window} steps) is longer than the series ({n_steps} steps); "
            "choose a shorter window or provide more data."
        )
    starts = np.arange(0, n_steps - window + 1, stride)
    if starts[-1] != n_steps - window:
        starts = np.append(starts, n_steps - window)
    return starts


def sliding_windows(X: np.ndarray, window: int, stride: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Windows of ``X`` (n_steps, n_features) as an array (n_windows, window, n_features) and their starts.

    With stride 1 the result is a read-only view (no copy), so memory stays O(n_steps).
    """
    X = np.asarray(X)
    if X.ndim == 1:
        X = X[:, None]
    starts = window_starts(X.shape[0], window, stride)
    view = np.lib.stride_tricks.sliding_window_view(X, window, axis=0)  # (n-w+1, d, w)
    view = np.moveaxis(view, -1, 1)  # (n-w+1, w, d)
    return (view if stride == 1 else view[starts]), starts


def fold_window_errors(errors: np.ndarray, starts: np.ndarray, n_steps: int) -> np.ndarray:
    """Average per-window, per-position errors into per-step errors.

    Parameters
    ----------
    errors : ndarray of shape (n_windows, window) or (n_windows, window, n_features)
    starts : ndarray of shape (n_windows,)
    n_steps : int

    Returns
    -------
    ndarray of shape (n_steps,) or (n_steps, n_features)
    """
    errors = np.asarray(errors, dtype=float)
    window = errors.shape[1]
    total = np.zeros((n_steps,) + errors.shape[2:])
    count = np.zeros(n_steps)
    for offset in range(window):  # loop over positions, vectorised over windows
        # starts are unique, so plain fancy-index addition is safe (no repeated index per offset)
        total[starts + offset] += errors[:, offset]
        count[starts + offset] += 1.0
    if np.any(count == 0):
        raise DataError("Some time steps are not covered by any window.")
    return total / count.reshape((-1,) + (1,) * (total.ndim - 1))
