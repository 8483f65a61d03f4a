"""CSV outputs never hand a spreadsheet a formula: the CLI, the dashboard download and the stream sink."""

from __future__ import annotations

import csv
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from core.export import csv_text, escape_cell
from tests.app_support import ROOT

RISKY = ["=1+2", "+cmd", "-2+3", "@SUM(A1)", "\tx", "\rx", "=HYPERLINK(\"http://x\")"]


@pytest.mark.parametrize("text", RISKY)
def test_risky_text_gets_a_leading_quote(text):
    assert escape_cell(text) == "'" + text


@pytest.mark.parametrize("value", [-3.2, -1, 0.5, "-3.2", "+4", "-1e3", "plain", "a=b", "", None, np.nan])
def test_numbers_and_plain_text_are_unchanged(value):
    out = escape_cell(value)
    assert out is value or (out == value)


def _frame():
    return pd.DataFrame({"=name": ["=1+2", "ok", "-3.2"], "value": [-3.2, 1.0, 2.5],
                         "kind": pd.Categorical(["@x", "b", "b"]), "count": [-1, 2, 3]})


def test_csv_text_escapes_cells_and_names_and_keeps_numbers():
    rows = list(csv.reader(csv_text(_frame()).splitlines()))
    assert rows[0] == ["'=name", "value", "kind", "count"]
    assert rows[1] == ["'=1+2", "-3.2", "'@x", "-1"]
    assert rows[3][0] == "-3.2"  # text that reads as a number is harmless
    back = pd.read_csv(pd.io.common.StringIO(csv_text(_frame())))
    assert back["value"].tolist() == [-3.2, 1.0, 2.5] and back["count"].dtype.kind == "i"


def test_cli_score_writes_escaped_cells(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=60).round(3), "b": rng.normal(size=60).round(3),
                          "note": ["=cmd|' /C calc'!A0"] + ["fine"] * 59})
    data, model, out = tmp_path / "d.csv", tmp_path / "m.bundle", tmp_path / "scored.csv"
    frame.to_csv(data, index=False)
    for args in (("train", data, "--method", "zscore", "--feature-columns", "a,b", "--test-size", "0",
                  "--out", model), ("score", model, data, "--out", out)):
        done = subprocess.run([sys.executable, "-m", "core", *map(str, args)], cwd=ROOT, capture_output=True,
                              text=True)
        assert done.returncode == 0, done.stderr
    rows = list(csv.reader(out.read_text().splitlines()))
    assert rows[1][2] == "'=cmd|' /C calc'!A0"
    assert float(rows[1][0]) == frame.loc[0, "a"]  # numbers still parse as numbers


def test_stream_csv_sink_escapes_names_values_and_raw_text(tmp_path):
    from core.streaming.sinks import CSVSink

    sink = CSVSink(tmp_path / "s.csv", ["=temp", "load"])
    sink.write([{"type": "score", "seq": 0, "score": -3.2, "flag": 0, "values": {"=temp": -1.5, "load": "@x"}},
                {"type": "error", "seq": 1, "error": "not a number", "raw": "=HYPERLINK(\"http://x\")"}])
    sink.close()
    rows = list(csv.DictReader((tmp_path / "s.csv").read_text().splitlines()))
    assert "'=temp" in rows[0] and rows[0]["'=temp"] == "-1.5" and rows[0]["score"] == "-3.2"
    assert rows[0]["load"] == "'@x"
    assert rows[1]["raw"] == "'=HYPERLINK(\"http://x\")"


def test_dashboard_scored_download_is_escaped():
    from core.data import Roles, prepare
    from core.experiment import run_experiment
    from dashboard.export_view import scored_csv

    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"a": rng.normal(size=80), "+b": rng.normal(size=80), "note": ["@SUM(A1)"] * 80})
    dataset = prepare(frame, Roles(features=["a", "+b"]))
    result = run_experiment(dataset, "zscore")
    result.table_name = "d.csv"
    rows = list(csv.reader(scored_csv(result, result.threshold).splitlines()))
    assert rows[0][:3] == ["a", "'+b", "note"] and rows[1][2] == "'@SUM(A1)"
