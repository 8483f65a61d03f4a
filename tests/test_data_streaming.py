"""The streaming CSV reader gives the very table pandas' pyarrow reader gives, batch size aside."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from core import data
from core.data import read_table
from tests.odd_files import odd_files


def _pandas_reading(content: bytes, delimiter: str, has_header: bool) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(content), engine="pyarrow", sep=delimiter, header=0 if has_header else None)


def test_every_odd_file_the_streaming_reader_takes_reads_as_pandas_reads_it():
    compared = 0
    for odd in odd_files():
        if len(odd.content) > 50_000:  # the very wide files; their header is refused before parsing
            continue
        for has_header in (True, False):
            try:
                expected = _pandas_reading(odd.content, ",", has_header)
            except Exception:
                continue  # pandas' fast reader refuses it; read_table falls back to the default reader
            try:
                streamed = data._read_csv_streaming(odd.content, ",", has_header)
            except Exception:
                continue  # read_table falls back to pandas' readers for these
            if streamed is None:
                continue
            pd.testing.assert_frame_equal(streamed, expected, check_column_type=False, obj=odd.name)
            compared += 1
    assert compared > 100


@pytest.mark.parametrize("block_bytes", [64, 1000, 1 << 20])
def test_many_batches_give_the_whole_table(monkeypatch, block_bytes):
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(np.round(rng.normal(size=(5000, 3)), 4), columns=["a", "b", "c"])
    frame["name"] = [f"n{i % 7}" for i in range(len(frame))]
    frame["count"] = np.arange(len(frame))
    frame.loc[17, "b"] = np.nan  # a missing value in a float column
    content = frame.to_csv(index=False).encode()
    monkeypatch.setattr(data, "STREAM_BLOCK_BYTES", block_bytes)
    streamed = data._read_csv_streaming(content, ",", True)
    pd.testing.assert_frame_equal(streamed, _pandas_reading(content, ",", True), check_column_type=False)
    assert streamed.shape == (5000, 5) and np.isnan(streamed.loc[17, "b"])
    # and through read_table, whose checks see the same table
    pd.testing.assert_frame_equal(read_table(content, filename="t.csv"), streamed, check_column_type=False)


def test_a_column_whose_type_changes_after_the_first_batch_is_still_read(monkeypatch):
    content = ("x,y\n" + "".join(f"{i},{i}.5\n" for i in range(2000)) + "late text,1.5\n").encode()
    monkeypatch.setattr(data, "STREAM_BLOCK_BYTES", 256)
    frame = read_table(content, filename="t.csv")
    assert frame.shape == (2001, 2)
    assert frame["x"].iloc[1999] == 1999 and np.isnan(frame["x"].iloc[-1])
    assert frame.attrs["unparsed_cells"]["x"] == {"count": 1, "examples": ["late text"]}


def test_a_file_too_large_for_the_memory_left_is_refused_with_the_spark_way_out(monkeypatch, tmp_path):
    from core.errors import DataError

    path = tmp_path / "big.csv"
    path.write_text("a,b\n" + "1.5,2.5\n" * 1000)
    monkeypatch.setattr(data, "available_memory_bytes", lambda: 1000)
    with pytest.raises(DataError, match="engine spark"):
        read_table(path)
    monkeypatch.setattr(data, "available_memory_bytes", lambda: 10**9)
    assert read_table(path).shape == (1000, 2)
