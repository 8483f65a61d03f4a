"""Loading tables and applying roles: formats, header detection and every bad-input message."""

import io

import numpy as np
import pandas as pd
import pytest

from core.data import Roles, column_summary, infer_roles, prepare, read_table, resolve_column
from core.errors import DataError


def test_csv_with_header(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("temperature,pressure,label\n1.0,2.0,0\n1.5,2.5,1\n")
    frame = read_table(path)
    assert list(frame.columns) == ["temperature", "pressure", "label"]
    assert frame.shape == (2, 3)


def test_csv_without_header_gets_positional_names():
    frame = read_table(b"0.1,0.2,1.0\n0.3,0.4,0.0\n", filename="beats.csv")
    assert list(frame.columns) == ["0", "1", "2"]
    assert frame.shape == (2, 3)


def test_semicolon_delimiter():
    frame = read_table(b"a;b\n1;2\n3;4\n")
    assert list(frame.columns) == ["a", "b"] and frame["b"].tolist() == [2, 4]


def test_parquet_round_trip(tmp_path):
    original = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [0, 1, 0]})
    path = tmp_path / "t.parquet"
    original.to_parquet(path)
    pd.testing.assert_frame_equal(read_table(path), original)
    pd.testing.assert_frame_equal(read_table(path.read_bytes(), filename="upload"), original)


@pytest.mark.parametrize("content, message", [
    (b"", "empty"),
    (b"a,b\n", "no data rows"),
    (b"\x00\x01\x02binary", "binary"),
])
def test_bad_files(content, message):
    with pytest.raises(DataError, match=message):
        read_table(content, filename="bad.csv")


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(DataError, match="not found"):
        read_table(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="folder"):
        read_table(tmp_path)


def test_corrupt_parquet():
    with pytest.raises(DataError, match="Parquet"):
        read_table(b"PAR1 this is not parquet", filename="x.parquet")


def test_columns_by_name_or_position():
    frame = pd.DataFrame({"a": [1], "b": [2]})
    assert resolve_column(frame, "b") == "b"
    assert resolve_column(frame, 1) == "b" and resolve_column(frame, "0") == "a"
    with pytest.raises(DataError, match="No column"):
        resolve_column(frame, "c")


def _frame(n=50, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"x": rng.normal(size=n), "z": rng.normal(size=n), "label": [0] * (n - 5) + [1] * 5})


def test_prepare_labels_anomaly_as_one():
    data = prepare(_frame(), Roles(label="label", normal_value=0))
    assert data.feature_names == ["x", "z"]
    assert data.X.shape == (50, 2) and data.y.sum() == 5


def test_normal_value_typed_as_text_matches_numbers():
    data = prepare(_frame(), Roles(label="label", normal_value="0"))
    assert data.y.sum() == 5


def test_label_value_not_present():
    with pytest.raises(DataError, match="does not occur"):
        prepare(_frame(), Roles(label="label", normal_value=7))


def test_no_numeric_columns():
    frame = pd.DataFrame({"name": ["a", "b", "c"], "city": ["x", "y", "z"]})
    with pytest.raises(DataError, match="no numeric columns"):
        prepare(frame, Roles())


def test_non_numeric_feature():
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "w": ["one", "two", "3"]})
    with pytest.raises(DataError, match="not numeric"):
        prepare(frame, Roles(features=["x", "w"]))


def test_mostly_numeric_feature_names_the_cells_that_are_not_numbers():
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "w": ["1", "two", "3"]})
    with pytest.raises(DataError, match=r"'w' \(1, of which 1 not numbers such as 'two'\)"):
        prepare(frame, Roles(features=["x", "w"]))


def test_nan_refused_or_dropped():
    frame = _frame()
    frame.loc[3, "x"] = np.nan
    frame.loc[7, "z"] = np.inf
    with pytest.raises(DataError, match="missing, infinite"):
        prepare(frame, Roles(label="label", normal_value=0))
    data = prepare(frame, Roles(label="label", normal_value=0), drop_missing=True)
    assert data.X.shape[0] == 48 and np.isfinite(data.X).all()
    assert any("Dropped 2 rows" in w for w in data.warnings)


def test_constant_column_left_out_with_a_notice_or_refused():
    frame = _frame()
    frame["flat"] = 1.0
    data = prepare(frame, Roles(label="label", normal_value=0))
    assert "flat" not in data.feature_names
    assert any("constant" in w and "'flat'" in w for w in data.warnings)
    fate = {f.column: f for f in data.column_fates}["flat"]
    assert fate.role == "ignored" and "constant" in fate.reason
    with pytest.raises(DataError, match="Constant"):
        prepare(frame, Roles(label="label", normal_value=0), drop_constant=False)


def test_too_few_rows():
    with pytest.raises(DataError, match="usable rows"):
        prepare(pd.DataFrame({"x": [1.0]}), Roles())


def test_time_column_sorts_rows_and_keeps_alignment():
    frame = pd.DataFrame({"t": ["2024-01-01 00:02", "2024-01-01 00:00", "2024-01-01 00:01"],
                          "v": [3.0, 1.0, 2.0], "label": [1, 0, 0]})
    data = prepare(frame, Roles(time="t", label="label", normal_value=0))
    assert data.is_series
    assert data.X[:, 0].tolist() == [1.0, 2.0, 3.0]
    assert data.y.tolist() == [0, 0, 1]
    assert data.time.is_monotonic_increasing


def test_unparsable_time_column():
    frame = pd.DataFrame({"t": ["yesterday", "today", "tomorrow"], "v": [1.0, 2.0, 3.0]})
    with pytest.raises(DataError):
        prepare(frame, Roles(time="t"))


def test_infer_roles_on_a_sensor_file():
    frame = read_table(io.BytesIO(b"timestamp,temperature,pressure,anomaly\n"
                                  b"2024-01-01 00:00:00,20.1,1.0,0\n2024-01-01 00:01:00,20.3,1.1,0\n"
                                  b"2024-01-01 00:02:00,35.0,1.0,1\n"))
    roles = infer_roles(frame)
    assert roles.time == "timestamp" and roles.label == "anomaly" and roles.normal_value == 0
    assert roles.features == ["temperature", "pressure"]


def test_infer_roles_on_ecg_layout():
    rng = np.random.default_rng(0)
    rows = np.c_[rng.normal(size=(30, 10)), np.r_[np.ones(20), np.zeros(10)]]
    frame = read_table("\n".join(",".join(f"{v:.4f}" for v in r) for r in rows).encode())
    roles = infer_roles(frame)
    assert roles.label == "10" and roles.normal_value == 1.0 and len(roles.features) == 10


def test_column_summary():
    summary = column_summary(pd.DataFrame({"a": [1.0, np.nan, 3.0], "b": ["x", "x", "x"]}))
    row_a = summary.set_index("column").loc["a"]
    assert row_a["missing"] == 1 and row_a["min"] == 1.0 and row_a["max"] == 3.0
    assert bool(summary.set_index("column").loc["b", "constant"])


def test_time_zones_survive_sorting():
    frame = pd.DataFrame({"t": ["2024-01-01T00:01:00+01:00", "2024-01-01T00:00:00+01:00"], "v": [2.0, 1.0]})
    data = prepare(frame, Roles(time="t"))
    assert isinstance(data.time.dtype, pd.DatetimeTZDtype)
    assert data.X[:, 0].tolist() == [1.0, 2.0]
