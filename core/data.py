"""Loading tables and turning them into model input.

``read_table`` reads CSV or Parquet (path, bytes or file object) and detects whether the first
row is a header; ``prepare`` applies the column roles (features, time, label) and checks the data,
raising :class:`~core.errors.DataError` with a message a person can act on.
"""

from __future__ import annotations

import codecs
import collections
import csv
import io
import itertools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import DataError

PARQUET_MAGIC = b"PAR1"
LABEL_NAME_HINTS = ("label", "anomaly", "is_anomaly", "outlier", "class", "target", "fraud", "y")


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------
#: Widest table accepted. Checked on the header line before anything is parsed, so a file with
#: hundreds of thousands of columns is refused at once instead of tying up the machine.
MAX_COLUMNS = 10_000

#: Files that are clearly not CSV text, recognised by their first bytes.
_NOT_TEXT = {b"PK\x03\x04": "a ZIP archive (or an Excel .xlsx workbook)", b"\x1f\x8b": "a gzip-compressed file",
             b"%PDF": "a PDF document", b"\xd0\xcf\x11\xe0": "an old Excel/Office file", b"\x89PNG": "a PNG image"}
_SAVE_AS = "Save or export it as 'CSV UTF-8' (or Parquet) and load that file."
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}

#: Where a file reports what reading it involved (``frame.attrs``): a list of sentences and, per
#: column, the cells that were not numbers in a numeric column (``{"count": n, "examples": [...]}``).
READ_NOTES = "read_notes"
UNPARSED_CELLS = "unparsed_cells"


def read_table(source, *, filename: str | None = None, numbers_from_text: bool = True) -> pd.DataFrame:
    """Read a CSV or Parquet table without losing a column or a record silently.

    Parameters
    ----------
    source : str, pathlib.Path, bytes or file-like
        Where the table is.
    filename : str, optional
        Name used to recognise the format and in messages when ``source`` is bytes or a stream.
    numbers_from_text : bool, default True
        Turn mostly-numeric text columns into numbers (see below). ``False`` keeps such cells as the
        file wrote them, for a replay that must send each record as it would arrive.

    Returns
    -------
    pandas.DataFrame
        Columns are named from the header, or ``"0", "1", ...`` when the first row is all numbers.
        Text is decoded from UTF-8 (with or without BOM), UTF-16 (with BOM) or, failing those,
        Windows-1252 / Latin-1. The delimiter (comma, semicolon, tab, pipe) and the decimal mark are
        detected. A column whose cells are mostly numbers is numeric: numbers written with a Unicode
        minus, thousands separators, a decimal comma, a currency sign or a percent sign are read as
        numbers, and the remaining cells become missing values, listed in
        ``frame.attrs["unparsed_cells"]``. ``frame.attrs["read_notes"]`` says what else was decided
        (encoding, renamed duplicate columns, ...).

    Raises
    ------
    DataError
        Missing, empty, binary, unreadable, too wide or malformed file; the message says what to fix.
    """
    name, raw, path = _open_source(source, filename)
    _check_memory_for(name, path.stat().st_size if raw is None else len(raw), already_in_memory=raw is not None)
    if raw is None:
        with open(path, "rb") as handle:
            raw = handle.read()
    if not raw:
        raise DataError(f"'{name}' is empty: the file has no content.")
    notes: list[str] = []
    if raw[:4] == PARQUET_MAGIC or name.lower().endswith((".parquet", ".pq")):
        frame = _read_parquet(raw, name)
        unparsed: dict = {}
    else:
        frame, unparsed = _read_csv(raw, name, notes, numbers_from_text)
    if frame.shape[0] == 0:
        raise DataError(f"'{name}' has a header but no data rows.")
    if frame.shape[1] == 0:
        raise DataError(f"'{name}' has no columns.")
    frame.columns = [str(c) for c in frame.columns]
    if len(set(frame.columns)) != frame.shape[1]:
        raise DataError(f"'{name}' has duplicate column names; rename them so each is unique.")
    frame.attrs[READ_NOTES] = notes
    frame.attrs[UNPARSED_CELLS] = unparsed
    return frame


#: Memory a CSV takes while it is read and made model-ready, as a multiple of its size: the file's
#: bytes, the table and the feature matrix (measured: 2.5x for 10 float columns, see the README).
LOAD_MEMORY_FACTOR = 2.5


def available_memory_bytes() -> int | None:
    """Memory the system can still give (``MemAvailable``), or ``None`` where it does not say."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _check_memory_for(name: str, size: int, *, already_in_memory: bool) -> None:
    """Refuse, with the way out, a file that cannot be loaded in this machine's memory."""
    available = available_memory_bytes()
    if available is None:
        return
    needed = (LOAD_MEMORY_FACTOR - (1.0 if already_in_memory else 0.0)) * size
    if needed > available:
        raise DataError(
            f"'{name}' is {size / 1e9:.1f} GB: loading it needs about {LOAD_MEMORY_FACTOR * size / 1e9:.0f} GB of memory "
            f"and this machine has {available / 1e9:.1f} GB free. Score it with Spark instead, which reads it in "
            f"parts: {spark_scoring_command(repr(name))} (train on a sample of it first), or load it on a machine "
            "with more memory.")


def spark_scoring_command(file: str) -> str:
    """The command that scores a file too large for this machine's memory with Spark, part by part."""
    return f"python -m core score MODEL.bundle {file} --engine spark --out scored/"


def _open_source(source, filename):
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise DataError(f"File not found: '{path}'. Check the path.")
        if path.is_dir():
            raise DataError(f"'{path}' is a folder, not a file.")
        return filename or path.name, None, path
    if isinstance(source, (bytes, bytearray, memoryview)):
        return filename or "uploaded file", bytes(source), None
    if hasattr(source, "read"):
        data = source.read()
        if isinstance(data, str):
            data = data.encode("utf-8")
        return filename or getattr(source, "name", "uploaded file"), data, None
    raise DataError(f"Cannot read a table from {type(source).__name__}; give a path, bytes or a file.")


def _read_parquet(raw: bytes, name):
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(io.BytesIO(raw))
    except Exception as exc:  # pyarrow raises several types for corrupt files
        raise DataError(f"'{name}' is not a readable Parquet file: {exc}") from exc
    if table.num_columns > MAX_COLUMNS:
        raise DataError(f"'{name}' has {table.num_columns:,} columns; at most {MAX_COLUMNS:,} are supported.")
    return table.to_pandas()


# ---- text and encodings ---------------------------------------------------------------------
def _decode(raw: bytes, name: str) -> tuple[bytes, str, str]:
    """The file as UTF-8 bytes (without a byte order mark), its first 64 KiB as text, and the name
    of its encoding. A UTF-8 file is checked in slices and passed on as it is, never copied whole."""
    for magic, what in _NOT_TEXT.items():
        if raw.startswith(magic):
            raise DataError(f"'{name}' is {what}, not CSV text. {_SAVE_AS}")
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text, encoding = _decode_strictly(raw, "utf-16", name), "UTF-16"
        data = text.encode("utf-8")
    else:
        data, encoding = raw, "UTF-8"
        if raw.startswith(codecs.BOM_UTF8):
            data, encoding = raw[len(codecs.BOM_UTF8):], "UTF-8 with BOM"
        try:
            _check_utf8(data)
        except UnicodeDecodeError as exc:
            text, encoding = _decode_western(data, exc, name)
            data = text.encode("utf-8")
    head = data[:65536].decode("utf-8", errors="ignore")  # the cut may split the last character
    controls = sum(1 for ch in head if ch < " " and ch not in "\t\n\r\f\v")
    # a stray NUL in one cell is a bad value; a file full of control characters is not text
    if controls > max(2, 0.01 * len(head)):
        raise DataError(f"'{name}' is a binary file, not CSV text. {_SAVE_AS}")
    return data, head, encoding


def _check_utf8(data: bytes, chunk: int = 1 << 24) -> None:
    """Raise UnicodeDecodeError (positions in ``data``) unless ``data`` is UTF-8, slice by slice."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(data)
    for start in range(0, len(data), chunk):
        pending = len(decoder.getstate()[0])  # bytes of a character split by the previous slice
        try:
            decoder.decode(view[start:start + chunk], final=start + chunk >= len(data))
        except UnicodeDecodeError as exc:
            position = start - pending + exc.start
            raise UnicodeDecodeError("utf-8", data, position, position + 1, exc.reason) from None


def _decode_strictly(raw: bytes, encoding: str, name: str) -> str:
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        raise DataError(f"'{name}' says it is {encoding.upper()} (by its first bytes) but byte {exc.start:,} is "
                        f"not valid {encoding.upper()}. {_SAVE_AS}") from exc


def _decode_western(raw: bytes, error: UnicodeDecodeError, name: str) -> tuple[str, str]:
    """Text that is not UTF-8: Windows-1252 or Latin-1 (what Excel and older tools write in Western
    Europe and the Americas), judged by charset-normalizer on the bytes around the first non-UTF-8
    byte. Other encodings are refused: guessing them from a table of numbers goes wrong too often."""
    import charset_normalizer

    if raw.count(b"\x00") > len(raw) // 4:  # UTF-16 without its byte order mark
        raise DataError(f"'{name}' looks like UTF-16 text without a byte order mark. {_SAVE_AS}")
    around = raw[:65536] + b"\n" + raw[max(0, error.start - 32768): error.start + 32768]
    guess = charset_normalizer.from_bytes(around, cp_isolation=["cp1252", "latin_1"]).best()
    readable = {"cp1252": "Windows-1252", "latin_1": "Latin-1"}
    if guess is not None and guess.encoding in readable:
        # Windows-1252 leaves five bytes undefined; Latin-1 reads those too
        for encoding in dict.fromkeys([guess.encoding, "latin_1"]):
            try:
                return raw.decode(encoding), readable[encoding]
            except UnicodeDecodeError:
                continue
    raise DataError(f"'{name}' is not UTF-8 text (byte {error.start:,} is {raw[error.start]:#04x}) and does not read as "
                    f"Windows-1252 or Latin-1 either. {_SAVE_AS}")


# ---- numbers written as text -------------------------------------------------------------------
_GROUPED_POINT = r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?"  # 1,234 or 1,234.5
_GROUPED_COMMA = r"[+-]?\d{1,3}(?:\.\d{3})+(?:,\d+)?"  # 1.234 or 1.234,5
#: A comma that can only be a decimal mark: not followed by exactly three digits ("1,5", "0,25"),
#: or after dot-grouped thousands ("1.234,5").
_DECIMAL_COMMA_EVIDENCE = re.compile(r"^[+-]?\d*,(?:\d{1,2}|\d{4,})$|^[+-]?\d{1,3}(?:\.\d{3})+,\d+$")
#: A point that can only be a decimal mark: after comma-grouped thousands, or not followed by three digits.
_DECIMAL_POINT_EVIDENCE = re.compile(r"^[+-]?\d{1,3}(?:,\d{3})+\.\d+$|^[+-]?\d*\.(?:\d{1,2}|\d{4,})$")


_INVISIBLE = str.maketrans({"\u2212": "-", "\u00a0": None, "\u202f": None, "\u2009": None})
_SIGN_BEFORE = re.compile(r"^([+-]?)[$€£¥]\s*")
_SIGN_AFTER = re.compile(r"\s*[$€£¥%]$")
_GROUPED_POINT_RE, _GROUPED_COMMA_RE = re.compile(_GROUPED_POINT), re.compile(_GROUPED_COMMA)
_COMMA_DECIMAL = re.compile(r"[+-]?\d*,\d+")


def _tidy_number(cell: str) -> str:
    """A cell with the marks that do not change a number's value taken off: Unicode minus,
    non-breaking or thin spaces, a leading or trailing currency sign, a trailing percent sign."""
    return _SIGN_AFTER.sub("", _SIGN_BEFORE.sub(r"\1", cell.strip().translate(_INVISIBLE)))


def _tidy_number_text(text: pd.Series) -> pd.Series:
    return text.map(_tidy_number, na_action="ignore")


def _number_from_text(cell, decimal_comma: bool) -> float:
    text = _tidy_number(str(cell))
    if decimal_comma:
        if _GROUPED_COMMA_RE.fullmatch(text):
            text = text.replace(".", "")
        if _COMMA_DECIMAL.fullmatch(text):
            text = text.replace(",", ".")
    elif _GROUPED_POINT_RE.fullmatch(text):
        text = text.replace(",", "")
    try:
        return float(text)
    except ValueError:
        return np.nan


def parse_numbers(cells: pd.Series, decimal_comma: bool = False) -> pd.Series:
    """Numbers from text cells, ``NaN`` where a cell is not a number.

    Besides what ``float`` reads, accepts a Unicode minus (``−5``), a currency sign (``$5.50``,
    ``5,50 €``), a percent sign (``5%`` reads as 5, the number shown) and thousands separators
    (``1,234.5``; ``1.234,5`` when ``decimal_comma``). With ``decimal_comma`` a comma is the decimal
    mark (``1,5`` is 1.5); without it a comma is only accepted between groups of three digits.
    """
    cells = pd.Series(cells, copy=False)
    numbers = pd.Series(np.nan, index=cells.index, dtype=float)
    present = cells.notna().to_numpy()
    if decimal_comma:  # a plain "1.234" means 1234 here, so every cell goes through the notation rules
        todo = present
    else:  # plain numbers at C speed; only what that leaves goes through the notation rules
        numbers = pd.to_numeric(cells.where(present, None).astype(object), errors="coerce").astype(float)
        todo = present & numbers.isna().to_numpy()
    if todo.any():
        rest = cells[todo]
        readings = {value: _number_from_text(value, decimal_comma) for value in pd.unique(rest)}
        numbers[todo] = rest.map(readings).to_numpy(dtype=float)
    return numbers


def _uses_decimal_comma(text_columns: list[pd.Series], delimiter: str, points_seen: bool) -> bool:
    """Whether commas in numbers are decimal marks, judged from the whole file.

    A comma not followed by exactly three digits (``1,5``) can only be a decimal mark, and ``1,234.5``
    or ``2.25`` (or ``points_seen``: numbers the CSV reader already read with a decimal point) only
    a thousands separator. When the file does not say (every comma is followed by three digits,
    as in ``1,234``), a file separated by semicolons or tabs is taken to use decimal commas (that is
    why it is not comma-separated) and a comma-separated one thousands separators.
    """
    comma, point = False, points_seen
    for cells in text_columns:
        sample = _tidy_number_text(cells.dropna().astype("string").head(2000))
        comma = comma or bool(sample.str.contains(_DECIMAL_COMMA_EVIDENCE).fillna(False).any())
        point = point or bool(sample.str.contains(_DECIMAL_POINT_EVIDENCE).fillna(False).any())
    if comma != point:
        return comma
    return delimiter != ","


#: A column is numeric when more than this share of its non-empty cells are numbers.
NUMERIC_SHARE = 0.5


def _numbers_from_text(frame: pd.DataFrame, delimiter: str, notes: list[str],
                       decimal_comma: bool | None = None) -> tuple[pd.DataFrame, dict]:
    """Text columns that are mostly numbers made numeric; ``decimal_comma=None`` decides it from them."""
    text_columns = [c for c in frame.columns if frame[c].dtype == object or pd.api.types.is_string_dtype(frame[c])]
    if not text_columns:
        return frame, {}
    if decimal_comma is None:
        points_seen = any(pd.api.types.is_float_dtype(frame[c]) and bool((frame[c].dropna() % 1 != 0).any())
                          for c in frame.columns if c not in text_columns)
        decimal_comma = _uses_decimal_comma([frame[c] for c in text_columns], delimiter, points_seen)
    unparsed: dict[str, dict] = {}
    converted = []
    for column in text_columns:
        cells = frame[column]
        spread = cells.dropna()
        spread = spread.iloc[:: max(1, len(spread) // 500)]
        if parse_numbers(spread, decimal_comma).notna().mean() < NUMERIC_SHARE / 2 if len(spread) else True:
            continue  # plainly text (names, dates): spare it the number parser
        present = cells.notna() & (cells.astype("string").str.strip() != "").fillna(False).astype(bool)
        numbers = parse_numbers(cells, decimal_comma)
        parsed = numbers.notna() | (present & cells.astype("string").str.strip().str.lower().isin(
            ["nan", "inf", "-inf", "+inf", "infinity", "-infinity"]).fillna(False).astype(bool))
        n_present, n_parsed = int(present.sum()), int(parsed.sum())
        if n_parsed == 0 or n_parsed <= NUMERIC_SHARE * n_present:
            continue
        bad = present & ~parsed
        if bad.any():
            examples = list(dict.fromkeys(cells[bad].astype(str)))[:5]
            unparsed[column] = {"count": int(bad.sum()), "examples": examples}
        frame[column] = numbers
        converted.append(column)
    plain = [c for c in converted if c not in unparsed]
    if decimal_comma and converted:
        notes.append(f"Numbers use a decimal comma (1,5 = 1.5); read as numbers: {_names(converted)}.")
    elif plain:
        notes.append(f"Numbers written with signs or separators were read as numbers in {_names(plain)}.")
    for column, info in unparsed.items():
        notes.append(f"Column {column!r} is numeric but {info['count']:,} cell(s) are not numbers "
                     f"(for example {', '.join(map(repr, info['examples'][:3]))}); they are treated as missing.")
    return frame, unparsed


def _names(columns: list[str], limit: int = 8) -> str:
    shown = ", ".join(map(repr, columns[:limit]))
    return shown + (f" and {len(columns) - limit} more" if len(columns) > limit else "")


# ---- CSV structure -------------------------------------------------------------------------------
def _choose_delimiter(lines: list[str]) -> str:
    """The separator that splits every sampled line into the same number (> 1) of fields.

    Tab, semicolon and pipe are tried before the comma: a file separated by one of them that also
    has commas on every line uses them inside values (decimal commas), not between them.
    """
    for delimiter in ("\t", ";", "|", ","):
        try:
            widths = {len(row) for row in csv.reader(lines, delimiter=delimiter)}
        except csv.Error:
            continue
        if len(widths) == 1 and widths.pop() > 1:
            return delimiter
    return max(("\t", ";", "|", ","), key=lambda d: lines[0].count(d)) if lines[0].strip() else ","


def _explain_parser_error(exc: Exception, name: str, delimiter: str) -> str:
    text = str(exc)
    separator = _DELIMITER_NAMES.get(delimiter, repr(delimiter))
    fields = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", text)
    if fields:
        expected, line, seen = fields.groups()
        return (f"'{name}': line {line} has {seen} values but the header has {expected}. Check that line for an "
                f"extra {separator} or a value containing a {separator} that needs quotes.")
    if "EOF inside string" in text or "EOF while" in text or "quote" in text.lower():
        return (f"'{name}': a quoted value is never closed (a \" without its partner), so the rest of the file "
                "would be read as one value. Remove the stray quote or close it.")
    return (f"'{name}' could not be read as a table with a {separator} between values. Check the separator "
            "and the quotes.")


#: Bytes of text parsed per batch by the streaming reader: big enough that a batch costs little
#: Python time, small enough that a batch in flight is a small part of a large file.
STREAM_BLOCK_BYTES = 16 << 20


def _read_csv_streaming(data: bytes, delimiter: str, has_header: bool) -> pd.DataFrame | None:
    """The table pandas' pyarrow reader would give, read batch by batch to keep memory near one copy.

    ``pd.read_csv(engine="pyarrow")`` holds the whole Arrow table and then a consolidated copy of
    it (and the reader's parse buffers, which its memory pool keeps): about four times the numbers
    for a file of floats. Here each batch of about 16 MB of text is parsed, its float columns are
    copied into NumPy chunks at once and the batch is released, so the parser's memory is reused
    batch after batch; other columns stay in Arrow until the end and are converted one column at a
    time by the same conversion pandas uses. The options are pandas' defaults (its missing-value
    strings, empty lines skipped, column names from the header or numbered).

    Returns ``None`` where this reader would differ from pandas' (empty or repeated header names,
    which pandas renames; a header without rows) and raises where pyarrow cannot read the file in one pass (a column whose
    type changes after the first batch, a ragged row): the caller then reads it the usual way.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv
    from pandas._libs.parsers import STR_NA_VALUES

    reader = pacsv.open_csv(
        pa.py_buffer(data),
        read_options=pacsv.ReadOptions(autogenerate_column_names=not has_header, block_size=STREAM_BLOCK_BYTES),
        parse_options=pacsv.ParseOptions(delimiter=delimiter),
        convert_options=pacsv.ConvertOptions(null_values=sorted(STR_NA_VALUES), strings_can_be_null=True))
    schema = reader.schema
    names = list(schema.names)
    if has_header and ("" in names or len(set(names)) != len(names)):
        return None
    # pandas reads a column with no values at all (Arrow's null type) as floats, all missing
    floats = [pa.types.is_floating(t) or pa.types.is_null(t) for t in schema.types]
    others: dict[int, list] = {j: [] for j, is_float in enumerate(floats) if not is_float}
    numbers: dict[int, np.ndarray] = {}
    rows = 0
    for batch in reader:
        if rows + batch.num_rows > min((a.shape[0] for a in numbers.values()), default=-1):
            # room for the rest of the file, judged from this batch's rows per byte; pages never
            # written are never resident, so a generous guess costs address space only
            guess = rows + batch.num_rows + int(batch.num_rows * 1.25 * len(data) / STREAM_BLOCK_BYTES)
            for j in (j for j, is_float in enumerate(floats) if is_float):
                grown = np.empty(guess, dtype=np.float64)
                if j in numbers:
                    grown[:rows] = numbers[j][:rows]
                numbers[j] = grown
        for j, column in enumerate(batch.columns):
            if floats[j]:  # copied out at once (missing values as NaN), so the batch can go
                numbers[j][rows:rows + batch.num_rows] = (
                    np.nan if pa.types.is_null(column.type) else column.to_numpy(zero_copy_only=False))
            else:
                others[j].append(column)
        rows += batch.num_rows
        del batch
    if not rows:
        return None  # header only: refused later, with pandas' reading of the columns
    columns = {}
    for j, field_ in enumerate(schema):
        if floats[j]:
            columns[j] = pd.Series(numbers.pop(j)[:rows], copy=False)
        else:
            table = pa.Table.from_arrays([pa.chunked_array(others.pop(j), type=field_.type)], names=["column"])
            columns[j] = table.to_pandas()["column"]
            del table
    frame = pd.DataFrame(columns, copy=False)
    frame.columns = names if has_header else list(range(len(names)))
    return frame


def _read_csv(raw: bytes, name: str, notes: list[str], numbers_from_text: bool = True) -> tuple[pd.DataFrame, dict]:
    data, head, encoding = _decode(raw, name)
    if encoding != "UTF-8":
        notes.append(f"Read as {encoding} text.")
    end_of_header = data.find(b"\n")
    header_line = data if end_of_header < 0 else data[:end_of_header]
    widest = max(header_line.count(d) for d in (b",", b";", b"\t", b"|")) + 1
    if widest > MAX_COLUMNS:
        raise DataError(f"'{name}' has about {widest:,} columns; at most {MAX_COLUMNS:,} are supported. "
                        "Keep the columns you need (or transpose the table so that each column is one measurement).")
    if len(header_line) > 32768:  # the sample must hold a whole long header and a few rows
        head = data[:len(header_line) + 65536].decode("utf-8", errors="ignore")
    lines = [line for line in head.splitlines()[:6] if line.strip()]
    if not lines:
        raise DataError(f"'{name}' is empty: it has no lines of text.")
    delimiter = _choose_delimiter(lines[:5])
    first = next(csv.reader([lines[0]], delimiter=delimiter))
    cells = pd.Series([c for c in first if c.strip() != ""], dtype=object)
    has_header = not (len(cells) and parse_numbers(cells, delimiter != ",").notna().all())
    if not has_header:
        notes.append("The first row is all numbers, so it is read as data and the columns are numbered from 0.")
    if data.count(b'"') % 2:
        # a quote that is never closed makes both readers take the rest of the file as one value
        raise DataError(_explain_parser_error(ValueError("EOF inside string"), name, delimiter))
    options = dict(sep=delimiter, header=0 if has_header else None)
    # A file separated by something else than commas may use decimal commas: decided on the first
    # rows and read by pandas' own reader, which knows decimal commas (pyarrow's does not). What it
    # leaves as text ("1.234,5", a stray "?") goes through the same rules afterwards.
    decimal_comma = None
    if delimiter != ",":
        sample = list(csv.reader(head.splitlines()[1:201], delimiter=delimiter))
        cells = [pd.Series(column, dtype=object) for column in itertools.zip_longest(*sample, fillvalue=None)]
        decimal_comma = _uses_decimal_comma(cells, delimiter, points_seen=False)
    try:
        try:
            if decimal_comma:
                frame = pd.read_csv(io.BytesIO(data), low_memory=False, decimal=",", **options)
                if any(is_numeric_column(frame[c]) and (frame[c].dropna() % 1 != 0).any() for c in frame.columns):
                    notes.append("Numbers use a decimal comma (1,5 = 1.5).")
            else:
                frame = _read_csv_streaming(data, delimiter, has_header)
                if frame is None:
                    frame = pd.read_csv(io.BytesIO(data), engine="pyarrow", **options)
        except Exception:  # the fast reader is strict (quoted newlines, ragged rows); the default one copes
            frame = pd.read_csv(io.BytesIO(data), low_memory=False, decimal="," if decimal_comma else ".", **options)
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"'{name}' is empty: it has no data.") from exc
    except (pd.errors.ParserError, ValueError, csv.Error) as exc:
        raise DataError(_explain_parser_error(exc, name, delimiter)) from exc
    if not frame.index.equals(pd.RangeIndex(len(frame))):
        # pandas turns the extra leading values of rows longer than the header into an index
        raise DataError(f"'{name}': the rows have more values than the header has names. Add the missing "
                        f"column names to the header, or remove the extra {_DELIMITER_NAMES.get(delimiter, delimiter)}s "
                        "at the ends of the rows.")
    if not has_header:
        frame.columns = [str(i) for i in range(frame.shape[1])]
    else:
        header = [c.strip() for c in first]
        repeated = sorted(c for c, n in collections.Counter(header).items() if n > 1 and c)
        if repeated:
            notes.append(f"Repeated column names were numbered to tell them apart: {_names(repeated)} "
                         f"(the second {repeated[0]!r} is now {repeated[0] + '.1'!r}).")
    if frame.shape[1] > MAX_COLUMNS:
        raise DataError(f"'{name}' has {frame.shape[1]:,} columns; at most {MAX_COLUMNS:,} are supported.")
    if not numbers_from_text:
        return frame, {}
    return _numbers_from_text(frame, delimiter, notes, decimal_comma)


# --------------------------------------------------------------------------------------------
# Roles and preparation
# --------------------------------------------------------------------------------------------
@dataclass
class Roles:
    """What each column is for. Columns may be named or given by 0-based position."""

    features: list | None = None
    time: Any = None
    label: Any = None
    normal_value: Any = None


@dataclass
class ColumnFate:
    """What :func:`prepare` did with one column of the table.

    ``role`` is ``"feature"``, ``"time"``, ``"label"`` or ``"ignored"``; ``reason`` says why, in a
    sentence (empty for an ordinary feature), and ``unparsed`` counts the cells of a numeric
    column that were not numbers.
    """

    column: str
    role: str
    reason: str = ""
    unparsed: int = 0


#: Ways of dealing with missing (or not-a-number, or infinite) feature values in :func:`prepare`.
MISSING_POLICIES = {"error": "stop and say where they are", "drop": "drop those rows",
                    "median": "fill with the column's median", "previous": "fill with the previous value"}


@dataclass
class Dataset:
    """Model-ready data: ``X`` in the row order of ``frame`` (sorted by time for a series).

    ``column_fates`` accounts for every column of the table (see :class:`ColumnFate`); ``warnings``
    lists what was changed, ``doubts`` what looks wrong with the chosen roles (a label column that
    looks like a measurement), one sentence each.
    """

    X: np.ndarray
    y: np.ndarray | None
    time: pd.Series | None
    feature_names: list[str]
    frame: pd.DataFrame
    roles: Roles
    warnings: list[str] = field(default_factory=list)
    column_fates: list[ColumnFate] = field(default_factory=list)
    doubts: list[str] = field(default_factory=list)

    @property
    def is_series(self) -> bool:
        return self.time is not None

    @property
    def n_rows(self) -> int:
        return int(self.X.shape[0])


def resolve_column(frame: pd.DataFrame, ref) -> str:
    """Column name for ``ref``: an existing name, or a 0-based position (int or digit string)."""
    if ref is None:
        raise DataError("No column given.")
    if isinstance(ref, str) and ref in frame.columns:
        return ref
    text = str(ref).strip()
    if text in frame.columns:
        return text
    if text.lstrip("-").isdigit():
        position = int(text)
        if -frame.shape[1] <= position < frame.shape[1]:
            return frame.columns[position]
    shown = ", ".join(list(frame.columns[:12])) + (" ..." if frame.shape[1] > 12 else "")
    raise DataError(f"No column {ref!r}. Columns are: {shown} (or a 0-based position).")


def is_numeric_column(series: pd.Series) -> bool:
    """Numbers a model can use: numeric dtype, not true/false."""
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def numeric_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if is_numeric_column(frame[c])]


_TIME_NAME = re.compile(r"^(time|timestamp|date|datetime|ts|epoch|unix|unixtime|time_?stamp)$"
                        r"|(^|[_ -])(time|timestamp|date|datetime|ts|epoch)($|[_ -])", re.IGNORECASE)
#: Plausible epoch times, 1 January 2000 to 1 January 2100, in seconds and in milliseconds.
_EPOCH_RANGES = ((946_684_800, 4_102_444_800), (946_684_800_000, 4_102_444_800_000))


def _in_epoch_range(values: np.ndarray) -> bool:
    return any(np.all((values >= low) & (values <= high)) for low, high in _EPOCH_RANGES)


def looks_like_time(series: pd.Series) -> bool:
    """Whether a column holds times: datetimes, date strings, or epoch numbers named like a time
    column or rising steadily within 2000-2100 (in seconds or milliseconds)."""
    from .timeseries import date_order

    name = str(series.name)
    if pd.api.types.is_datetime64_any_dtype(series):
        return True
    if is_numeric_column(series):
        values = series.dropna().to_numpy(dtype=float)
        if values.size < 2 or not np.all(np.isfinite(values)):
            return False
        if _TIME_NAME.search(name) and (_in_epoch_range(values) or _is_compact_date(values)):
            return True
        return bool(np.all(np.diff(values) > 0) and _in_epoch_range(values))
    if series.dtype == object or pd.api.types.is_string_dtype(series):
        sample = series.dropna().astype(str).head(50)
        if not len(sample):
            return False
        if _TIME_NAME.search(name):
            return True
        if sample.str.match(r"^\d{4}-\d{2}-\d{2}").all():
            return True
        try:
            return date_order(sample) is not None
        except DataError:  # a mix of day-first and month-first dates is still a time column
            return True
    return False


def _is_compact_date(values: np.ndarray) -> bool:
    return bool(np.all((values >= 19000101) & (values <= 21001231) & (values == np.round(values))))


def majority_value(labels: pd.Series):
    """The most frequent label value: the default meaning of normal (anomalies are the minority)."""
    counts = labels.value_counts(dropna=True)
    if not len(counts):
        return None
    value = counts.index[0]
    return value.item() if hasattr(value, "item") else value


def infer_roles(frame: pd.DataFrame) -> Roles:
    """Best guess at the roles: a time column, a label column with its normal value, numeric features."""
    time = next((c for c in frame.columns if looks_like_time(frame[c])), None)
    numeric = [c for c in numeric_columns(frame) if c != time]
    label = next((c for c in frame.columns if c.lower() in LABEL_NAME_HINTS and c != time
                  and not _looks_like_measurement(frame[c])), None)
    if label is None and numeric:
        last = frame.columns[-1]
        # ECG5000-style tables: no header, class in the last column with a few integer values
        if last == str(frame.shape[1] - 1) and last in numeric and frame[last].nunique() <= 5 and frame.shape[1] > 3:
            label = last
    normal = majority_value(frame[label]) if label is not None else None
    features = [c for c in numeric if c != label]
    return Roles(features=features or None, time=time, label=label, normal_value=normal)


def _matches(values: pd.Series, target) -> pd.Series:
    """``values == target`` tolerant of 1 vs 1.0 vs "1" (labels typed in a form are strings)."""
    numeric_target = pd.to_numeric(pd.Series([target]), errors="coerce").iloc[0]
    if pd.notna(numeric_target) and pd.api.types.is_numeric_dtype(values):
        return values == numeric_target
    return values.astype(str).str.strip() == str(target).strip()


def _feature_values(frame: pd.DataFrame, column: str) -> tuple[np.ndarray, dict]:
    """A feature as floats, and its cells that are not numbers (``{"count", "examples"}``)."""
    series = frame[column]
    unparsed = dict(frame.attrs.get(UNPARSED_CELLS, {}).get(column, {}))
    if pd.api.types.is_bool_dtype(series):
        return series.astype(float).to_numpy(), unparsed
    if pd.api.types.is_float_dtype(series) and series.dtype == np.float64:
        return series.to_numpy(), unparsed  # a view: the one copy is made into the model matrix
    if is_numeric_column(series):
        return series.to_numpy(dtype=float, na_value=np.nan), unparsed
    numbers = parse_numbers(series)  # a frame built in code, not read by read_table
    present = series.notna() & (series.astype(str).str.strip() != "")
    bad = present & numbers.isna()
    if numbers.notna().sum() <= NUMERIC_SHARE * present.sum() or not numbers.notna().any():
        example = series[bad].iloc[0] if bad.any() else None
        raise DataError(f"Feature column {column!r} is not numeric (for example {example!r}); "
                        "remove it from the features or fix its values.")
    if bad.any():
        unparsed = {"count": int(bad.sum()), "examples": list(dict.fromkeys(series[bad].astype(str)))[:5]}
    return numbers.to_numpy(dtype=float), unparsed


def _finite_rows(matrix: np.ndarray, block: int = 1 << 16) -> np.ndarray:
    """Whether each row of ``matrix`` is all finite, worked out in blocks of rows: a whole-matrix
    ``np.isfinite`` would be a temporary the size of the matrix's rows times its columns."""
    finite = np.empty(matrix.shape[0], dtype=bool)
    for start in range(0, matrix.shape[0], block):
        finite[start:start + block] = np.isfinite(matrix[start:start + block]).all(axis=1)
    return finite


def _describe_missing(features, matrix, keep, unparsed) -> str:
    """The features with missing values among the rows ``keep`` selects, and how many each has."""
    parts = []
    for j, column in enumerate(features):
        missing = int((~np.isfinite(matrix[:, j]) & keep).sum())
        if not missing:
            continue
        text = f"{column!r} ({missing}"
        if column in unparsed:
            info = unparsed[column]
            text += f", of which {info['count']} not numbers such as {', '.join(map(repr, info['examples'][:3]))}"
        parts.append(text + ")")
    return ", ".join(parts)


def _ignored_reason(series: pd.Series) -> str:
    if looks_like_time(series):
        return "dates or times; choose it as the time column to use it"
    if pd.api.types.is_bool_dtype(series):
        return "true/false values; choose it as the label column to use it"
    if is_numeric_column(series):
        if series.notna().sum() == 0:
            return "every value is missing"
        return "not chosen as a feature"
    values = series.dropna().astype(str)
    if values.empty:
        return "every value is missing"
    examples = ", ".join(map(repr, list(dict.fromkeys(values.head(200)))[:3]))
    return f"text, not numbers ({values.nunique():,} distinct values such as {examples})"


#: A numeric label column with more distinct values than this is probably a measurement, not a label.
MAX_LABEL_VALUES = 20


def _looks_like_measurement(labels: pd.Series) -> bool:
    """Numbers with fractions or with many distinct values: a sensor reading, not a label."""
    values = labels.dropna()
    if not is_numeric_column(values) or not values.size:
        return False
    finite = values.to_numpy(dtype=float)
    finite = finite[np.isfinite(finite)]
    return bool((finite % 1 != 0).any()) or values.nunique() > MAX_LABEL_VALUES


def _label_doubts(labels: pd.Series, label_col: str, y: np.ndarray) -> list[str]:
    doubts = []
    values = labels.dropna()
    if is_numeric_column(values) and values.size:
        fractional = bool((values.to_numpy(dtype=float) % 1 != 0).any())
        if _looks_like_measurement(values):
            doubts.append(f"The label column {label_col!r} looks like a measurement, not a label: "
                          f"{values.nunique():,} distinct values{', with fractions' if fractional else ''}. "
                          "Choose a column that marks anomalies, or none.")
    elif values.nunique() > MAX_LABEL_VALUES:
        doubts.append(f"The label column {label_col!r} has {values.nunique():,} distinct values; a label usually has two.")
    share = float(y.mean()) if y.size else 0.0
    if share > 0.5:
        doubts.append(f"{share:.1%} of the rows are labelled anomalies; anomalies are usually a minority. "
                      "Check the value that means normal.")
    return doubts


def prepare(frame: pd.DataFrame, roles: Roles, *, missing: str | None = None, drop_missing: bool = False,
            drop_constant: bool = True, dayfirst: bool | None = None, min_rows: int = 2) -> Dataset:
    """Apply ``roles`` to ``frame`` and check the result.

    Parameters
    ----------
    frame : pandas.DataFrame
        As read by :func:`read_table` (its notes on cells that were not numbers are used).
    roles : Roles
        ``features=None`` means every numeric column except the time and label columns.
    missing : {"error", "drop", "median", "previous"}, optional
        What to do with missing, infinite or not-a-number feature values: refuse them (default),
        drop their rows, or fill them with the column's median or the previous row's value (in
        time order for a series; a leading gap takes the first value that follows). Rows without
        a time or a label are dropped by every policy but ``"error"``.
    drop_missing : bool
        The same as ``missing="drop"``.
    drop_constant : bool, default True
        Leave constant feature columns out, with a warning (they carry no information). When
        every feature is constant, they are all kept and every row scores the same. ``False``
        refuses constant columns instead.
    dayfirst : bool, optional
        Order of dates written with numbers only (``02/01/2024``), when no value shows it.
    min_rows : int
        Fewest rows accepted.

    Returns
    -------
    Dataset
        With ``column_fates``: the fate of every column of ``frame``.

    Raises
    ------
    DataError
        No numeric columns, non-numeric feature, missing values (with ``missing="error"``),
        constant columns (with ``drop_constant=False``), unparsable or ambiguous time column,
        missing label value, too few rows.
    """
    policy = missing or ("drop" if drop_missing else "error")
    if policy not in MISSING_POLICIES:
        raise DataError(f"Unknown way of handling missing values {missing!r}; choose one of {', '.join(MISSING_POLICIES)}.")
    warnings: list[str] = []
    fates: dict[str, ColumnFate] = {}
    time_col = resolve_column(frame, roles.time) if roles.time is not None else None
    label_col = resolve_column(frame, roles.label) if roles.label is not None else None
    if time_col is not None and time_col == label_col:
        raise DataError("The time column and the label column must be different.")
    if roles.features:
        features = list(dict.fromkeys(resolve_column(frame, f) for f in roles.features))
    else:
        features = [c for c in numeric_columns(frame) if c not in (time_col, label_col)]
        # epoch times are not measurements: offered as the time column, never silently a feature
        epochs = [c for c in features if looks_like_time(frame[c])]
        if epochs and len(epochs) < len(features):
            features = [c for c in features if c not in epochs]
            warnings.append(f"Left out of the features, as they hold times: {_names(epochs)}; "
                            "choose one as the time column to make the data a series.")
        if not features:
            raise DataError("The file has no numeric columns to use as features. "
                            "Check the delimiter and that the values are numbers.")
    clash = {time_col, label_col} & set(features)
    if clash:
        raise DataError(f"Column {sorted(clash)[0]!r} cannot be both a feature and the time or label column.")

    columns, unparsed = [], {}
    for column in features:
        values, bad = _feature_values(frame, column)
        if bad:
            unparsed[column] = bad
        if not np.isfinite(values).any():
            fates[column] = ColumnFate(column, "ignored", "every value is missing or not a number",
                                       bad.get("count", 0))
            warnings.append(f"Left out column {column!r}: every value is missing or not a number.")
            continue
        columns.append(values)
    features = [c for c in features if c not in fates]
    if not features:
        raise DataError("Every feature column is empty (no numbers in it). Check the delimiter and the values.")
    matrix = np.empty((len(frame), len(columns)), dtype=np.float64)  # the data's one float copy
    for j in range(len(columns)):
        matrix[:, j], columns[j] = columns[j], None

    keep = np.ones(len(frame), dtype=bool)
    if time_col is not None and policy != "error":
        no_time = frame[time_col].isna().to_numpy()
        if no_time.any():
            keep &= ~no_time
            warnings.append(f"Dropped {int(no_time.sum())} rows without a time.")
    y = None
    if label_col is not None:
        labels = frame[label_col]
        missing_label = labels.isna().to_numpy()
        if missing_label.any():
            if policy == "error":
                raise DataError(f"The label column {label_col!r} has {int(missing_label.sum())} empty values.")
            keep &= ~missing_label
            warnings.append(f"Dropped {int(missing_label.sum())} rows without a label.")
        if roles.normal_value is None:
            raise DataError(f"Say which value of the label column {label_col!r} means normal.")
        is_normal = _matches(labels, roles.normal_value).to_numpy()
        if not is_normal[keep].any():
            present = ", ".join(map(str, labels.dropna().unique()[:10]))
            raise DataError(f"The normal value {roles.normal_value!r} does not occur in column {label_col!r} "
                            f"(values present: {present}).")
        y = (~is_normal).astype(np.int8)

    bad_rows = ~_finite_rows(matrix) & keep
    if bad_rows.any():
        detail = _describe_missing(features, matrix, keep, unparsed)
        if policy == "error":
            raise DataError(f"{int(bad_rows.sum())} rows have missing, infinite or not-a-number feature values: "
                            f"{detail}. Drop those rows, fill the values, or leave those columns out.")
        if policy == "drop":
            keep &= ~bad_rows
            warnings.append(f"Dropped {int(bad_rows.sum())} rows with missing, infinite or not-a-number values: {detail}.")
        else:
            filled = sum(int((~np.isfinite(matrix[:, j]) & keep).sum()) for j in range(matrix.shape[1]))
            warnings.append(f"Filled {filled} missing, infinite or not-a-number "
                            f"values ({MISSING_POLICIES[policy].removeprefix('fill with ')}): {detail}.")

    if keep.all():  # the usual case: no copy of the table or the matrix
        selected = frame.reset_index(drop=True)
    else:
        selected = frame.loc[keep].reset_index(drop=True)
        matrix = matrix[keep]
        y = y[keep] if y is not None else None

    time = None
    if time_col is not None:
        from .timeseries import parse_time

        parsed = parse_time(selected[time_col], dayfirst=dayfirst)
        order = np.argsort(parsed.to_numpy(), kind="stable")
        if np.any(order != np.arange(order.size)):
            warnings.append("Rows were sorted by time.")
            selected = selected.iloc[order].reset_index(drop=True)
            parsed = parsed.iloc[order].reset_index(drop=True)
            matrix = matrix[order]
            y = y[order] if y is not None else None
        selected[time_col] = parsed.reset_index(drop=True)  # keeps time zones
        time = selected[time_col]
        duplicates = int(time.duplicated().sum())
        if duplicates:
            warnings.append(f"{duplicates} rows share a timestamp with the row before them.")

    if policy in ("median", "previous") and matrix.size:
        matrix = _fill(matrix, policy)

    if matrix.shape[0] < min_rows:
        raise DataError(f"Only {matrix.shape[0]} usable rows; at least {min_rows} are needed.")
    spread = matrix.max(axis=0) - matrix.min(axis=0)
    constant = [c for c, s in zip(features, spread) if s == 0]
    if constant and len(constant) == len(features):
        warnings.append("Every feature is constant: there is nothing to tell rows apart, so every row will score 0.")
    elif constant:
        if not drop_constant:
            raise DataError(f"Constant columns carry no information and cannot be scaled: {', '.join(map(repr, constant))}. "
                            "Remove them from the features.")
        kept = [i for i, c in enumerate(features) if c not in constant]
        for i, column in enumerate(features):
            if column in constant:
                fates[column] = ColumnFate(column, "ignored", f"constant (every value is {matrix[0, i]:g}): "
                                           "carries no information", unparsed.get(column, {}).get("count", 0))
        matrix, features = matrix[:, kept], [features[i] for i in kept]
        warnings.append(f"Left out {len(constant)} constant column(s), which carry no information: {_names(constant)}.")
    doubts = _label_doubts(selected[label_col], label_col, y) if y is not None else []

    for column in features:
        info = unparsed.get(column)
        reason = ""
        if info:
            reason = (f"{info['count']:,} cell(s) were not numbers ({', '.join(map(repr, info['examples'][:3]))}); "
                      f"treated as missing: {MISSING_POLICIES[policy]}")
        fates[column] = ColumnFate(column, "feature", reason, info["count"] if info else 0)
    if time_col is not None:
        fates[time_col] = ColumnFate(time_col, "time", "rows are ordered by it")
    if label_col is not None:
        fates[label_col] = ColumnFate(label_col, "label", f"{roles.normal_value!r} means normal")
    report = [fates.get(c) or ColumnFate(c, "ignored", _ignored_reason(frame[c]),
                                        frame.attrs.get(UNPARSED_CELLS, {}).get(c, {}).get("count", 0))
              for c in frame.columns]
    return Dataset(X=np.ascontiguousarray(matrix), y=y, time=time, feature_names=list(features), frame=selected,
                   roles=Roles(features=list(features), time=time_col, label=label_col,
                               normal_value=roles.normal_value), warnings=warnings, column_fates=report, doubts=doubts)


def _fill(matrix: np.ndarray, policy: str) -> np.ndarray:
    """Missing or infinite values replaced by the column median or the previous (else next) value."""
    filled = pd.DataFrame(np.where(np.isfinite(matrix), matrix, np.nan))
    if policy == "median":
        filled = filled.fillna(filled.median())
    else:
        filled = filled.ffill().bfill()
    return filled.to_numpy(dtype=float)


def column_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per column: type, missing values, cells that were not numbers, distinct values, min,
    max and whether it is constant."""
    unparsed = frame.attrs.get(UNPARSED_CELLS, {})
    rows = []
    for column in frame.columns:
        series = frame[column]
        numeric = is_numeric_column(series)
        finite = series[np.isfinite(series.to_numpy(dtype=float, na_value=np.nan))] if numeric else series
        info = unparsed.get(column, {})
        rows.append({
            "column": column,
            "dtype": str(series.dtype),
            "missing": int(series.isna().sum()),
            "not numbers": int(info.get("count", 0)),
            "examples": ", ".join(map(repr, info.get("examples", [])[:3])),
            "unique": int(series.nunique(dropna=True)),
            "min": float(finite.min()) if numeric and len(finite) else None,
            "max": float(finite.max()) if numeric and len(finite) else None,
            "constant": bool(series.nunique(dropna=True) <= 1),
        })
    return pd.DataFrame(rows)
