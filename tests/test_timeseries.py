"""Time parsing, the time-axis report, sorting by time and chronological training masks."""

import numpy as np
import pandas as pd
import pytest

from core.errors import DataError
from core.timeseries import chronological_train_mask, order_by_time, parse_time, series_report

NOV_2023 = pd.Timestamp("2023-11-14 22:13:20")  # epoch 1_700_000_000 s


def test_parse_iso_strings_with_space_or_t():
    parsed = parse_time(pd.Series(["2013-07-04 00:00:00", "2013-07-04T01:30:00"], name="timestamp"))
    assert pd.api.types.is_datetime64_any_dtype(parsed)
    assert parsed.tolist() == [pd.Timestamp("2013-07-04 00:00"), pd.Timestamp("2013-07-04 01:30")]
    assert parsed.name == "timestamp"


@pytest.mark.parametrize("values", [
    [1_700_000_000, 1_700_000_060],                 # epoch seconds
    [1_700_000_000.0, 1_700_000_060.0],             # seconds as floats
    [1_700_000_000_000, 1_700_000_060_000],         # epoch milliseconds
    ["1700000000", "1700000060"],                   # seconds stored as text
    ["1700000000000", "1700000060000"],             # milliseconds stored as text
])
def test_parse_epoch_seconds_and_milliseconds_by_magnitude(values):
    parsed = parse_time(pd.Series(values))
    assert parsed.tolist() == [NOV_2023, NOV_2023 + pd.Timedelta(minutes=1)]


def test_compact_calendar_dates_are_not_read_as_epochs():
    assert parse_time(pd.Series([20240131, 20240201])).tolist() == [pd.Timestamp("2024-01-31"), pd.Timestamp("2024-02-01")]
    assert parse_time(pd.Series(["20240131120500"])).tolist() == [pd.Timestamp("2024-01-31 12:05")]
    # Not all valid dates (month 13): plain epoch seconds.
    assert parse_time(pd.Series([20241399])).iloc[0].year == 1970


def test_parse_mixed_utc_offsets_to_one_clock():
    parsed = parse_time(pd.Series(["2020-01-01T00:00:00+01:00", "2020-01-01T00:00:00Z"]))
    assert parsed.iloc[1] - parsed.iloc[0] == pd.Timedelta(hours=1)


def test_datetimes_pass_through_unchanged():
    times = pd.Series(pd.date_range("2024-01-01", periods=3, freq="h"))
    assert parse_time(times).equals(times)


def test_unparsable_time_names_the_column_and_a_bad_value():
    with pytest.raises(DataError, match=r"'when'.*'banana'"):
        parse_time(pd.Series(["2020-01-01", "banana", "2020-01-03"], name="when"))


@pytest.mark.parametrize("values", [[True, False], ["2020-01-01", None], []])
def test_booleans_missing_or_empty_times_are_refused(values):
    with pytest.raises(DataError):
        parse_time(pd.Series(values, dtype=object if values else float))


def _times(*minutes):
    return pd.Series(pd.Timestamp("2024-01-01") + pd.to_timedelta(list(minutes), unit="min"))


def test_report_counts_duplicates_gaps_and_order():
    report = series_report(_times(0, 1, 1, 2, 10, 11, 5))
    assert report.n == 7
    assert report.start == pd.Timestamp("2024-01-01 00:00") and report.end == pd.Timestamp("2024-01-01 00:11")
    assert report.median_step == pd.Timedelta(minutes=1)  # duplicates do not count as steps
    assert report.n_duplicates == 1
    assert report.n_gaps == 2  # 2 -> 5 and 5 -> 10, both longer than 1.5 minutes
    assert report.largest_gaps[0] == {"start": pd.Timestamp("2024-01-01 00:05"),
                                      "end": pd.Timestamp("2024-01-01 00:10"), "length": pd.Timedelta(minutes=5)}
    assert report.largest_gaps[1]["length"] == pd.Timedelta(minutes=3)
    assert not report.is_sorted and not report.is_regular
    assert "2 gap(s)" in report.summary()


def test_report_of_a_regular_series():
    report = series_report(_times(*range(0, 50, 5)))
    assert report.is_sorted and report.is_regular
    assert (report.n_gaps, report.n_duplicates, report.median_step) == (0, 0, pd.Timedelta(minutes=5))


def test_report_of_one_timestamp_has_no_step():
    report = series_report(_times(3))
    assert report.n == 1 and report.median_step is None and report.n_gaps == 0


def test_order_by_time_is_stable_and_parses_the_column():
    frame = pd.DataFrame({"t": ["1700000120", "1700000000", "1700000060", "1700000000"], "v": [3, 1, 2, 11]})
    ordered, report = order_by_time(frame, "t")
    assert ordered["v"].tolist() == [1, 11, 2, 3]  # the two equal times keep their order
    assert ordered.index.tolist() == [0, 1, 2, 3]
    assert pd.api.types.is_datetime64_any_dtype(ordered["t"])
    assert not report.is_sorted and report.n_duplicates == 1
    assert frame["v"].tolist() == [3, 1, 2, 11]  # input untouched


def test_order_by_time_unknown_column():
    with pytest.raises(DataError, match="no column 'time'"):
        order_by_time(pd.DataFrame({"t": [1, 2]}), "time")


def test_train_mask_by_fraction():
    assert chronological_train_mask(10, train_fraction=0.3).tolist() == [True] * 3 + [False] * 7
    assert chronological_train_mask(20, train_fraction=0.15).sum() == 3


def test_train_mask_by_fraction_follows_time_not_row_order():
    mask = chronological_train_mask(_times(4, 0, 3, 1, 2), train_fraction=0.4)
    assert mask.tolist() == [False, True, False, True, False]


def test_train_mask_by_time_range_includes_both_ends():
    times = _times(*range(10))
    mask = chronological_train_mask(times, train_range=("2024-01-01 00:02", "2024-01-01 00:05"))
    assert np.flatnonzero(mask).tolist() == [2, 3, 4, 5]
    open_start = chronological_train_mask(times, train_range=(None, "2024-01-01 00:01"))
    assert np.flatnonzero(open_start).tolist() == [0, 1]


@pytest.mark.parametrize("kwargs", [
    {},                                                         # no choice
    {"train_fraction": 0.5, "train_range": ("2024", "2025")},  # both
    {"train_fraction": 0.0}, {"train_fraction": 1.0}, {"train_fraction": "half"},
    {"train_fraction": 0.05},                                   # selects no row of 10
])
def test_invalid_fraction_choices(kwargs):
    with pytest.raises(DataError):
        chronological_train_mask(10, **kwargs)


def test_invalid_range_choices():
    times = _times(*range(10))
    with pytest.raises(DataError, match="timestamps"):
        chronological_train_mask(10, train_range=("2024-01-01", "2024-01-02"))
    with pytest.raises(DataError, match="after it ends"):
        chronological_train_mask(times, train_range=("2024-01-01 00:05", "2024-01-01 00:01"))
    with pytest.raises(DataError, match="No row"):
        chronological_train_mask(times, train_range=("2030-01-01", "2031-01-01"))
    with pytest.raises(DataError, match="not a date"):
        chronological_train_mask(times, train_range=("soon", None))


def test_timezone_aware_times_are_reported_sorted_and_masked():
    times = parse_time(pd.Series(["2020-01-01T00:01:00Z", "2020-01-01T00:00:00Z", "2020-01-01T00:05:00Z"]))
    report = series_report(times)
    assert not report.is_sorted and report.n_gaps == 1
    assert report.start == pd.Timestamp("2020-01-01 00:00", tz="UTC")
    ordered, _ = order_by_time(pd.DataFrame({"t": times, "v": [1, 2, 3]}), "t")
    assert ordered["v"].tolist() == [2, 1, 3] and str(ordered["t"].dt.tz) == "UTC"
    mask = chronological_train_mask(times, train_range=("2020-01-01 00:00", "2020-01-01 00:01"))
    assert mask.tolist() == [True, True, False]  # naive bounds read in the series' timezone
