"""Loading tables and turning them into model input.

``read_table`` reads CSV or Parquet (path, bytes or file object) and detects whether the first
row is a header; ``prepare`` applies the column roles (features, time, label) and checks the data,
raising :class:`~core.errors.DataError` with a message a person can act on.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import DataError

PARQUET_MAGIC = b"PAR1"
LABEL_NAME_HINTS = ("label", "anomaly", "is_anomaly", "outlier", "class", "target", "fraud", "y")
TIME_NAME_HINTS = ("timestamp", "time", "date", "datetime", "ts")


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------
def read_table(source, *, filename: str | None = None) -> pd.DataFrame:
    """Read a CSV or Parquet table.

    Parameters
    ----------
    source : str, pathlib.Path, bytes or file-like
        Where the table is.
    filename : str, optional
        Name used to recognise the format and in messages when ``source`` is bytes or a stream.

    Returns
    -------
    pandas.DataFrame
        Columns are named from the header, or ``"0", "1", ...`` when the first row is all numbers.

    Raises
    ------
    DataError
        Missing, empty, unreadable or malformed file.
    """
    name, raw, path = _open_source(source, filename)
    head = raw[:4] if raw is not None else _peek(path, 4)
    if not head:
        raise DataError(f"'{name}' is empty: the file has no content.")
    if head == PARQUET_MAGIC or name.lower().endswith((".parquet", ".pq")):
        frame = _read_parquet(raw if raw is not None else path, name)
    else:
        frame = _read_csv(raw if raw is not None else path, name)
    if frame.shape[0] == 0:
        raise DataError(f"'{name}' has a header but no data rows.")
    if frame.shape[1] == 0:
        raise DataError(f"'{name}' has no columns.")
    frame.columns = [str(c) for c in frame.columns]
    if len(set(frame.columns)) != frame.shape[1]:
        raise DataError(f"'{name}' has duplicate column names; rename them so each is unique.")
    return frame


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


def _peek(path: Path, n: int) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(n)


def _read_parquet(source, name):
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(io.BytesIO(source) if isinstance(source, bytes) else source)
    except Exception as exc:  # pyarrow raises several types for corrupt files
        raise DataError(f"'{name}' is not a readable Parquet file: {exc}") from exc
    return table.to_pandas()


def _first_lines(source, n=5) -> list[str]:
    if isinstance(source, bytes):
        text = source[:65536].decode("utf-8", errors="replace")
    else:
        with open(source, "rb") as handle:
            text = handle.read(65536).decode("utf-8", errors="replace")
    return [line for line in text.splitlines()[:n] if line.strip()]


def _sniff_delimiter(lines: list[str]) -> str:
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def _is_number(text: str) -> bool:
    try:
        float(text.strip().strip('"'))
        return True
    except ValueError:
        return False


def _read_csv(source, name):
    lines = _first_lines(source)
    if not lines:
        raise DataError(f"'{name}' is empty: it has no lines of text.")
    if "\x00" in lines[0]:
        raise DataError(f"'{name}' is a binary file, not CSV text. Save it as CSV or Parquet.")
    delimiter = _sniff_delimiter(lines)
    first = next(csv.reader([lines[0]], delimiter=delimiter))
    has_header = not all(_is_number(cell) for cell in first if cell.strip() != "")
    buffer = io.BytesIO(source) if isinstance(source, bytes) else source
    options = dict(sep=delimiter, header=0 if has_header else None)
    try:
        try:
            frame = pd.read_csv(buffer, engine="pyarrow", **options)
        except Exception:  # the fast reader is strict; the default one explains problems better
            if isinstance(buffer, io.BytesIO):
                buffer.seek(0)
            frame = pd.read_csv(buffer, **options)
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"'{name}' is empty: it has no data.") from exc
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"'{name}' is not a well-formed CSV file: {str(exc).splitlines()[0]}") from exc
    if not has_header:
        frame.columns = [str(i) for i in range(frame.shape[1])]
    return frame


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
class Dataset:
    """Model-ready data: ``X`` in the row order of ``frame`` (sorted by time for a series)."""

    X: np.ndarray
    y: np.ndarray | None
    time: pd.Series | None
    feature_names: list[str]
    frame: pd.DataFrame
    roles: Roles
    warnings: list[str] = field(default_factory=list)

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


def _numeric_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])]


def _looks_like_time(frame: pd.DataFrame, column: str) -> bool:
    series = frame[column]
    if pd.api.types.is_datetime64_any_dtype(series):
        return True
    if column.lower() in TIME_NAME_HINTS and not pd.api.types.is_numeric_dtype(series):
        return True
    if series.dtype == object or pd.api.types.is_string_dtype(series):
        sample = series.dropna().astype(str).head(20)
        if len(sample) and sample.str.match(r"^\d{4}-\d{2}-\d{2}").all():
            return True
    return False


def majority_value(labels: pd.Series):
    """The most frequent label value: the default meaning of normal (anomalies are the minority)."""
    counts = labels.value_counts(dropna=True)
    if not len(counts):
        return None
    value = counts.index[0]
    return value.item() if hasattr(value, "item") else value


def infer_roles(frame: pd.DataFrame) -> Roles:
    """Best guess at the roles: a time column, a label column with its normal value, numeric features."""
    time = next((c for c in frame.columns if _looks_like_time(frame, c)), None)
    numeric = [c for c in _numeric_columns(frame) if c != time]
    label = next((c for c in frame.columns if c.lower() in LABEL_NAME_HINTS and c != time), None)
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


def prepare(frame: pd.DataFrame, roles: Roles, *, drop_missing: bool = False,
            drop_constant: bool = False, min_rows: int = 2) -> Dataset:
    """Apply ``roles`` to ``frame`` and check the result.

    Parameters
    ----------
    frame : pandas.DataFrame
    roles : Roles
        ``features=None`` means every numeric column except the time and label columns.
    drop_missing : bool
        Drop rows with missing or infinite feature values instead of refusing them.
    drop_constant : bool
        Drop constant feature columns instead of refusing them.
    min_rows : int
        Fewest rows accepted.

    Raises
    ------
    DataError
        No numeric columns, non-numeric feature, NaN/inf values, constant columns, unparsable time
        column, missing label value, too few rows.
    """
    warnings: list[str] = []
    time_col = resolve_column(frame, roles.time) if roles.time is not None else None
    label_col = resolve_column(frame, roles.label) if roles.label is not None else None
    if time_col is not None and time_col == label_col:
        raise DataError("The time column and the label column must be different.")
    if roles.features:
        features = [resolve_column(frame, f) for f in roles.features]
    else:
        features = [c for c in _numeric_columns(frame) if c not in (time_col, label_col)]
        if not features:
            raise DataError("The file has no numeric columns to use as features. "
                            "Check the delimiter and that the values are numbers.")
    clash = {time_col, label_col} & set(features)
    if clash:
        raise DataError(f"Column {sorted(clash)[0]!r} cannot be both a feature and the time or label column.")

    values = frame[features].copy()
    for column in features:
        if not pd.api.types.is_numeric_dtype(values[column]) or pd.api.types.is_bool_dtype(values[column]):
            converted = pd.to_numeric(values[column], errors="coerce")
            bad = converted.isna() & values[column].notna()
            if bad.any():
                example = values[column][bad].iloc[0]
                raise DataError(f"Feature column {column!r} is not numeric (for example {example!r}); "
                                "remove it from the features or fix its values.")
            values[column] = converted
    matrix = values.to_numpy(dtype=float)

    keep = np.ones(len(frame), dtype=bool)
    bad_rows = ~np.isfinite(matrix).all(axis=1)
    if bad_rows.any():
        if not drop_missing:
            per_column = (~np.isfinite(matrix)).sum(axis=0)
            worst = ", ".join(f"{c!r} ({n})" for c, n in zip(features, per_column) if n)
            raise DataError(f"{int(bad_rows.sum())} rows have missing or infinite feature values: {worst}. "
                            "Drop those rows or fill the values.")
        keep &= ~bad_rows
        warnings.append(f"Dropped {int(bad_rows.sum())} rows with missing or infinite feature values.")

    y = None
    if label_col is not None:
        labels = frame[label_col]
        missing_label = labels.isna().to_numpy()
        if missing_label.any():
            if not drop_missing:
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

    selected = frame.loc[keep].reset_index(drop=True)
    matrix = matrix[keep]
    y = y[keep] if y is not None else None

    time = None
    if time_col is not None:
        from .timeseries import parse_time

        parsed = parse_time(selected[time_col])
        order = np.argsort(parsed.to_numpy(), kind="stable")
        if np.any(order != np.arange(order.size)):
            warnings.append("Rows were sorted by time.")
        selected = selected.iloc[order].reset_index(drop=True)
        selected[time_col] = parsed.iloc[order].reset_index(drop=True)  # keeps time zones
        matrix = matrix[order]
        y = y[order] if y is not None else None
        time = selected[time_col]
        duplicates = int(time.duplicated().sum())
        if duplicates:
            warnings.append(f"{duplicates} rows share a timestamp with the row before them.")

    if matrix.shape[0] < min_rows:
        raise DataError(f"Only {matrix.shape[0]} usable rows; at least {min_rows} are needed.")
    spread = matrix.max(axis=0) - matrix.min(axis=0)
    constant = [c for c, s in zip(features, spread) if s == 0]
    if constant:
        if not drop_constant:
            raise DataError(f"Constant columns carry no information and cannot be scaled: {', '.join(map(repr, constant))}. "
                            "Remove them from the features.")
        if len(constant) == len(features):
            raise DataError("Every feature column is constant; there is nothing to learn from.")
        kept = [i for i, c in enumerate(features) if c not in constant]
        matrix, features = matrix[:, kept], [features[i] for i in kept]
        warnings.append(f"Dropped constant columns: {', '.join(constant)}.")
    return Dataset(X=np.ascontiguousarray(matrix), y=y, time=time, feature_names=list(features), frame=selected,
                   roles=Roles(features=list(features), time=time_col, label=label_col,
                               normal_value=roles.normal_value), warnings=warnings)


def column_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per column: type, missing values, distinct values, min, max and whether it is constant."""
    rows = []
    for column in frame.columns:
        series = frame[column]
        numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
        rows.append({
            "column": column,
            "dtype": str(series.dtype),
            "missing": int(series.isna().sum()),
            "unique": int(series.nunique(dropna=True)),
            "min": float(series.min()) if numeric and series.notna().any() else None,
            "max": float(series.max()) if numeric and series.notna().any() else None,
            "constant": bool(series.nunique(dropna=True) <= 1),
        })
    return pd.DataFrame(rows)
