"""Turning raw messages (JSON objects, CSV lines, table rows) into feature vectors.

A message that cannot be read (not JSON, a missing feature, a value that is not a finite number)
becomes a :class:`Malformed` entry with the reason and the raw text: it is counted and reported,
never dropped and never allowed to stop the stream.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

RAW_TEXT_LIMIT = 500  # characters of a malformed message kept in the error report


@dataclass
class Malformed:
    position: int
    reason: str
    raw: str


@dataclass
class ParsedBatch:
    """Feature rows of the readable messages of one micro-batch, in arrival order.

    Attributes
    ----------
    X : ndarray (n_ok, n_features)
    positions : list of int
        Index of each row of ``X`` in the original batch.
    times : list
        The record's timestamp field (or None) per row of ``X``.
    errors : list of Malformed
    size : int
        Number of messages in the batch.
    """

    X: np.ndarray
    positions: list[int]
    times: list
    errors: list[Malformed] = field(default_factory=list)
    size: int = 0


def _text(payload) -> str:
    if isinstance(payload, (bytes, bytearray, memoryview)):
        return bytes(payload).decode("utf-8")
    return str(payload)


def _number(value, name: str) -> float:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)) \
            or (isinstance(value, str) and not value.strip()):
        raise ValueError(f"feature '{name}' is missing")
    if isinstance(value, bool):
        raise ValueError(f"feature '{name}' is a boolean, not a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"feature '{name}' is not a number: {str(value)[:40]!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"feature '{name}' is not a finite number: {value!r}")
    return number


class RecordParser:
    """Reads messages into feature vectors in the model's feature order.

    Parameters
    ----------
    feature_names : list of str
        The model's features (``pipeline.feature_names_``).
    time_field : str, optional
        Field holding the record's timestamp (kept as given, for display and events).
    csv_columns : list of str, optional
        Column names of CSV lines. Default: the features, or the time field then the features
        when a line has one more field.
    delimiter : str
        CSV separator.
    """

    def __init__(self, feature_names, *, time_field: str | None = None, csv_columns=None, delimiter: str = ","):
        self.feature_names = [str(f) for f in feature_names]
        self.time_field = time_field
        self.csv_columns = list(csv_columns) if csv_columns else None
        self.delimiter = delimiter

    # -- one message -----------------------------------------------------------------------
    def to_mapping(self, payload) -> dict:
        """A message as a field -> value mapping (raises ValueError with a readable reason)."""
        if isinstance(payload, dict):
            return payload
        try:
            text = _text(payload).strip()
        except UnicodeDecodeError:
            raise ValueError("the message is not UTF-8 text") from None
        if not text:
            raise ValueError("the message is empty")
        if text[0] in "{[":
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"invalid JSON ({exc.msg} at character {exc.pos})") from None
            if not isinstance(value, dict):
                raise ValueError("the JSON message is not an object with named fields")
            return value
        fields = next(csv.reader(io.StringIO(text), delimiter=self.delimiter))
        columns = self.csv_columns
        if columns is None:
            if len(fields) == len(self.feature_names):
                columns = self.feature_names
            elif self.time_field and len(fields) == len(self.feature_names) + 1:
                columns = [self.time_field, *self.feature_names]
            else:
                raise ValueError(f"the CSV line has {len(fields)} fields; the model expects "
                                 f"{len(self.feature_names)} ({', '.join(self.feature_names[:5])})")
        if len(fields) != len(columns):
            raise ValueError(f"the CSV line has {len(fields)} fields, expected {len(columns)}")
        return dict(zip(columns, fields))

    def to_vector(self, mapping: dict) -> list[float]:
        return [_number(mapping.get(name), name) for name in self.feature_names]

    # -- a micro-batch ---------------------------------------------------------------------
    def parse(self, items) -> ParsedBatch:
        """Parse a list of messages (dicts, JSON text, CSV lines, bytes) or a pandas DataFrame."""
        if isinstance(items, pd.DataFrame):
            return self._parse_frame(items)
        rows, positions, times, errors = [], [], [], []
        for position, payload in enumerate(items):
            try:
                mapping = self.to_mapping(payload)
                rows.append(self.to_vector(mapping))
            except ValueError as exc:
                errors.append(Malformed(position, str(exc), _raw(payload)))
                continue
            positions.append(position)
            times.append(mapping.get(self.time_field) if self.time_field else None)
        X = np.asarray(rows, dtype=float).reshape(len(rows), len(self.feature_names))
        return ParsedBatch(X, positions, times, errors, len(items))

    def _parse_frame(self, frame: pd.DataFrame) -> ParsedBatch:
        missing = [f for f in self.feature_names if f not in frame.columns]
        if missing:  # every row of this batch is unreadable: report each one
            reason = f"feature '{missing[0]}' is missing"
            errors = [Malformed(i, reason, _raw(row)) for i, row in enumerate(frame.to_dict("records"))]
            return ParsedBatch(np.empty((0, len(self.feature_names))), [], [], errors, len(frame))
        values = frame[self.feature_names].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
        valid = np.isfinite(values).all(axis=1)
        positions = np.flatnonzero(valid).tolist()
        errors = []
        for i in np.flatnonzero(~valid):  # only bad rows pay for a per-row explanation
            row = frame.iloc[int(i)].to_dict()
            try:
                self.to_vector(row)
                reason = "a feature is not a finite number"
            except ValueError as exc:
                reason = str(exc)
            errors.append(Malformed(int(i), reason, _raw(row)))
        if self.time_field and self.time_field in frame.columns:
            times = frame[self.time_field].iloc[positions].tolist()
        else:
            times = [None] * len(positions)
        return ParsedBatch(values[valid], positions, times, errors, len(frame))


def _raw(payload) -> str:
    if isinstance(payload, dict):
        try:
            text = json.dumps(payload, default=str)
        except (TypeError, ValueError):
            text = repr(payload)
    else:
        try:
            text = _text(payload)
        except UnicodeDecodeError:
            text = repr(bytes(payload)[:RAW_TEXT_LIMIT])
    return text[:RAW_TEXT_LIMIT]
