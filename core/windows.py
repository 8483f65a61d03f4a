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


#: How a window model turns per-window values into per-step scores (the ``context`` parameter).
CAUSAL, CENTRED = "causal", "centred"
CONTEXTS = (CAUSAL, CENTRED)


def check_context(context: str) -> str:
    """``context`` if it is one of :data:`CONTEXTS`, else a :class:`DataError` saying what is allowed."""
    if context not in CONTEXTS:
        raise DataError(f"The window context must be 'causal' (past steps only) or 'centred' "
                        f"(steps on both sides), got {context!r}.")
    return context


def causal_window_errors(errors: np.ndarray, starts: np.ndarray, n_steps: int) -> np.ndarray:
    """Per-step errors taken from the one window that ends at each step (its last position).

    A step's value then depends on that step and the ``window - 1`` before it only, so it is final
    as soon as the step arrives. The first ``window - 1`` steps, which no window ends at, take
    their values from the first window (a stream reports them as warm-up instead).

    ``starts`` must be every start (stride 1), as :func:`sliding_windows` gives them.
    """
    errors = np.asarray(errors, dtype=float)
    window = errors.shape[1]
    _check_every_start(starts, n_steps, window)
    head = errors[0, : window - 1]
    return np.concatenate([head, errors[:, -1]], axis=0)


def fold_window_scores(scores: np.ndarray, starts: np.ndarray, n_steps: int, window: int,
                       context: str) -> np.ndarray:
    """One score per window to one score per step.

    ``"centred"``: a step's score is the mean score of the windows that cover it (it waits for the
    ``window - 1`` steps after it). ``"causal"``: the score of the window that ends at the step (the
    first ``window - 1`` steps take the first window's score).
    """
    scores = np.asarray(scores, dtype=float).ravel()
    if check_context(context) == CENTRED:
        return fold_window_errors(np.repeat(scores[:, None], window, axis=1), starts, n_steps)
    _check_every_start(starts, n_steps, window)
    return np.concatenate([np.full(window - 1, scores[0]), scores])


def _check_every_start(starts: np.ndarray, n_steps: int, window: int) -> None:
    if starts.size != n_steps - window + 1:
        raise DataError("Causal window scores need a window starting at every step (stride 1).")


def dominant_period(X: np.ndarray, *, low: int = 4, high: int | None = None, min_strength: float = 0.2) -> int | None:
    """The series' dominant period in steps, from its autocorrelation; ``None`` when it has none.

    Each feature is detrended (a straight line removed) and standardised; their autocorrelations
    (computed with the FFT, each lag divided by the number of pairs it has) are averaged. The period
    is the shortest lag whose local maximum of that average comes within 80% of the highest one,
    between ``low`` and ``high`` (default:
    half the series, so that two periods are seen), if the correlation there reaches
    ``min_strength``; a series without such a repeat (noise, a random walk, a trend) has none.
    """
    X = np.asarray(X, dtype=float)
    if X.ndim == 1:
        X = X[:, None]
    n = X.shape[0]
    high = min(int(high) if high else n // 2, n // 2)
    if high <= low + 1:
        return None
    steps = np.arange(n, dtype=float)
    design = np.column_stack([np.ones(n), steps - steps.mean()])
    coefficients, *_ = np.linalg.lstsq(design, X, rcond=None)
    residual = X - design @ coefficients
    spread = residual.std(axis=0)
    useful = spread > 1e-12
    if not useful.any():
        return None
    residual = residual[:, useful] / spread[useful]
    size = 1 << int(np.ceil(np.log2(2 * n)))  # zero padding: a linear, not a circular, correlation
    spectrum = np.fft.rfft(residual, size, axis=0)
    correlation = np.fft.irfft(np.abs(spectrum) ** 2, size, axis=0)[: high + 2]
    pairs = (n - np.arange(correlation.shape[0]))[:, None]
    correlation = ((correlation / pairs) / (correlation[0] / n)).mean(axis=1)
    # below the first zero crossing the curve is still falling from lag 0, not repeating
    negative = np.flatnonzero(correlation[1:] < 0)
    first = max(low, int(negative[0]) + 1 if negative.size else low)
    lags = np.arange(max(first, 1), high + 1)
    peaks = lags[(correlation[lags] >= correlation[lags - 1]) & (correlation[lags] >= correlation[lags + 1])]
    if peaks.size == 0:
        return None
    # multiples of the period repeat it almost as strongly: take the shortest peak near the highest
    strongest = float(correlation[peaks].max())
    if strongest < min_strength:
        return None
    return int(peaks[np.flatnonzero(correlation[peaks] >= 0.8 * strongest)[0]])


def auto_window(X: np.ndarray, *, fallback: int, low: int = 8, high: int = 256, share: float = 1.0,
                max_share_of_series: float = 0.25) -> tuple[int, str]:
    """A window length for ``X`` and how it was chosen (for the user to read).

    ``share`` x the dominant period (:func:`dominant_period`), kept within ``low`` .. ``high`` and
    at most ``max_share_of_series`` of the series so that there are windows to learn from; a series
    with no dominant period gets ``fallback``.
    """
    n = np.asarray(X).shape[0]
    ceiling = max(2, min(int(high), int(n * max_share_of_series)))
    floor = min(int(low), ceiling)
    period = dominant_period(X, low=4)
    if period is None:
        return int(min(max(fallback, floor), ceiling)), "no dominant period found: the method's usual length"
    window = int(min(max(round(share * period), floor), ceiling))
    how = f"the series' dominant period, {period} steps" if share == 1.0 else \
        f"{share:g} x the series' dominant period of {period} steps"
    if window != round(share * period):
        how += f", kept within {floor}-{ceiling}"
    return window, how
