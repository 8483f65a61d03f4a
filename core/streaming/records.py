"""Turning raw messages (JSON objects, CSV lines, table rows) into feature vectors.

A message that cannot be read (not JSON, a missing feature, a value that is not a finite number)
becomes a :class:`Malformed` entry with the reason and the raw text: it is counted and reported,
never dropped and never allowed to stop the stream. With an id field, a record that arrives again
(redelivered by an at-least-once source) is recognised by :class:`RecentIds` and reported as a
duplicate instead of being scored twice.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

RAW_TEXT_LIMIT = 500  # characters of a malformed message kept in the error report
RECENT_IDS = 1_000_000  # record ids remembered to recognise redeliveries (bounded memory)


@dataclass
class Malformed:
    position: int
    reason: str
    raw: str
    record_id: object = None  # the record's id when the message was readable enough to have one


@dataclass
class Duplicate:
    """A record whose id was already seen in this stream: counted and reported, not scored again."""

    position: int
    record_id: object


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
    ids : list
        The record's id field (or None) per row of ``X``.
    duplicates : list of Duplicate
        Records taken out by :meth:`remove_duplicates`.
    """

    X: np.ndarray
    positions: list[int]
    times: list
    errors: list[Malformed] = field(default_factory=list)
    size: int = 0
    ids: list = field(default_factory=list)
    duplicates: list[Duplicate] = field(default_factory=list)

    def remove_duplicates(self, recent: "RecentIds") -> None:
        """Move the records whose id ``recent`` has already seen (readable or not) to ``duplicates``."""
        keep = []
        for row, record_id in enumerate(self.ids):
            if recent.first_time(record_id):
                keep.append(row)
            else:
                self.duplicates.append(Duplicate(self.positions[row], record_id))
        if len(keep) < len(self.positions):
            self.X = self.X[keep]
            self.positions = [self.positions[row] for row in keep]
            self.times = [self.times[row] for row in keep]
            self.ids = [self.ids[row] for row in keep]
        errors = []
        for error in self.errors:
            if recent.first_time(error.record_id):
                errors.append(error)
            else:
                self.duplicates.append(Duplicate(error.position, error.record_id))
        self.errors = errors
        self.duplicates.sort(key=lambda duplicate: duplicate.position)


class RecentIds:
    """The ids of the last ``capacity`` records, to recognise a record delivered again.

    ``None`` (a record without an id) is never a duplicate. Ids are compared as text, so ``7``
    from JSON and ``"7"`` from a CSV line are the same record.
    """

    def __init__(self, capacity: int = RECENT_IDS):
        self.capacity = int(capacity)
        self._seen: set[str] = set()
        self._order: deque[str] = deque()

    def first_time(self, record_id) -> bool:
        """Remember ``record_id``; False when it was seen before."""
        if record_id is None:
            return True
        key = str(record_id)
        if key in self._seen:
            return False
        self._seen.add(key)
        self._order.append(key)
        if len(self._order) > self.capacity:
            self._seen.discard(self._order.popleft())
        return True


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
    id_field : str, optional
        Field holding a unique record id, used to recognise redelivered records.
    """

    def __init__(self, feature_names, *, time_field: str | None = None, csv_columns=None, delimiter: str = ",",
                 id_field: str | None = None):
        self.feature_names = [str(f) for f in feature_names]
        self.time_field = time_field
        self.id_field = id_field
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
        rows, positions, times, ids, errors = [], [], [], [], []
        for position, payload in enumerate(items):
            mapping = None
            try:
                mapping = self.to_mapping(payload)
                rows.append(self.to_vector(mapping))
            except ValueError as exc:
                errors.append(Malformed(position, str(exc), _raw(payload), self._id(mapping)))
                continue
            positions.append(position)
            times.append(mapping.get(self.time_field) if self.time_field else None)
            ids.append(self._id(mapping))
        X = np.asarray(rows, dtype=float).reshape(len(rows), len(self.feature_names))
        return ParsedBatch(X, positions, times, errors, len(items), ids)

    def _id(self, mapping) -> object:
        """The record's id field, or None (no id field, an unreadable message, a blank id)."""
        if not self.id_field or mapping is None:
            return None
        value = mapping.get(self.id_field)
        if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)) \
                or (isinstance(value, str) and not value.strip()):
            return None
        return value.item() if isinstance(value, np.generic) else value

    def _parse_frame(self, frame: pd.DataFrame) -> ParsedBatch:
        missing = [f for f in self.feature_names if f not in frame.columns]
        if missing:  # every row of this batch is unreadable: report each one
            reason = f"feature '{missing[0]}' is missing"
            errors = [Malformed(i, reason, _raw(row), self._id(row)) for i, row in enumerate(frame.to_dict("records"))]
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
            errors.append(Malformed(int(i), reason, _raw(row), self._id(row)))
        if self.time_field and self.time_field in frame.columns:
            times = frame[self.time_field].iloc[positions].tolist()
        else:
            times = [None] * len(positions)
        if self.id_field and self.id_field in frame.columns:
            ids = [self._id({self.id_field: value}) for value in frame[self.id_field].iloc[positions].tolist()]
        else:
            ids = [None] * len(positions)
        return ParsedBatch(values[valid], positions, times, errors, len(frame), ids)


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
