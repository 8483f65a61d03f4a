"""Every odd file through the library and the command line: a correct result or a DataError that
says what to fix; never another exception, a raw parser message, a silently lost column or a NaN score."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest

from core.cli import main
from core.data import UNPARSED_CELLS, infer_roles, prepare, read_table
from core.errors import DataError
from core.experiment import run_experiment
from tests.odd_files import odd_files, write_odd_files

FILES = odd_files()
RAW_PARSER_TEXT = re.compile(r"C error|Error tokenizing|EOF inside|Traceback|codec can't|pyarrow|ArrowInvalid")


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    return dict((odd.name, path) for odd, path in write_odd_files(tmp_path_factory.mktemp("odd")))


def load(path):
    """read_table -> infer_roles -> prepare -> a zscore fit and score; returns what each step gave."""
    frame = read_table(path)
    roles = infer_roles(frame)
    dataset = prepare(frame, roles, missing="median")
    result = run_experiment(dataset, "zscore")
    return frame, roles, dataset, result


def check_message(error: DataError) -> None:
    message = str(error)
    assert len(message) > 20 and "\n" not in message, message
    assert not RAW_PARSER_TEXT.search(message), message


def test_the_generator_makes_enough_distinct_files():
    assert len(FILES) >= 250
    assert len({f.content for f in FILES}) == len(FILES)
    assert [f.content for f in odd_files()[:20]] == [f.content for f in FILES[:20]]  # deterministic


@pytest.mark.parametrize("odd", FILES, ids=[f.name for f in FILES])
def test_library_gives_a_result_or_a_clear_data_error(odd, written):
    expect = odd.expect
    try:
        frame, roles, dataset, result = load(written[odd.name])
    except DataError as error:
        check_message(error)
        if "error" not in expect and expect:
            # a file with expectations about its result must reach one, unless it is about labels
            assert "label" in expect, f"{odd.name}: unexpected DataError: {error}"
        if "error" in expect:
            assert re.search(expect["error"], str(error)), f"{odd.name}: {error}"
        return
    assert "error" not in expect, f"{odd.name} should have been refused ({expect['error']})"
    if odd.columns is not None:
        assert frame.shape[1] == odd.columns, f"{odd.name}: {frame.shape[1]} columns read, file has {odd.columns}"
    assert [f.column for f in dataset.column_fates] == list(frame.columns), "every column is accounted for"
    assert all(f.role in {"feature", "time", "label", "ignored"} for f in dataset.column_fates)
    assert all(f.reason for f in dataset.column_fates if f.role == "ignored"), "an ignored column says why"
    assert np.isfinite(result.scores).all() and result.scores.shape == (dataset.n_rows,)
    if "features" in expect:
        assert len(dataset.feature_names) == expect["features"], (odd.name, dataset.column_fates)
    if "time" in expect:
        assert roles.time == expect["time"] and dataset.is_series
        assert dataset.time.is_monotonic_increasing
    if "label" in expect:
        assert roles.label == expect["label"]
    if "header" in expect:
        assert frame.columns[0] == expect["header"]
    for column, count in expect.get("unparsed", {}).items():
        assert frame.attrs[UNPARSED_CELLS][column]["count"] == count
        fate = {f.column: f for f in dataset.column_fates}[column]
        assert fate.role == "feature" and fate.unparsed == count and "not numbers" in fate.reason
    for column, (row, value) in expect.get("values", {}).items():
        assert frame[column].iloc[row] == pytest.approx(value), (odd.name, frame[column].head().tolist())
    if expect.get("zero_scores"):
        assert np.all(result.scores == 0)
        assert any("constant" in w for w in dataset.warnings)


@pytest.mark.parametrize("odd", FILES, ids=[f.name for f in FILES])
def test_cli_in_process_ends_in_a_result_or_one_error_line(odd, written, capsys):
    status = main(["evaluate", str(written[odd.name]), "--method", "zscore", "--missing", "median", "--json"])
    captured = capsys.readouterr()
    assert status in (0, 2), captured.err
    if status == 2:
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
        assert not RAW_PARSER_TEXT.search(lines[0]), lines[0]
    else:
        assert '"method": "zscore"' in captured.out
        assert all(line.startswith("note: ") for line in captured.err.strip().splitlines())


SUBPROCESS_FILES = ["empty.csv", "zip_named_csv.csv", "unclosed_quote.csv", "ragged_extra_field.csv",
                    "very_wide_200k.csv", "binary_garbage_3.csv", "encoding_shift_jis.csv", "dates_ambiguous.csv",
                    "all_nan.csv", "cell_question_f0_row37.csv"]


def test_cli_subprocess_prints_one_line_and_exits_2(written):
    for name in SUBPROCESS_FILES:
        args = ["evaluate", written[name], "--method", "zscore"]
        if name == "dates_ambiguous.csv":
            args += ["--time-column", "date"]
        out = subprocess.run([sys.executable, "-m", "core", *map(str, args)], capture_output=True, text=True,
                             timeout=120)
        assert out.returncode == 2, (name, out.stderr)
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (name, out.stderr)
