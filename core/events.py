"""Anomaly events: runs of consecutive flagged time steps, and labelled ranges.

People read a series' anomalies as episodes ("the pump overheated from 14:05 to 14:40"), not as
hundreds of single flagged points. :func:`find_events` groups flags into such episodes;
:func:`label_events` does the same for 0/1 ground-truth labels and :func:`windows_to_labels` turns
NAB-style ``[[start, end], ...]`` windows into point labels.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .errors import DataError

EVENT_COLUMNS = ["start", "end", "start_index", "end_index", "length", "duration", "peak_score", "peak_index"]


def _binary(values, what: str) -> np.ndarray:
    """``values`` as a 1-D bool array, or a DataError saying why they are not 0/1 (also used for labels)."""
    array = np.asarray(values)
    if array.ndim != 1:
        array = array.ravel()
    try:
        numbers = array.astype(float)
    except (TypeError, ValueError) as exc:
        raise DataError(f"The {what} must be 0/1 values.") from exc
    if not np.all(np.isfinite(numbers)):
        raise DataError(f"The {what} contain NaN or infinite values.")
    if not np.all(np.isin(numbers, (0.0, 1.0))):
        raise DataError(f"The {what} must be 0/1 values, got {sorted(set(numbers.tolist()) - {0.0, 1.0})[:5]}.")
    return numbers.astype(bool)


def _steps(value, name: str) -> int:
    """A count of time steps, 0 or more, or a DataError naming the parameter (also used by metrics_ts)."""
    try:
        steps = int(value)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{name} must be a whole number of steps, got {value!r}.") from exc
    if steps < 0:
        raise DataError(f"{name} must be 0 or more, got {value}.")
    return steps


def runs(flags) -> tuple[np.ndarray, np.ndarray]:
    """Start and end index (inclusive) of each run of consecutive ``True`` values."""
    flags = np.asarray(flags, dtype=bool).ravel()
    edges = np.diff(np.r_[0, flags.astype(np.int8), 0])
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1


def _merge(starts: np.ndarray, ends: np.ndarray, min_gap: int) -> tuple[np.ndarray, np.ndarray]:
    """Merge runs separated by at most ``min_gap`` unflagged steps."""
    if starts.size < 2 or min_gap <= 0:
        return starts, ends
    unflagged_between = starts[1:] - ends[:-1] - 1
    new_event = np.r_[True, unflagged_between > min_gap]
    group_ends = np.r_[np.flatnonzero(new_event)[1:] - 1, starts.size - 1]
    return starts[new_event], ends[group_ends]


def _time_values(time, n: int):
    if time is None:
        return None
    from .timeseries import parse_time

    series = time if isinstance(time, pd.Series) else pd.Series(time)
    if len(series) != n:
        raise DataError(f"The time column has {len(series)} values but there are {n} flags.")
    return parse_time(series).reset_index(drop=True)


def _peaks(scores: np.ndarray, starts: np.ndarray, ends: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Index of the highest score inside each event (the first one on ties), without a Python loop."""
    if not starts.size:
        return np.zeros(0, dtype=np.int64)
    # reduceat over [start, end + 1) pairs; the padding makes end + 1 == n a valid index
    bounds = np.column_stack([starts, ends + 1]).ravel()
    peak = np.maximum.reduceat(np.append(scores, -np.inf), bounds)[::2]
    event_of = np.repeat(np.arange(starts.size), length)
    positions = np.repeat(starts, length) + np.arange(event_of.size) - np.repeat(np.cumsum(length) - length, length)
    hits = scores[positions] == peak[event_of]
    _, first = np.unique(event_of[hits], return_index=True)
    return positions[hits][first].astype(np.int64)


def _table(starts, ends, scores, time) -> pd.DataFrame:
    length = (ends - starts + 1).astype(np.int64)
    peak_index = _peaks(scores, starts, ends, length)
    peak_score = scores[peak_index] if starts.size else np.zeros(0)
    if time is None:
        start, end = starts.astype(np.int64), ends.astype(np.int64)
        duration = (ends - starts).astype(np.int64)
    else:
        start = pd.Series(time.iloc[starts].to_numpy(), dtype=time.dtype)
        end = pd.Series(time.iloc[ends].to_numpy(), dtype=time.dtype)
        duration = end - start
    return pd.DataFrame({
        "start": start, "end": end,
        "start_index": starts.astype(np.int64), "end_index": ends.astype(np.int64),
        "length": length, "duration": duration,
        "peak_score": np.asarray(peak_score, dtype=float), "peak_index": peak_index,
    }, columns=EVENT_COLUMNS)


def find_events(flags, scores=None, time=None, min_gap: int = 0) -> pd.DataFrame:
    """Group flagged time steps into events.

    Consecutive flagged steps form one event; events separated by at most ``min_gap`` unflagged
    steps are merged into one (the steps between them then belong to the event).

    Parameters
    ----------
    flags : array-like of 0/1 or bool, shape (n,)
        1 = flagged as anomalous, in time order.
    scores : array-like of float, shape (n,), optional
        Anomaly scores, used for each event's peak; without them the flags are used.
    time : pandas.Series or array-like, shape (n,), optional
        Timestamps; without them, ``start``/``end`` are step indices.
    min_gap : int, default 0
        Largest run of unflagged steps that still joins two events.

    Returns
    -------
    pandas.DataFrame
        One row per event, in time order, with columns ``start``, ``end`` (timestamps, or indices
        without ``time``), ``start_index``, ``end_index`` (inclusive), ``length`` (steps from start
        to end, both included), ``duration`` (``end - start``: a Timedelta with ``time``, a number
        of steps without; 0 for a single step), ``peak_score`` and ``peak_index`` (position of the
        highest score in the event).
    """
    flagged = _binary(flags, "flags")
    n = flagged.size
    if scores is None:
        values = flagged.astype(float)
    else:
        values = np.asarray(scores, dtype=float).ravel()
        if values.size != n:
            raise DataError(f"There are {values.size} scores but {n} flags.")
        if not np.all(np.isfinite(values)):
            raise DataError("The scores contain NaN or infinite values.")
    starts, ends = _merge(*runs(flagged), _steps(min_gap, "min_gap"))
    return _table(starts, ends, values, _time_values(time, n))


def label_events(y, time=None) -> pd.DataFrame:
    """The labelled anomaly ranges of 0/1 labels ``y`` (1 = anomaly), as :func:`find_events` rows.

    ``peak_score`` is 1 and ``peak_index`` the first step of each range.
    """
    return find_events(y, None, time=time, min_gap=0)


def windows_to_labels(time, windows) -> np.ndarray:
    """Point labels from anomaly windows given as timestamps.

    Parameters
    ----------
    time : pandas.Series or array-like, shape (n,)
        The series' timestamps.
    windows : list of (start, end)
        NAB's layout: ``[["2014-03-14 03:31:00", "2014-03-14 14:41:00"], ...]``; both ends included.

    Returns
    -------
    numpy.ndarray of int8, shape (n,)
        1 for every step whose time lies inside a window.
    """
    from .timeseries import parse_time

    stamps = parse_time(time if isinstance(time, pd.Series) else pd.Series(time))
    values = stamps.to_numpy()
    labels = np.zeros(values.size, dtype=np.int8)
    tz = getattr(stamps.dt, "tz", None)
    for number, window in enumerate(windows or []):
        try:
            start, end = (pd.Timestamp(w) for w in window)
        except (TypeError, ValueError) as exc:
            raise DataError(f"Anomaly window {number + 1} ({window!r}) is not a pair of timestamps.") from exc
        if start > end:
            raise DataError(f"Anomaly window {number + 1} starts ({start}) after it ends ({end}).")
        if tz is not None:
            start, end = (s.tz_localize(tz) if s.tzinfo is None else s for s in (start, end))
        inside = (stamps >= start) & (stamps <= end)
        labels[inside.to_numpy()] = 1
    return labels
