"""Odd and malformed table files, generated deterministically for the data-loading tests.

:func:`odd_files` returns a few hundred small files of the kinds people really load: numbers in
other notations, decimal commas, several encodings, day-first and month-first dates, epoch times,
constant columns, broken CSV structure, binary files under a .csv name, time zones, and label
columns of every shape. Each :class:`OddFile` may carry what loading it must give (``expect``):
the tests check those, and check every file against the general promise (a correct result or a
:class:`~core.errors.DataError` that says what to fix, never another exception or a silent loss).
"""

from __future__ import annotations

import codecs
import gzip
import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.data import MAX_COLUMNS


@dataclass
class OddFile:
    """One generated file.

    ``columns``: how many columns the file has (``None`` when it has no readable table);
    ``expect``: checks on the outcome, any of ``error`` (a regular expression the DataError must
    match), ``features`` (the feature count after :func:`core.data.prepare`), ``unparsed``
    (``{column: count}``), ``time`` (the guessed time column), ``label`` (the guessed label
    column), ``values`` (``{column: [first values]}`` read by :func:`core.data.read_table`),
    ``zero_scores`` (every score is 0).
    """

    name: str
    content: bytes
    columns: int | None = None
    expect: dict = field(default_factory=dict)


def _numbers(n: int, k: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.round(rng.normal(10.0, 2.0, size=(n, k)), 3)


def _csv(header: list[str] | None, rows: list[list[str]], sep: str = ",", newline: str = "\n") -> bytes:
    lines = ([sep.join(header)] if header is not None else []) + [sep.join(r) for r in rows]
    return (newline.join(lines) + newline).encode("utf-8")


def _table(n: int = 60, k: int = 3, seed: int = 0) -> tuple[list[str], list[list[str]]]:
    values = _numbers(n, k, seed)
    return [f"f{j}" for j in range(k)], [[f"{v:.3f}" for v in row] for row in values]


# ------------------------------------------------------------------------------------------------
def _bad_cells() -> list[OddFile]:
    """One cell that is not a number in an otherwise numeric column, at several rows."""
    tokens = {"question": "?", "dash": "-", "abc": "abc", "quoted_thousands": '"1,234"', "percent": "5%",
              "dollar": "$5.50", "unicode_minus": "\u22125", "nul": "\x00", "value_error": "#VALUE!",
              "double_dash": "--", "dot": ".", "exponent_only": "1e", "words": "not measured",
              "euro": '"5,50 \u20ac"', "spaces": "   ", "inf": "inf", "minus_inf": "-inf", "nan_text": "NaN"}
    # cells that are numbers in another notation, and what they read as
    numbers = {"quoted_thousands": 1234.0, "percent": 5.0, "dollar": 5.5, "unicode_minus": -5.0,
               "inf": np.inf, "minus_inf": -np.inf}
    blank = {"spaces", "nan_text"}  # read as missing values, not as bad cells
    files = []
    for kind, token in tokens.items():
        for column, row in ((0, 0), (0, 37), (0, 99), (1, 50)):
            header, rows = _table(100, 2, seed=row)
            rows[row][column] = token
            name = header[column]
            expect: dict = {"features": 2}
            if kind in numbers:
                expect["values"] = {name: (row, numbers[kind])}
            elif kind not in blank:
                expect["unparsed"] = {name: 1}
            files.append(OddFile(f"cell_{kind}_{name}_row{row}.csv", _csv(header, rows), 2, expect))
    return files


def _decimal_commas() -> list[OddFile]:
    files = []
    values = _numbers(40, 3, seed=5)
    for sep, sep_name in ((";", "semicolon"), ("\t", "tab"), ("|", "pipe")):
        for header in (True, False):
            rows = [[f"{v:.2f}".replace(".", ",") for v in row] for row in values]
            head = ["a", "b", "c"] if header else None
            expect = {"features": 3, "values": {"a" if header else "0": (0, round(values[0, 0], 2))}}
            files.append(OddFile(f"decimal_comma_{sep_name}_{'header' if header else 'noheader'}.csv",
                                 _csv(head, rows, sep), 3, expect))
        grouped = [[f"{v * 1000:,.2f}".replace(",", " ").replace(".", ",").replace(" ", ".") for v in row]
                   for row in values]
        files.append(OddFile(f"decimal_comma_thousands_{sep_name}.csv", _csv(["a", "b", "c"], grouped, sep), 3,
                             {"features": 3, "values": {"a": (0, round(values[0, 0] * 1000, 2))}}))
    us = [[f'"{v * 1000:,.2f}"' for v in row] for row in values]
    files.append(OddFile("thousands_comma_quoted.csv", _csv(["a", "b", "c"], us), 3,
                         {"features": 3, "values": {"a": (0, round(values[0, 0] * 1000, 2))}}))
    ambiguous = [[f"{int(v * 100)},{int(v * 1000) % 1000:03d}" for v in row] for row in values]
    files.append(OddFile("comma_three_digits_semicolon.csv", _csv(["a", "b", "c"], ambiguous, ";"), 3,
                         {"features": 3}))
    return files


def _notations() -> list[OddFile]:
    """Whole columns of numbers written with signs: they are numbers, whatever the separator."""
    files = []
    values = _numbers(30, 1, seed=9)[:, 0]
    writers = {"percent": (lambda v: f"{v:.1f}%", lambda v: round(v, 1)),
               "dollars": (lambda v: f"${v:.2f}", lambda v: round(v, 2)),
               "unicode_minus": (lambda v: f"\u2212{v:.2f}", lambda v: -round(v, 2)),
               "euros_after": (lambda v: f"{v:.2f} \u20ac", lambda v: round(v, 2))}
    for kind, (write, read) in writers.items():
        for sep, sep_name in ((",", "comma"), (";", "semicolon"), ("\t", "tab")):
            rows = [[write(v), f"{i}"] for i, v in enumerate(values)]
            files.append(OddFile(f"notation_{kind}_{sep_name}.csv", _csv(["amount", "n"], rows, sep), 2,
                                 {"features": 2, "values": {"amount": (0, read(values[0]))}}))
    return files


def _encodings() -> list[OddFile]:
    files = []
    header = ["Température", "Druck (€)", "état"]
    values = _numbers(30, 2, seed=7)
    rows = [[f"{a:.2f}", f"{b:.2f}", "élevé" if i % 2 else "bas"] for i, (a, b) in enumerate(values)]
    text = "\n".join([",".join(header)] + [",".join(r) for r in rows]) + "\n"
    foreign = {"cp1251": ("Температура,Давление,состояние\n", "высокий"), "shift_jis": ("温度,圧力,状態\n", "高い")}
    for encoding, prefix, readable in (("utf-8", b"", True), ("utf-8", codecs.BOM_UTF8, True),
                                       ("utf-16", b"", True), ("latin-1", b"", True), ("cp1252", b"", True),
                                       ("utf-16-le", b"", False), ("cp1251", b"", False), ("shift_jis", b"", False)):
        body = text
        if encoding in foreign:
            head, word = foreign[encoding]
            body = head + text.split("\n", 1)[1].replace("élevé", word)
        if encoding == "latin-1":
            body = body.replace("€", "EUR")  # Latin-1 has no euro sign
        for sep, sep_name in ((",", ""), (";", "_semicolon")):
            data = prefix + body.replace(",", sep).encode(encoding)
            expect = {"features": 2, "header": body.split(",", 1)[0]} if readable else {"error": "UTF-8"}
            files.append(OddFile(f"encoding_{encoding}{'_bom' if prefix else ''}{sep_name}.csv", data, 3, expect))
    invalid = b"a,b\n1,2\n3,\xff\xfe\xfa\n5,6\n"
    files.append(OddFile("encoding_invalid_utf8_bytes.csv", invalid, 2))
    return files


def _dates() -> list[OddFile]:
    files = []
    days = np.arange(40)
    values = _numbers(40, 2, seed=11)
    formats = {
        "dmy_slash": lambda d: f"{d.day:02d}/{d.month:02d}/{d.year}",
        "mdy_slash": lambda d: f"{d.month:02d}/{d.day:02d}/{d.year}",
        "dmy_dot": lambda d: f"{d.day}.{d.month}.{d.year}",
        "dmy_dash_time": lambda d: f"{d.day:02d}-{d.month:02d}-{d.year} 12:30",
        "mdy_short_year": lambda d: f"{d.month}/{d.day}/{d.year % 100:02d}",
        "iso": lambda d: d.isoformat(),
        "iso_minutes": lambda d: d.isoformat() + "T08:15",
    }
    import datetime as dt

    for name, fmt in formats.items():
        stamps = [fmt(dt.date(2024, 1, 1) + dt.timedelta(days=int(i))) for i in days]
        rows = [[s, f"{a:.3f}", f"{b:.3f}"] for s, (a, b) in zip(stamps, values)]
        for column in ("date", "when"):  # named like a time column, or recognised by its values
            expect = {"time": column, "features": 2}
            files.append(OddFile(f"dates_{name}_{column}.csv", _csv([column, "x", "y"], rows), 3, expect))
            files.append(OddFile(f"dates_{name}_{column}_unsorted.csv", _csv([column, "x", "y"], rows[::-1]), 3,
                                 expect))
    # the first twelve days of January only: no field above 12, the order cannot be told
    ambiguous = [[f"{d:02d}/01/2024", f"{a:.3f}"] for d, (a, _) in zip(range(1, 13), values)]
    files.append(OddFile("dates_ambiguous.csv", _csv(["date", "x"], ambiguous), 2,
                         {"error": "day first and month first"}))
    mixed = [["13/01/2024", "1.0"], ["01/14/2024", "2.0"], ["01/02/2024", "3.0"]]
    files.append(OddFile("dates_mixed_orders.csv", _csv(["date", "x"], mixed), 2, {"error": "mixes day-first"}))
    return files


def _epochs() -> list[OddFile]:
    files = []
    values = _numbers(50, 2, seed=13)
    base = 1_700_000_000
    for name, column, scale, offset in (("seconds_ts", "ts", 1, 0), ("ms_timestamp", "timestamp", 1000, 0),
                                        ("seconds_epoch", "epoch", 1, 0), ("ms_time", "time", 1000, 0),
                                        ("seconds_unnamed", "t0", 1, 0), ("ms_unnamed", "when", 1000, 0),
                                        ("float_seconds", "unix_time", 1, 0.25)):
        times = [str(int((base + 60 * i) * scale) if offset == 0 else (base + 60 * i + offset)) for i in range(50)]
        rows = [[t, f"{a:.3f}", f"{b:.3f}"] for t, (a, b) in zip(times, values)]
        files.append(OddFile(f"epoch_{name}.csv", _csv([column, "x", "y"], rows), 3,
                             {"time": column, "features": 2}))
    compact = [[f"202401{d:02d}", f"{a:.3f}"] for d, (a, _) in zip(range(1, 29), values)]
    files.append(OddFile("epoch_compact_dates.csv", _csv(["date", "x"], compact), 2, {"time": "date", "features": 1}))
    counter = [[str(i), f"{a:.3f}", f"{b:.3f}"] for i, (a, b) in enumerate(values)]
    files.append(OddFile("counter_is_not_time.csv", _csv(["id", "x", "y"], counter), 3, {"features": 3}))
    return files


def _constants() -> list[OddFile]:
    files = []
    values = _numbers(80, 3, seed=17)
    for n_constant in range(1, 8):
        header = ["timestamp", "cpu", "mem", "net"] + [f"disk{j}" for j in range(n_constant)]
        rows = [[f"2024-01-01 00:{i // 60:02d}:{i % 60:02d}"] + [f"{v:.3f}" for v in row] + [str(j) for j in range(n_constant)]
                for i, row in enumerate(values)]
        files.append(OddFile(f"constant_columns_{n_constant}.csv", _csv(header, rows), len(header),
                             {"features": 3, "time": "timestamp"}))
    flat = [[f"2024-01-01 00:00:{i:02d}", "5", "0.5"] for i in range(50)]
    files.append(OddFile("flat_series.csv", _csv(["time", "a", "b"], flat), 3, {"zero_scores": True, "features": 2}))
    return files


def _structure() -> list[OddFile]:
    header, rows = _table(30, 3, seed=19)
    good = _csv(header, rows)
    rng = np.random.default_rng(23)
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("data.csv", good)
    files = [
        OddFile("empty.csv", b"", None, {"error": "empty"}),
        OddFile("whitespace_only.csv", b"   \n  \n", None, {"error": "empty|no data"}),
        OddFile("newlines_only.csv", b"\n\n\n", None, {"error": "empty|no data"}),
        OddFile("header_only.csv", b"a,b,c\n", 3, {"error": "no data rows"}),
        OddFile("header_only_bom.csv", codecs.BOM_UTF8 + b"a,b,c\n", 3, {"error": "no data rows"}),
        OddFile("one_row.csv", b"a,b\n1,2\n", 2, {"error": "at least 2"}),
        OddFile("one_column.csv", b"x\n" + b"".join(b"%d\n" % v for v in range(20)), 1, {"features": 1}),
        OddFile("one_column_header_only.csv", b"x\n", 1, {"error": "no data rows"}),
        OddFile("one_value.csv", b"5\n", 1, {"error": "at least 2"}),
        OddFile("all_nan.csv", b"a,b\n,\n,\nNaN,NA\n", 2, {"error": "empty|no numeric|missing"}),
        OddFile("all_nan_column.csv", _csv(header + ["empty"], [r + [""] for r in rows]), 4, {"features": 3}),
        OddFile("inf_values.csv", _csv(header, [r[:2] + ["inf" if i == 3 else r[2]] for i, r in enumerate(rows)]), 3),
        OddFile("mixed_types.csv", _csv(["n", "word", "flag"], [[str(i), f"w{i % 4}", "true" if i % 2 else "false"]
                                                               for i in range(30)]), 3, {"features": 1}),
        OddFile("quoted_newlines.csv", b'note,x,y\n"line one\nline two",1.0,2.0\n"plain",2.0,3.5\n"a, b",3.0,1.5\n', 3,
                {"features": 2}),
        OddFile("duplicate_names.csv", _csv(["a", "a", "b"], rows), 3, {"features": 3}),
        OddFile("numeric_headers.csv", _csv(["2019", "2020", "2021"], rows), 3, {"features": 3}),
        OddFile("blank_header_name.csv", _csv(["a", "", "c"], rows), 3, {"features": 3}),
        OddFile("too_wide.csv", (",".join(f"c{j}" for j in range(MAX_COLUMNS + 1)) + "\n" +
                                 ",".join("1" for _ in range(MAX_COLUMNS + 1)) + "\n").encode(), None,
                {"error": "at most"}),
        OddFile("very_wide_200k.csv", (",".join(f"c{j}" for j in range(200_000)) + "\n1\n").encode(), None,
                {"error": "at most"}),
        OddFile("wide_500.csv", _csv([f"c{j}" for j in range(500)],
                                      [[f"{v:.2f}" for v in row] for row in _numbers(5, 500, 29)]), 500,
                {"features": 500}),
        OddFile("zip_named_csv.csv", zipped.getvalue(), None, {"error": "ZIP"}),
        OddFile("gzip_named_csv.csv", gzip.compress(good, mtime=0), None, {"error": "gzip"}),
        OddFile("pdf_named_csv.csv", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", None, {"error": "PDF"}),
        OddFile("huge_field.csv", b"note,x\n\"" + b"z" * 2_000_000 + b"\",1.0\nshort,2.0\nother,3.0\n", 2,
                {"features": 1}),
        OddFile("ragged_extra_field.csv", good.replace(b"\n", b",9\n", 5).replace(b",9\n", b"\n", 4), 3,
                {"error": "line 5 has 4 values"}),
        OddFile("ragged_short_rows.csv", b"a,b,c\n1,2,3\n4,5\n6,7,8\n9,10,11\n", 3),
        OddFile("unclosed_quote.csv", b'a,b\n1,"2\n3,4\n5,6\n', 2, {"error": "quoted value is never closed"}),
        OddFile("trailing_delimiter.csv", b"a,b,\n1,2,\n3,4,\n5,6,\n", 3, {"features": 2}),
        OddFile("crlf.csv", good.replace(b"\n", b"\r\n"), 3, {"features": 3}),
        OddFile("cr_only.csv", good.replace(b"\n", b"\r"), 3, {"features": 3}),
        OddFile("blank_lines_inside.csv", good.replace(b"\n", b"\n\n", 10), 3, {"features": 3}),
        OddFile("spaces_around_values.csv", good.replace(b",", b" , "), 3, {"features": 3}),
        OddFile("semicolon.csv", good.replace(b",", b";"), 3, {"features": 3}),
        OddFile("tab.csv", good.replace(b",", b"\t"), 3, {"features": 3}),
        OddFile("pipe.csv", good.replace(b",", b"|"), 3, {"features": 3}),
        OddFile("text_only.csv", b"name,city\nann,oslo\nbob,rome\ncid,lima\n", 2, {"error": "no numeric"}),
        OddFile("single_line_no_newline.csv", b"1,2,3", 3, {"error": "at least 2"}),
    ]
    for seed in range(12):
        garbage = np.random.default_rng(100 + seed).integers(0, 256, size=2000 + 100 * seed, dtype=np.uint8).tobytes()
        files.append(OddFile(f"binary_garbage_{seed}.csv", garbage, None, {"error": "binary|UTF-8|not CSV"}))
    for seed in range(4):
        noise = rng.integers(0, 32, size=500, dtype=np.uint8).tobytes()
        files.append(OddFile(f"control_characters_{seed}.csv", noise, None, {"error": "binary|empty"}))
    return files


def _times() -> list[OddFile]:
    files = []
    values = _numbers(48, 2, seed=31)
    # Europe/Paris around the switch to summer time (31 March 2024, 02:00 -> 03:00)
    paris = [f"2024-03-31T{h:02d}:{m:02d}:00{'+01:00' if h < 2 else '+02:00'}"
             for h, m in [(h, m) for h in (0, 1, 3, 4, 5, 6) for m in range(0, 60, 10)]][:36]
    rows = [[t, f"{a:.3f}", f"{b:.3f}"] for t, (a, b) in zip(paris, values)]
    files.append(OddFile("dst_offsets.csv", _csv(["timestamp", "x", "y"], rows), 3, {"time": "timestamp"}))
    mixed = [[("2024-01-01T00:%02d:00Z" if i % 2 else "2024-01-01T01:%02d:00+01:00") % i, f"{a:.3f}"]
             for i, (a, _) in enumerate(values[:30])]
    files.append(OddFile("mixed_offsets.csv", _csv(["timestamp", "x"], mixed), 2, {"time": "timestamp"}))
    # local clock times in autumn: the hour 02:00-03:00 happens twice
    autumn = [f"2024-10-27 {h:02d}:{m:02d}:00" for h in (1, 2, 2, 3) for m in range(0, 60, 15)]
    rows = [[t, f"{a:.3f}"] for t, (a, _) in zip(autumn, values)]
    files.append(OddFile("dst_repeated_hour.csv", _csv(["time", "x"], rows), 2, {"time": "time"}))
    stamps = [f"2024-02-01 00:{i:02d}:00" for i in range(40)]
    order = np.random.default_rng(37).permutation(40)
    files.append(OddFile("unsorted_times.csv", _csv(["time", "x", "y"], [[stamps[i], f"{values[i, 0]:.3f}",
                                                                           f"{values[i, 1]:.3f}"] for i in order]), 3,
                         {"time": "time"}))
    duplicated = [[stamps[i // 2], f"{values[i, 0]:.3f}"] for i in range(40)]
    files.append(OddFile("duplicated_times.csv", _csv(["time", "x"], duplicated), 2, {"time": "time"}))
    with_gap = [[stamps[i], f"{values[i, 0]:.3f}"] for i in range(40) if not 10 <= i < 20]
    files.append(OddFile("times_with_gap.csv", _csv(["time", "x"], with_gap), 2, {"time": "time"}))
    missing_time = [["" if i == 5 else stamps[i], f"{values[i, 0]:.3f}"] for i in range(40)]
    files.append(OddFile("missing_time.csv", _csv(["time", "x"], missing_time), 2, {"time": "time"}))
    bad_time = [["soon" if i == 5 else stamps[i], f"{values[i, 0]:.3f}"] for i in range(40)]
    files.append(OddFile("bad_time_value.csv", _csv(["time", "x"], bad_time), 2, {"error": "not dates"}))
    return files


def _labels() -> list[OddFile]:
    files = []
    values = _numbers(60, 2, seed=41)
    rng = np.random.default_rng(43)
    kinds = {
        "one_class": ["0"] * 60,
        "two_classes": ["1" if i % 10 == 0 else "0" for i in range(60)],
        "three_classes": [str(i % 3) if i % 5 == 0 else "0" for i in range(60)],
        "strings": ["anomaly" if i % 10 == 0 else "normal" for i in range(60)],
        "booleans": ["true" if i % 10 == 0 else "false" for i in range(60)],
        "with_nan": ["" if i % 7 == 0 else ("1" if i % 10 == 0 else "0") for i in range(60)],
        "all_nan": [""] * 60,
        "continuous": [f"{v:.4f}" for v in rng.normal(size=60)],
        "mostly_anomalies": ["1" if i % 10 else "0" for i in range(60)],
        "many_integers": [str(i) for i in range(60)],
    }
    for kind, labels in kinds.items():
        rows = [[f"{a:.3f}", f"{b:.3f}", lab] for (a, b), lab in zip(values, labels)]
        for column in ("label", "anomaly", "class", "target"):
            # a measurement named like a label is not guessed as the label
            guessed = None if kind in ("continuous", "many_integers") else column
            files.append(OddFile(f"label_{kind}_named_{column}.csv", _csv(["x", "y", column], rows), 3,
                                 {"label": guessed}))
    return files


def odd_files() -> list[OddFile]:
    """Every odd file, the same bytes on every call."""
    files = _bad_cells() + _decimal_commas() + _notations() + _encodings() + _dates() + _epochs() + _constants() + \
        _structure() + _times() + _labels()
    names = [f.name for f in files]
    assert len(set(names)) == len(names), "odd file names must be unique"
    return files


def write_odd_files(directory: Path) -> list[tuple[OddFile, Path]]:
    """Write every odd file into ``directory``; returns each file with its path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for odd in odd_files():
        path = directory / odd.name
        path.write_bytes(odd.content)
        written.append((odd, path))
    return written
