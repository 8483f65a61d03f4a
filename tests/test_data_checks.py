"""Data loading never loses data silently: cells that are not numbers, number notations, decimal
commas, encodings, date order, epoch times, constant columns, width limits and parser messages."""

import numpy as np
import pandas as pd
import pytest

from core.data import (MAX_COLUMNS, Roles, infer_roles, parse_numbers, prepare, read_table)
from core.errors import DataError
from core.experiment import run_experiment
from core.timeseries import date_order, parse_time


def _table_with(cell: str, n: int = 100) -> bytes:
    rng = np.random.default_rng(0)
    rows = [f"{a:.3f},{b:.3f}" for a, b in rng.normal(size=(n, 2))]
    rows[41] = f"{cell},{rows[41].split(',')[1]}"
    return ("f0,f1\n" + "\n".join(rows) + "\n").encode()


@pytest.mark.parametrize("cell", ["?", "-", "abc", "\x00", "#VALUE!"])
def test_a_cell_that_is_not_a_number_keeps_its_column_and_is_reported(cell):
    frame = read_table(_table_with(cell))
    assert pd.api.types.is_float_dtype(frame["f0"]) and np.isnan(frame["f0"].iloc[41])
    with pytest.raises(DataError, match=r"'f0' \(1, of which 1 not numbers such as"):
        prepare(frame, infer_roles(frame))
    dropped = prepare(frame, infer_roles(frame), missing="drop")
    assert dropped.X.shape == (99, 2) and dropped.feature_names == ["f0", "f1"]
    fate = {f.column: f for f in dropped.column_fates}["f0"]
    assert fate.role == "feature" and fate.unparsed == 1 and "drop those rows" in fate.reason


def test_fill_with_median_or_previous_value():
    frame = pd.DataFrame({"t": pd.date_range("2024-01-01", periods=5, freq="min")[::-1],
                          "v": [5.0, np.nan, 3.0, 2.0, 1.0]})
    previous = prepare(frame, Roles(time="t", features=["v"]), missing="previous")
    assert previous.X[:, 0].tolist() == [1.0, 2.0, 3.0, 3.0, 5.0]  # in time order: the gap takes 3.0
    median = prepare(frame, Roles(features=["v"]), missing="median")
    assert median.X[1, 0] == 2.5 and any("Filled 1" in w for w in median.warnings)


@pytest.mark.parametrize("cell, value", [("\u22125", -5.0), ("1,234", 1234.0), ("1,234.5", 1234.5), ("5%", 5.0),
                                         ("$5.50", 5.5), ("-$5.50", -5.5), ("5,50 \u20ac", np.nan), ("1\u00a0000", 1000.0),
                                         ("1,2345", np.nan), ("12,34", np.nan), ("abc", np.nan)])
def test_numbers_in_other_notations(cell, value):
    parsed = parse_numbers(pd.Series([cell])).iloc[0]
    assert (np.isnan(parsed) and np.isnan(value)) or parsed == value


@pytest.mark.parametrize("cell, value", [("1,5", 1.5), ("1.234,5", 1234.5), ("5,50 \u20ac", 5.5), ("1.234", 1234.0)])
def test_numbers_with_a_decimal_comma(cell, value):
    assert parse_numbers(pd.Series([cell]), decimal_comma=True).iloc[0] == value


@pytest.mark.parametrize("content", [b"a;b\n1,5;2,3\n2,5;3,25\n3,5;1,0\n", b"1,5;2,3\n2,5;3,25\n3,5;1,0\n",
                                     b"a\tb\n1,5\t2,3\n2,5\t3,25\n3,5\t1,0\n"])
def test_decimal_comma_files_are_numbers_not_constant_columns(content):
    frame = read_table(content)
    assert frame.shape == (3, 2) and frame.iloc[:, 0].tolist() == [1.5, 2.5, 3.5]
    data = prepare(frame, infer_roles(frame))
    assert len(data.feature_names) == 2


def test_a_semicolon_file_with_decimal_points_keeps_them():
    frame = read_table(b"a;b\n1.234;2.5\n2.5;x\n3.75;1.0\n")
    assert frame["a"].tolist() == [1.234, 2.5, 3.75]


@pytest.mark.parametrize("encoding, prefix", [("utf-8", b""), ("utf-8", b"\xef\xbb\xbf"), ("utf-16", b""),
                                              ("latin-1", b""), ("cp1252", b"")])
def test_encodings(encoding, prefix):
    text = "Température;Druck\n1,5;2\n2,5;3\n" if encoding != "cp1252" else "Température €;Druck\n1,5;2\n2,5;3\n"
    frame = read_table(prefix + text.encode(encoding))
    assert frame.columns[0].startswith("Température") and frame.iloc[:, 0].tolist() == [1.5, 2.5]
    if encoding == "cp1252":
        assert frame.columns[0] == "Température €"


def test_invalid_utf8_never_escapes_as_a_decode_error():
    frame = read_table(b"name,x\ncaf\xe9,1\nbar,2\n")
    roles = infer_roles(frame)  # used to raise UnicodeDecodeError
    assert roles.features == ["x"] and frame["name"].iloc[0] == "caf\u00e9"
    for content in ("Температура,x\n1,2\n".encode("cp1251"), b"name,x\ncaf\xe9,1\n\x81\x8d\x90,3\n"):
        with pytest.raises(DataError, match="UTF-8"):
            read_table(content)


def test_day_first_and_month_first_dates_read_from_the_values():
    day_first = pd.Series(["02/01/2024", "13/01/2024"], name="d")
    assert date_order(day_first) == "day"
    assert parse_time(day_first).dt.day.tolist() == [2, 13]
    month_first = pd.Series(["02/01/2024", "01/13/2024"], name="d")
    assert parse_time(month_first).dt.month.tolist() == [2, 1]
    ambiguous = pd.DataFrame({"d": ["02/01/2024", "01/02/2024"], "x": [1.0, 2.0]})
    with pytest.raises(DataError, match="day first and month first"):
        prepare(ambiguous, Roles(time="d"))
    data = prepare(ambiguous, Roles(time="d"), dayfirst=True)
    assert data.time.tolist() == [pd.Timestamp("2024-01-02"), pd.Timestamp("2024-02-01")]
    assert data.X[:, 0].tolist() == [1.0, 2.0]
    month_first_data = prepare(ambiguous, Roles(time="d"), dayfirst=False)
    assert month_first_data.X[:, 0].tolist() == [2.0, 1.0]  # 2 January comes first


@pytest.mark.parametrize("name, scale", [("ts", 1), ("timestamp", 1000), ("epoch", 1), ("reading_time", 1000),
                                         ("t0", 1), ("clock", 1000)])
def test_epoch_columns_are_offered_as_time(name, scale):
    frame = pd.DataFrame({name: (1_700_000_000 + 60 * np.arange(20)) * scale, "v": np.arange(20.0) % 3})
    roles = infer_roles(frame)
    assert roles.time == name and roles.features == ["v"]
    assert prepare(frame, roles).time.iloc[0].year == 2023
    without_roles = prepare(frame, Roles())  # the command line's default: never a silent feature
    assert without_roles.feature_names == ["v"] and any("hold times" in w for w in without_roles.warnings)
    assert {f.column: f.role for f in without_roles.column_fates}[name] == "ignored"


def test_a_counter_is_not_a_time():
    frame = pd.DataFrame({"id": np.arange(20), "v": np.arange(20.0) % 3})
    assert infer_roles(frame).time is None


def test_constant_columns_of_a_series_are_left_out_and_a_flat_series_scores_zero():
    n = 120
    time = pd.date_range("2024-01-01", periods=n, freq="min")
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"time": time, "cpu": rng.normal(size=n), **{f"disk{j}": 7.0 for j in range(5)}})
    data = prepare(frame, infer_roles(frame))
    assert data.feature_names == ["cpu"] and any("5 constant" in w for w in data.warnings)
    flat = prepare(frame.drop(columns="cpu"), infer_roles(frame.drop(columns="cpu")))
    result = run_experiment(flat, "zscore")
    assert np.all(result.scores == 0) and any("score 0" in w for w in flat.warnings)


def test_a_file_too_wide_is_refused_before_parsing():
    header = ",".join(f"c{j}" for j in range(200_000)).encode()
    with pytest.raises(DataError, match=f"at most {MAX_COLUMNS:,}"):
        read_table(header + b"\n" + b"1," * 199_999 + b"1\n")


@pytest.mark.parametrize("content, message", [
    (b"a,b\n1,2\n3,4,5\n6,7\n", "line 3 has 3 values but the header has 2"),
    (b'a,b\n1,"2\n3,4\n', "quoted value is never closed"),
    (b"a,b\n1,2,3\n4,5,6\n", "more values than the header"),
    (b"PK\x03\x04zipped", "ZIP"),
])
def test_parser_problems_say_what_to_fix(content, message):
    with pytest.raises(DataError, match=message) as caught:
        read_table(content, filename="bad.csv")
    assert "C error" not in str(caught.value) and "tokenizing" not in str(caught.value)


def test_every_column_is_accounted_for():
    frame = pd.DataFrame({"when": pd.date_range("2024-01-01", periods=6, freq="h"), "v": [1.0, 2, 3, 4, 5, 9],
                          "w": [2.0, 1, 2, 1, 2, 1], "note": list("abcdef"), "flag": [True, False] * 3,
                          "empty": [np.nan] * 6, "label": [0, 0, 0, 0, 0, 1]})
    data = prepare(frame, Roles(features=["v", "w", "empty"], time="when", label="label", normal_value=0))
    fates = {f.column: (f.role, f.reason) for f in data.column_fates}
    assert list(fates) == list(frame.columns)
    assert fates["when"][0] == "time" and fates["label"][0] == "label"
    assert fates["v"][0] == fates["w"][0] == "feature"
    assert fates["note"] == ("ignored", fates["note"][1]) and "text" in fates["note"][1]
    assert "true/false" in fates["flag"][1] and "missing" in fates["empty"][1]


def test_a_measurement_chosen_as_label_raises_doubts():
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"x": rng.normal(size=300), "sensor": rng.normal(size=300).round(3)})
    data = prepare(frame, Roles(label="sensor", normal_value=float(frame["sensor"].mode()[0])))
    assert any("looks like a measurement" in d for d in data.doubts)
    assert any("labelled anomalies" in d for d in data.doubts)
    assert infer_roles(frame.rename(columns={"sensor": "label"})).label is None
