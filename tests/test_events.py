"""Grouping flags into events, labelled ranges and NAB windows."""

import numpy as np
import pandas as pd
import pytest

from core.errors import DataError
from core.events import EVENT_COLUMNS, find_events, label_events, windows_to_labels

FLAGS = [0, 1, 1, 0, 0, 1, 0, 1, 1, 1]
SCORES = [0.0, 2.0, 5.0, 0.1, 0.2, 3.0, 0.3, 4.0, 9.0, 1.0]


def test_consecutive_flags_form_events_with_their_peaks():
    events = find_events(FLAGS, SCORES)
    assert list(events.columns) == EVENT_COLUMNS
    assert events["start_index"].tolist() == [1, 5, 7]
    assert events["end_index"].tolist() == [2, 5, 9]
    assert events["length"].tolist() == [2, 1, 3]
    assert events["duration"].tolist() == [1, 0, 2]  # steps from first to last
    assert events["peak_index"].tolist() == [2, 5, 8]
    assert events["peak_score"].tolist() == [5.0, 3.0, 9.0]
    assert events["start"].tolist() == [1, 5, 7]  # indices without time


def test_min_gap_merges_events_separated_by_few_unflagged_steps():
    assert find_events(FLAGS, SCORES, min_gap=1)["start_index"].tolist() == [1, 5]   # 5 and 7 are 1 apart
    merged = find_events(FLAGS, SCORES, min_gap=2)
    assert merged[["start_index", "end_index", "length", "peak_index"]].values.tolist() == [[1, 9, 9, 8]]


def test_time_gives_timestamps_and_timedelta_durations():
    time = pd.Series(pd.date_range("2024-05-01 10:00", periods=10, freq="5min"))
    events = find_events(FLAGS, SCORES, time=time)
    assert events["start"].tolist()[0] == pd.Timestamp("2024-05-01 10:05")
    assert events["end"].tolist()[2] == pd.Timestamp("2024-05-01 10:45")
    assert events["duration"].tolist() == [pd.Timedelta(minutes=5), pd.Timedelta(0), pd.Timedelta(minutes=10)]


def test_events_at_both_ends_and_none():
    edges = find_events([1, 0, 0, 1], [1.0, 0.0, 0.0, 2.0])
    assert edges[["start_index", "end_index"]].values.tolist() == [[0, 0], [3, 3]]
    assert find_events([1, 1, 1], [1.0, 3.0, 2.0])["peak_index"].tolist() == [1]
    empty = find_events([0, 0, 0], [1.0, 2.0, 3.0])
    assert empty.empty and list(empty.columns) == EVENT_COLUMNS


def test_bad_inputs_are_refused():
    with pytest.raises(DataError, match="0/1"):
        find_events([0, 2, 1], [0.0, 1.0, 2.0])
    with pytest.raises(DataError, match="scores"):
        find_events([0, 1], [0.0, 1.0, 2.0])
    with pytest.raises(DataError, match="NaN"):
        find_events([0, 1], [0.0, np.nan])
    with pytest.raises(DataError, match="min_gap"):
        find_events([0, 1], [0.0, 1.0], min_gap=-1)
    with pytest.raises(DataError, match="time"):
        find_events([0, 1], [0.0, 1.0], time=pd.Series(pd.date_range("2024", periods=3, freq="D")))


def test_label_events_turns_labels_into_ranges():
    ranges = label_events(np.array([0, 1, 1, 1, 0, 0, 1]))
    assert ranges[["start_index", "end_index", "length"]].values.tolist() == [[1, 3, 3], [6, 6, 1]]


def test_windows_to_labels_includes_both_ends():
    time = pd.Series(["2014-03-14 03:26:00", "2014-03-14 03:31:00", "2014-03-14 03:36:00",
                      "2014-03-14 14:41:00", "2014-03-14 14:46:00"])
    windows = [["2014-03-14 03:31:00.000000", "2014-03-14 14:41:00.000000"]]
    assert windows_to_labels(time, windows).tolist() == [0, 1, 1, 1, 0]
    assert windows_to_labels(time, []).tolist() == [0] * 5


def test_windows_to_labels_refuses_bad_windows():
    time = pd.Series(pd.date_range("2024-01-01", periods=4, freq="h"))
    with pytest.raises(DataError, match="after it ends"):
        windows_to_labels(time, [["2024-01-02", "2024-01-01"]])
    with pytest.raises(DataError, match="pair"):
        windows_to_labels(time, [["2024-01-01"]])
