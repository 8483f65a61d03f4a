"""Time columns: parsing, a health report (duplicates, gaps, order) and chronological splits.

A time series is only as good as its time axis. :func:`parse_time` accepts what people actually
export (ISO strings, epoch seconds or milliseconds, numbers stored as text), :func:`series_report`
says whether the axis is regular, and :func:`chronological_train_mask` picks the training part of a
series without ever shuffling it, so that no future value leaks into training.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .errors import DataError

#: Epoch numbers are read in the smallest unit whose magnitude fits: seconds up to 1e11 (year 5138),
#: then milliseconds up to 1e14, microseconds up to 1e17, nanoseconds above.
_EPOCH_UNITS = ((1e11, "s"), (1e14, "ms"), (1e17, "us"), (np.inf, "ns"))

#: A step longer than this multiple of the median step is reported as a gap.
GAP_FACTOR = 1.5


def _column_name(series: pd.Series) -> str:
    return repr(series.name) if series.name is not None else "the time column"


def _epoch_unit(values: np.ndarray) -> str:
    magnitude = float(np.median(np.abs(values)))
    for limit, unit in _EPOCH_UNITS:
        if magnitude < limit:
            return unit
    return "ns"  # pragma: no cover - the last limit is infinite


#: Whole numbers that read as compact calendar dates (20240131, 20240131120000) are dates, not epochs:
#: as epoch seconds or milliseconds they would all fall in 1970-1973 or after 2600.
_COMPACT_DATE_FORMATS = {8: "%Y%m%d", 14: "%Y%m%d%H%M%S"}


def _compact_dates(values: np.ndarray) -> pd.Series | None:
    if not np.all(values == np.round(values)) or np.any(values <= 0):
        return None
    digits = {len(str(int(v))) for v in values[:1000]}
    if len(digits) != 1 or (size := digits.pop()) not in _COMPACT_DATE_FORMATS:
        return None
    text = pd.Series(values.astype(np.int64).astype(str))
    parsed = pd.to_datetime(text, format=_COMPACT_DATE_FORMATS[size], errors="coerce")
    return parsed if parsed.notna().all() else None


def _from_epoch(numbers: pd.Series, name: str) -> pd.Series:
    values = numbers.to_numpy(dtype=float)
    if not np.all(np.isfinite(values)):
        bad = numbers[~np.isfinite(values)].iloc[0]
        raise DataError(f"The time column {name} holds a non-finite number ({bad!r}); it cannot be a timestamp.")
    compact = _compact_dates(values)
    if compact is not None:
        return compact.set_axis(numbers.index).rename(numbers.name)
    unit = _epoch_unit(values)
    try:
        return pd.to_datetime(numbers.astype(float), unit=unit)
    except (OverflowError, ValueError, pd.errors.OutOfBoundsDatetime) as exc:
        raise DataError(f"The time column {name} holds numbers that are not valid epoch times "
                        f"(read as {unit}): {exc}") from exc


#: Dates written with numbers only, day and month in either order: 02/01/2024, 2.1.24, 02-01-2024 12:00.
_NUMERIC_DATE = re.compile(r"^(\d{1,2})([/.-])(\d{1,2})\2(\d{4}|\d{2})(?!\d)")
_CLOCK_FORMATS = ("", " %H:%M", " %H:%M:%S", " %H:%M:%S.%f", "T%H:%M:%S")


def date_order(values: pd.Series) -> str | None:
    """Which field comes first in dates written with numbers only (``02/01/2024``).

    Returns
    -------
    {"day", "month", "ambiguous"} or None
        ``"day"`` when some first field is above 12 (it can only be a day), ``"month"`` when some
        second field is, ``"ambiguous"`` when no value tells, ``None`` when the values are not such
        dates (ISO dates, epochs, ...).

    Raises
    ------
    DataError
        Some dates only read day first and others only month first.
    """
    text = pd.Series(values).dropna().astype(str).str.strip()
    if text.empty or pd.api.types.is_numeric_dtype(values) or pd.api.types.is_datetime64_any_dtype(values):
        return None
    parts = text.str.extract(_NUMERIC_DATE)
    if parts[0].isna().any():
        return None
    first, second = parts[0].astype(int), parts[2].astype(int)
    day_first, month_first = bool((first > 12).any()), bool((second > 12).any())
    if day_first and month_first:
        a, b = text[first > 12].iloc[0], text[second > 12].iloc[0]
        raise DataError(f"The time column {_column_name(values)} mixes day-first dates ({a!r}) and month-first dates "
                        f"({b!r}); write every date the same way, preferably as ISO 8601 (2024-01-31).")
    return "day" if day_first else "month" if month_first else "ambiguous"


def _from_numeric_dates(text: pd.Series, name: str, order: str, dayfirst: bool | None) -> pd.Series:
    if order == "ambiguous":
        if dayfirst is None:
            raise DataError(
                f"The dates in the time column {name} (for example {text.iloc[0]!r}) read both day first and month "
                "first: no day is above 12. Say which order they are in (day first: 02/01/2024 is 2 January; "
                "month first: 1 February).")
        order = "day" if dayfirst else "month"
    first = _NUMERIC_DATE.match(text.iloc[0])
    separator, year = first.group(2), "%Y" if len(first.group(4)) == 4 else "%y"
    date = f"%d{separator}%m{separator}{year}" if order == "day" else f"%m{separator}%d{separator}{year}"
    for clock in _CLOCK_FORMATS:
        parsed = pd.to_datetime(text, format=date + clock, errors="coerce")
        if parsed.notna().all():
            return parsed
    parsed = pd.to_datetime(text, format="mixed", dayfirst=order == "day", errors="coerce")
    if parsed.notna().all():
        return parsed
    bad = text[parsed.isna()]
    raise DataError(f"The time column {name} has {bad.size} value(s) that are not dates, for example "
                    f"{bad.iloc[0]!r} (row {bad.index[0]}).")


def _from_text(text: pd.Series, name: str, dayfirst: bool | None = None) -> pd.Series:
    """Parse strings: numeric day/month dates in the order their values show, then ISO 8601 (fast,
    unambiguous), then pandas' per-value guessing."""
    order = date_order(text)
    if order is not None:
        return _from_numeric_dates(text, name, order, dayfirst)
    for fmt in ("ISO8601", "mixed"):
        try:
            parsed = pd.to_datetime(text, format=fmt, errors="coerce")
        except ValueError:
            # Mixed UTC offsets ("+01:00" next to "Z"): put them on one clock.
            parsed = pd.to_datetime(text, format=fmt, errors="coerce", utc=True)
        if parsed.notna().all():
            return parsed
    bad = text[parsed.isna()]
    raise DataError(
        f"The time column {name} has {bad.size} value(s) that are not dates or times, "
        f"for example {bad.iloc[0]!r} (row {bad.index[0]}). Use ISO 8601 text such as "
        "'2024-01-31 12:00:00', or epoch seconds / milliseconds."
    )


def _instants(parsed: pd.Series) -> np.ndarray:
    """Plain ``datetime64`` values for arithmetic: timezone-aware times are taken in UTC."""
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_convert(None)
    return parsed.to_numpy()


def parse_time(series: pd.Series, dayfirst: bool | None = None) -> pd.Series:
    """Convert a column to ``datetime64``.

    Parameters
    ----------
    series : pandas.Series
        Datetimes, ISO 8601 (or other pandas-readable) strings, epoch numbers, or epoch numbers
        stored as strings. Epoch numbers are read as seconds, milliseconds, microseconds or
        nanoseconds depending on their magnitude (median below 1e11 = seconds, below 1e14 =
        milliseconds, ...), so both ``1700000000`` and ``1700000000000`` mean November 2023.
        Whole numbers that are all valid compact dates, ``YYYYMMDD`` or ``YYYYMMDDhhmmss``, are
        read as such (20240131 is 31 January 2024, not a moment in August 1970).
        Dates written with numbers only (``02/01/2024``) are read day first or month first as
        their values show (see :func:`date_order`).
    dayfirst : bool, optional
        The order of such dates when no value shows it (no field above 12).

    Returns
    -------
    pandas.Series
        Same index and name, dtype ``datetime64`` (timezone-aware when the input had offsets).

    Raises
    ------
    DataError
        Empty or missing values, booleans, text that is not a time, or numeric dates whose order
        the values do not show and ``dayfirst`` does not give; the message names the column and
        shows one offending value.
    """
    if not isinstance(series, pd.Series):
        series = pd.Series(series)
    name = _column_name(series)
    if series.empty:
        raise DataError(f"The time column {name} is empty.")
    missing = series.isna()
    if missing.any():
        raise DataError(f"The time column {name} has {int(missing.sum())} empty value(s) "
                        f"(first at row {missing[missing].index[0]}); fill or drop those rows.")
    if pd.api.types.is_datetime64_any_dtype(series):
        return series.copy()
    if pd.api.types.is_bool_dtype(series):
        raise DataError(f"The time column {name} holds true/false values, not times.")
    if pd.api.types.is_numeric_dtype(series):
        return _from_epoch(series, name)
    text = series.astype(str).str.strip()
    numbers = pd.to_numeric(text, errors="coerce")
    if numbers.notna().all():
        return _from_epoch(numbers, name).rename(series.name)
    return _from_text(text, name, dayfirst).rename(series.name)


@dataclass
class SeriesReport:
    """Health of a time axis (see :func:`series_report`).

    Attributes
    ----------
    n : int
        Number of timestamps.
    start, end : pandas.Timestamp
        First and last time.
    median_step : pandas.Timedelta or None
        Median of the positive steps between consecutive (sorted) timestamps; ``None`` with
        fewer than two distinct times.
    n_duplicates : int
        Timestamps equal to an earlier one.
    n_gaps : int
        Steps longer than ``1.5 x median_step``.
    largest_gaps : list of dict
        The longest gaps, longest first: ``{"start", "end", "length"}`` (the times on either side).
    is_sorted : bool
        Whether the timestamps were already in non-decreasing order.
    """

    n: int
    start: pd.Timestamp
    end: pd.Timestamp
    median_step: pd.Timedelta | None
    n_duplicates: int
    n_gaps: int
    largest_gaps: list[dict[str, Any]] = field(default_factory=list)
    is_sorted: bool = True

    @property
    def is_regular(self) -> bool:
        """Sorted, no duplicate timestamps and no gaps."""
        return self.is_sorted and self.n_duplicates == 0 and self.n_gaps == 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        """One readable sentence, for a status line."""
        step = "no step" if self.median_step is None else f"a median step of {self.median_step}"
        parts = [f"{self.n} timestamps from {self.start} to {self.end} with {step}"]
        if not self.is_sorted:
            parts.append("not in time order")
        if self.n_duplicates:
            parts.append(f"{self.n_duplicates} duplicate timestamp(s)")
        if self.n_gaps:
            longest = self.largest_gaps[0]
            parts.append(f"{self.n_gaps} gap(s), the longest {longest['length']} from {longest['start']}")
        return "; ".join(parts) + "."


def series_report(time: pd.Series, *, max_gaps: int = 5) -> SeriesReport:
    """Describe a time axis: span, median step, duplicate timestamps, gaps and order.

    Parameters
    ----------
    time : pandas.Series
        Timestamps in row order (anything :func:`parse_time` accepts).
    max_gaps : int, default 5
        How many of the largest gaps to list.

    Returns
    -------
    SeriesReport
    """
    parsed = parse_time(time)
    values = _instants(parsed)
    steps_unsorted = np.diff(values)
    is_sorted = bool(np.all(steps_unsorted >= np.timedelta64(0))) if values.size > 1 else True
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    ordered_ts = parsed.iloc[order].reset_index(drop=True)  # same instants, in the input's timezone
    steps = np.diff(ordered)
    n_duplicates = int(np.sum(steps == np.timedelta64(0)))
    positive = steps[steps > np.timedelta64(0)]
    median_step, gaps = None, []
    n_gaps = 0
    if positive.size:
        # Median of positive steps: duplicates say nothing about the sampling rate.
        median_step = pd.Timedelta(np.median(positive.astype("timedelta64[ns]").astype(np.int64)), unit="ns")
        is_gap = steps > GAP_FACTOR * median_step.to_timedelta64()
        n_gaps = int(is_gap.sum())
        gap_at = np.flatnonzero(is_gap)
        longest = gap_at[np.argsort(-steps[gap_at].astype("timedelta64[ns]").astype(np.int64), kind="stable")]
        for i in longest[:max_gaps]:
            gaps.append({"start": ordered_ts.iloc[i], "end": ordered_ts.iloc[i + 1],
                         "length": pd.Timedelta(steps[i])})
    return SeriesReport(n=int(values.size), start=ordered_ts.iloc[0], end=ordered_ts.iloc[-1],
                        median_step=median_step, n_duplicates=n_duplicates, n_gaps=n_gaps,
                        largest_gaps=gaps, is_sorted=is_sorted)


def order_by_time(df: pd.DataFrame, time_column) -> tuple[pd.DataFrame, SeriesReport]:
    """Sort ``df`` by its time column (stable: rows with equal times keep their order).

    Parameters
    ----------
    df : pandas.DataFrame
    time_column : str
        Name of the time column; it is replaced by its parsed ``datetime64`` values.

    Returns
    -------
    sorted_df : pandas.DataFrame
        A sorted copy with a fresh 0..n-1 index.
    report : SeriesReport
        Report on the original order (``is_sorted`` tells whether sorting changed anything).
    """
    if time_column not in df.columns:
        raise DataError(f"There is no column {time_column!r}; columns are {', '.join(map(repr, df.columns))}.")
    parsed = parse_time(df[time_column])
    report = series_report(parsed)
    order = np.argsort(_instants(parsed), kind="stable")
    result = df.iloc[order].reset_index(drop=True)
    result[time_column] = parsed.iloc[order].reset_index(drop=True)
    return result, report


def _bound(value, time: pd.Series, which: str):
    if value is None:
        return None
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise DataError(f"The {which} of the training range, {value!r}, is not a date or time.") from exc
    if stamp is pd.NaT:
        raise DataError(f"The {which} of the training range is empty.")
    tz = getattr(time.dt, "tz", None)
    if tz is not None and stamp.tzinfo is None:
        stamp = stamp.tz_localize(tz)
    elif tz is None and stamp.tzinfo is not None:
        stamp = stamp.tz_convert(None)
    return stamp


def chronological_train_mask(n_or_time, *, train_fraction: float | None = None,
                             train_range=None) -> np.ndarray:
    """Boolean mask of a series' training part, never shuffled.

    Parameters
    ----------
    n_or_time : int or pandas.Series
        The series length, or its timestamps (needed for ``train_range``).
    train_fraction : float, optional
        Train on the first ``train_fraction`` of the series (in time order), 0 < f < 1.
    train_range : (start, end), optional
        Train on the rows whose time lies in ``[start, end]`` (both included; either may be
        ``None`` for an open end).

    Returns
    -------
    numpy.ndarray of bool, shape (n,)

    Raises
    ------
    DataError
        Neither or both choices given, a fraction outside (0, 1), a range without timestamps, a
        range with start after end, or a choice that selects no row.
    """
    if (train_fraction is None) == (train_range is None):
        raise DataError("Choose the training part either by a fraction of the series or by a time range (one of them).")
    time = None
    if isinstance(n_or_time, (int, np.integer)):
        n = int(n_or_time)
    else:
        time = parse_time(pd.Series(n_or_time) if not isinstance(n_or_time, pd.Series) else n_or_time)
        n = len(time)
    if n < 1:
        raise DataError("The series is empty.")
    if train_fraction is not None:
        try:
            fraction = float(train_fraction)
        except (TypeError, ValueError) as exc:
            raise DataError(f"The training fraction must be a number, got {train_fraction!r}.") from exc
        if not 0.0 < fraction < 1.0:
            raise DataError(f"The training fraction must be between 0 and 1 (exclusive), got {train_fraction}.")
        n_train = int(np.floor(n * fraction + 1e-9))
        if n_train < 1:
            raise DataError(f"A training fraction of {fraction:g} of {n} rows selects no row; choose a larger one.")
        mask = np.zeros(n, dtype=bool)
        if time is None:
            mask[:n_train] = True
        else:  # first rows in time order, whatever the row order
            mask[np.argsort(_instants(time), kind="stable")[:n_train]] = True
        return mask
    if time is None:
        raise DataError("A training time range needs the series' timestamps, not only its length.")
    try:
        start, end = train_range
    except (TypeError, ValueError) as exc:
        raise DataError(f"The training range must be a pair (start, end), got {train_range!r}.") from exc
    start, end = _bound(start, time, "start"), _bound(end, time, "end")
    if start is not None and end is not None and start > end:
        raise DataError(f"The training range starts ({start}) after it ends ({end}).")
    mask = np.ones(n, dtype=bool)
    if start is not None:
        mask &= (time >= start).to_numpy()
    if end is not None:
        mask &= (time <= end).to_numpy()
    if not mask.any():
        raise DataError(f"No row lies in the training range {start} .. {end}; "
                        f"the series runs from {time.min()} to {time.max()}.")
    return mask
