"""The workspace: datasets, runs, their bundles and scores, and analysts' verdicts, kept between sessions.

A workspace is a database (an embedded SQLite file by default, or a PostgreSQL server given by URL)
plus a folder of artefacts: each run's scores as Parquet and its model bundle, each dataset's
prepared data as Parquet. The database holds what is listed and compared (method, parameters,
settings, metrics, threshold policy, who and when); artefacts are written under a temporary name and
renamed into place before the row that points to them is committed, so a reader never finds a row
whose files are missing or half written.

Concurrent writers (threads, processes, several dashboard sessions) never corrupt the store: SQLite
runs in WAL mode and every transaction takes the write lock up front (``BEGIN IMMEDIATE``, waiting
up to 30 s for another writer), and PostgreSQL serialises what needs it with its own locks.
"""

from __future__ import annotations

import getpass
import hashlib
import io
import json
import os
import shutil
import tempfile
import time
import uuid
import zipfile
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd

from ..errors import CoreError, DataError, WorkspaceError
from . import schema

#: Environment variable naming the workspace: a folder (SQLite inside it) or a database URL.
LOCATION_ENV = "ANOMALY_WORKSPACE"
#: Environment variable naming the artefacts folder when the workspace is a database URL.
ARTEFACTS_ENV = "ANOMALY_WORKSPACE_ARTEFACTS"
DATABASE_FILE = "workspace.db"
ARTEFACTS_DIR = "artefacts"
BUSY_SECONDS = 30
#: key of the PostgreSQL advisory lock that serialises schema migrations
_MIGRATION_LOCK = 72_431_009


def default_location() -> str:
    """``$ANOMALY_WORKSPACE`` if set, else the folder ``workspace`` in the current directory."""
    return os.environ.get(LOCATION_ENV) or str(Path.cwd() / "workspace")


def _jsonable(value):
    """``value`` with numpy numbers, arrays, timestamps and tuples turned into plain JSON values."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_jsonable(v) for v in value.tolist()]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if np.isfinite(value) else None
    if value is None or isinstance(value, str):
        return value
    return str(value)


#: Rows hashed at a time by :func:`content_digest`.
DIGEST_BLOCK_ROWS = 1 << 18


def content_digest(frame: pd.DataFrame, block_rows: int = DIGEST_BLOCK_ROWS) -> str:
    """SHA-256 of a table's column names and values (row order included), independent of its file.

    The rows are hashed a block at a time: each row's hash depends on that row alone, so the digest
    is the one of the whole table hashed at once, without that hashing's temporaries (several
    arrays of the table's length per column: half the table's size again for a large file).
    """
    digest = hashlib.sha256(json.dumps([str(c) for c in frame.columns]).encode())
    for start in range(0, len(frame), block_rows):
        rows = frame.iloc[start:start + block_rows]
        digest.update(pd.util.hash_pandas_object(rows, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def dataset_key(dataset) -> tuple[str, str]:
    """``(dataset id, content digest)`` of a prepared dataset: the same table with the same roles, the same id."""
    content = content_digest(dataset.frame)
    roles = json.dumps(_jsonable(asdict(dataset.roles)), sort_keys=True)
    features = json.dumps([str(n) for n in dataset.feature_names])
    return hashlib.sha256(f"{content}|{roles}|{features}".encode()).hexdigest()[:32], content


@dataclass
class RunRecord:
    """What the workspace lists about a run, without loading its scores or model."""

    id: str
    dataset_id: str
    dataset_name: str
    name: str
    method: str
    params: dict
    settings: dict
    metrics: dict | None
    series_metrics: dict | None
    threshold: float
    threshold_description: str
    threshold_policy: dict | None
    split: str
    fit_seconds: float
    score_seconds: float
    device: str
    author: str
    created: float
    details: dict = field(default_factory=dict, repr=False)

    def summary(self) -> dict[str, Any]:
        """A flat row for tables and ``runs list``."""
        metrics = self.metrics or {}
        return {"id": self.id, "name": self.name, "method": self.method, "dataset": self.dataset_name,
                "roc_auc": metrics.get("roc_auc"), "pr_auc": metrics.get("pr_auc"), "f1": metrics.get("f1"),
                "threshold": self.threshold, "fit_seconds": round(self.fit_seconds, 4),
                "created": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.created)), "author": self.author}


class Workspace:
    """Datasets, runs and verdicts in a database plus a folder of artefacts.

    Parameters
    ----------
    location : str or path, optional
        A folder (created if needed; the SQLite file ``workspace.db`` and ``artefacts/`` go inside it),
        or a database URL (``postgresql://user@host:port/db``, ``sqlite:///file.db``). Default:
        :func:`default_location`.
    artefacts : str or path, optional
        Where scores and bundles go when ``location`` is a URL (default ``$ANOMALY_WORKSPACE_ARTEFACTS``,
        else ``./workspace/artefacts``). A team server's artefacts belong on storage every user can reach.
    """

    def __init__(self, location=None, *, artefacts=None):
        from sqlalchemy import create_engine, event
        from sqlalchemy.exc import SQLAlchemyError

        location = str(location or default_location())
        if "://" in location:
            url = location
            if url.startswith(("postgresql://", "postgres://")):  # psycopg 3, not the SQLAlchemy default psycopg2
                url = "postgresql+psycopg://" + url.split("://", 1)[1]
            root = Path(artefacts or os.environ.get(ARTEFACTS_ENV) or Path.cwd() / "workspace" / ARTEFACTS_DIR)
            self.where = _without_password(location)
        else:
            folder = Path(location).expanduser()
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise WorkspaceError(f"Cannot create the workspace folder {folder}: {exc.strerror}.") from exc
            url = f"sqlite:///{folder / DATABASE_FILE}"
            root = Path(artefacts) if artefacts else folder / ARTEFACTS_DIR
            self.where = str(folder)
        self.artefacts = root
        self._loaded: dict[int, tuple[Any, str]] = {}  # datasets read back here: id(object) -> (object, its id)
        try:
            self.artefacts.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise WorkspaceError(f"Cannot create the artefacts folder {root}: {exc.strerror}.") from exc
        try:
            if url.startswith("sqlite"):
                self.engine = create_engine(url, connect_args={"timeout": BUSY_SECONDS})
                event.listen(self.engine, "connect", _sqlite_connect)
                event.listen(self.engine, "begin", _sqlite_begin)
            else:
                self.engine = create_engine(url, pool_pre_ping=True)
            self.is_sqlite = self.engine.dialect.name == "sqlite"
            with self._transaction("Cannot open the workspace at {where}") as connection:
                if self.engine.dialect.name == "postgresql":
                    from sqlalchemy import text

                    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
                self.migrations_applied = schema.migrate(connection)
        except SQLAlchemyError as exc:
            raise WorkspaceError(f"Cannot open the workspace at {self.where}: {_reason(exc)}") from exc

    # -- plumbing --------------------------------------------------------------------------------
    @contextmanager
    def _transaction(self, failure: str = "The workspace at {where} could not complete the request") -> Iterator[Any]:
        from sqlalchemy.exc import SQLAlchemyError

        try:
            with self.engine.begin() as connection:
                yield connection
        except SQLAlchemyError as exc:
            raise WorkspaceError(f"{failure.format(where=self.where)}: {_reason(exc)}") from exc

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> "Workspace":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def schema_version(self) -> int:
        with self._transaction() as connection:
            return max(schema.applied_versions(connection), default=0)

    def _insert_ignoring_duplicate(self, connection, table, values: dict) -> None:
        if self.is_sqlite:
            from sqlalchemy.dialects.sqlite import insert
        else:
            from sqlalchemy.dialects.postgresql import insert
        connection.execute(insert(table).values(**values).on_conflict_do_nothing())

    def _publish(self, relative: str, write) -> None:
        """Write an artefact folder under a temporary name, then rename it into place (once)."""
        final = self.artefacts / relative
        if final.exists():
            return
        final.parent.mkdir(parents=True, exist_ok=True)
        temporary = Path(tempfile.mkdtemp(prefix=".partial-", dir=final.parent))
        try:
            write(temporary)
            try:
                os.rename(temporary, final)
            except OSError:
                if not final.exists():  # someone else published the same content first: keep theirs
                    raise
        finally:
            if temporary.exists():
                shutil.rmtree(temporary, ignore_errors=True)

    # -- datasets --------------------------------------------------------------------------------
    def save_dataset(self, dataset, name: str) -> str:
        """Record a prepared dataset (once per content and roles) with its prepared data; returns its id."""
        known = self._loaded.get(id(dataset))
        if known is not None and known[0] is dataset:  # read back from here: Parquet may have retyped its table
            return known[1]
        dataset_id, content = dataset_key(dataset)
        relative = f"datasets/{dataset_id}"
        self._publish(relative, lambda folder: _write_dataset(dataset, folder))
        with self._transaction() as connection:
            self._insert_ignoring_duplicate(connection, schema.datasets, {
                "id": dataset_id, "content_digest": content, "name": str(name), "roles": _jsonable(asdict(dataset.roles)),
                "n_rows": int(dataset.n_rows), "feature_names": [str(f) for f in dataset.feature_names],
                "is_series": bool(dataset.is_series), "artefact": relative, "created": time.time()})
        return dataset_id

    def datasets(self) -> list[dict]:
        from sqlalchemy import select

        with self._transaction() as connection:
            rows = connection.execute(select(schema.datasets).order_by(schema.datasets.c.created)).mappings()
            return [dict(row) for row in rows]

    def load_dataset(self, dataset_id: str):
        """The prepared dataset saved under ``dataset_id`` (a :class:`core.data.Dataset`)."""
        from sqlalchemy import select

        with self._transaction() as connection:
            row = connection.execute(select(schema.datasets).where(schema.datasets.c.id == dataset_id)).mappings().first()
        if row is None:
            raise WorkspaceError(f"The workspace holds no dataset {dataset_id!r}.")
        dataset = _read_dataset(self.artefacts / row["artefact"], row)
        self._loaded[id(dataset)] = (dataset, dataset_id)  # Parquet may retype the table: remember what it is
        return dataset

    def dataset_id(self, dataset) -> str:
        """The id the workspace gives ``dataset`` (the same table with the same roles, the same id)."""
        known = self._loaded.get(id(dataset))
        if known is not None and known[0] is dataset:
            return known[1]
        return dataset_key(dataset)[0]

    # -- runs ------------------------------------------------------------------------------------
    def save_run(self, run, *, name: str | None = None, author: str | None = None, dataset=None,
                 run_id: str | None = None) -> str:
        """Save a :class:`core.run.ScoredRun` (its dataset, scores and bundle); sets and returns ``run.run_id``.

        ``run_id`` (32 hex digits) gives the run an id chosen beforehand (a training job's); default: a new one.
        """
        dataset = dataset if dataset is not None else run.dataset
        if dataset is None:
            raise DataError("A run is saved with the dataset it was scored on; this run has none attached.")
        if run_id is not None and not (len(str(run_id)) == 32 and all(c in "0123456789abcdef" for c in str(run_id))):
            raise DataError(f"A run id is 32 hexadecimal digits, got {run_id!r}.")
        dataset_id = self.save_dataset(dataset, run.table_name)
        run_id = str(run_id) if run_id is not None else uuid.uuid4().hex
        relative = f"runs/{run_id}"
        name = name or run.name or f"{run.method} on {run.table_name}"
        self._publish(relative, lambda folder: _write_run(run, folder))
        record = {
            "id": run_id, "dataset_id": dataset_id, "name": str(name), "method": run.method,
            "params": _jsonable(run.params), "settings": _jsonable(run.settings), "metrics": _jsonable(run.metrics),
            "series_metrics": _jsonable(run.series_metrics), "threshold": float(run.threshold),
            "threshold_description": str(run.threshold_description),
            "threshold_policy": _jsonable(run.threshold_policy), "split": str(run.split),
            "fit_seconds": float(run.fit_seconds), "score_seconds": float(run.score_seconds),
            "device": str(run.device), "details": _jsonable({"notes": run.notes, "history": run.history, "n_rows": run.n_rows}),
            "artefact": relative, "author": author or _user(), "created": float(run.created),
        }
        try:
            with self._transaction() as connection:
                connection.execute(schema.runs.insert().values(**record))
        except CoreError:
            shutil.rmtree(self.artefacts / relative, ignore_errors=True)
            raise
        run.run_id, run.name = run_id, str(name)
        return run_id

    def runs(self, dataset_id: str | None = None) -> list[RunRecord]:
        """Every run (of one dataset, if given), newest first."""
        from sqlalchemy import select

        query = (select(schema.runs, schema.datasets.c.name.label("dataset_name"))
                 .join(schema.datasets, schema.runs.c.dataset_id == schema.datasets.c.id)
                 .order_by(schema.runs.c.created.desc(), schema.runs.c.id))
        if dataset_id is not None:
            query = query.where(schema.runs.c.dataset_id == dataset_id)
        with self._transaction() as connection:
            return [_record(row) for row in connection.execute(query).mappings()]

    def run_record(self, run_id: str) -> RunRecord:
        """One run's record; an unambiguous prefix of its id will do."""
        from sqlalchemy import select

        query = (select(schema.runs, schema.datasets.c.name.label("dataset_name"))
                 .join(schema.datasets, schema.runs.c.dataset_id == schema.datasets.c.id)
                 .where(schema.runs.c.id.startswith(str(run_id), autoescape=True)).limit(2))
        with self._transaction() as connection:
            rows = list(connection.execute(query).mappings())
        if not rows or not run_id:
            raise WorkspaceError(f"The workspace holds no run {run_id!r}.")
        if len(rows) > 1:
            raise WorkspaceError(f"More than one run id starts with {run_id!r}; give more of it.")
        return _record(rows[0])

    def load_run(self, run_id: str, dataset=None):
        """The saved run as a :class:`core.run.ScoredRun`, with its model and scores.

        ``dataset`` attaches an already loaded copy of the run's dataset (checked to be the same
        content and roles); by default the dataset saved with the run is read back.
        """
        from ..pipeline import DetectionPipeline
        from ..run import ScoredRun

        record = self.run_record(run_id)
        folder = self.artefacts / record.details.get("artefact", f"runs/{record.id}")
        if dataset is None:
            dataset = self.load_dataset(record.dataset_id)
        elif self.dataset_id(dataset) != record.dataset_id:
            raise WorkspaceError(f"Run {record.name!r} was made on other data (or other column roles) than the "
                                 "dataset given.")
        try:
            parts = pd.read_parquet(folder / "scores.parquet")
        except (OSError, ValueError) as exc:
            raise WorkspaceError(f"The scores of run {record.name!r} cannot be read from {folder}.") from exc
        pipeline = DetectionPipeline.load(folder / "model.adbundle")
        masks = {k: parts[k].to_numpy(dtype=bool) for k in ("fit", "validation", "train", "test")}
        y = parts["label"].to_numpy(dtype=int) if "label" in parts else None
        return ScoredRun(
            pipeline=pipeline, method=record.method, params=dict(record.params), scores=parts["score"].to_numpy(float),
            train_mask=masks["train"], test_mask=masks["test"], fit_mask=masks["fit"], y=y,
            threshold=float(pipeline.threshold_), threshold_description=pipeline.threshold_description_,
            metrics=record.metrics, series_metrics=record.series_metrics, fit_seconds=record.fit_seconds,
            score_seconds=record.score_seconds, device=record.device, history=record.details.get("history") or {},
            split=record.split, notes=list(record.details.get("notes") or []), validation_mask=masks["validation"],
            threshold_policy=record.threshold_policy, dataset=dataset, table_name=record.dataset_name,
            settings=dict(record.settings), created=record.created, run_id=record.id, name=record.name,
            suppression_rules=list(record.details.get("suppressions") or []))

    def rename_run(self, run_id: str, name: str) -> None:
        name = str(name).strip()
        if not name:
            raise DataError("A run's name cannot be empty.")
        record = self.run_record(run_id)
        with self._transaction() as connection:
            connection.execute(schema.runs.update().where(schema.runs.c.id == record.id).values(name=name))

    def delete_run(self, run_id: str) -> None:
        """Delete a run, its verdicts and its artefacts."""
        record = self.run_record(run_id)
        with self._transaction() as connection:
            connection.execute(schema.annotations.delete().where(schema.annotations.c.run_id == record.id))
            connection.execute(schema.runs.delete().where(schema.runs.c.id == record.id))
        shutil.rmtree(self.artefacts / f"runs/{record.id}", ignore_errors=True)

    def export_run(self, run_id: str) -> bytes:
        """One zip: ``run.json`` (the record), ``scores.csv`` (every row's score and part) and the model bundle."""
        from ..export import csv_text

        record = self.run_record(run_id)
        folder = self.artefacts / f"runs/{record.id}"
        try:
            scores = pd.read_parquet(folder / "scores.parquet")
            bundle = (folder / "model.adbundle").read_bytes()
        except (OSError, ValueError) as exc:
            raise WorkspaceError(f"The files of run {record.name!r} cannot be read from {folder}.") from exc
        scores.insert(0, "row", np.arange(len(scores)))
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("run.json", json.dumps(_jsonable(asdict(record)), indent=2))
            archive.writestr("scores.csv", csv_text(scores))
            archive.writestr("model.adbundle", bundle)
        return buffer.getvalue()

    # -- annotations -----------------------------------------------------------------------------
    def annotate(self, run_id: str, verdict: str, *, row: int | None = None, event: tuple[int, int] | None = None,
                 note: str = "", author: str | None = None) -> int:
        """Record an analyst's verdict (``real``, ``false_alarm`` or ``unsure``) on a row or an event of a run."""
        if verdict not in schema.VERDICTS:
            raise DataError(f"Unknown verdict {verdict!r}; choose one of {', '.join(schema.VERDICTS)}.")
        if (row is None) == (event is None):
            raise DataError("A verdict is about one row or one event: give row= or event=(start, end).")
        record = self.run_record(run_id)
        values = {"run_id": record.id, "verdict": verdict, "note": str(note or ""), "author": author or _user(),
                  "created": time.time(), "row_index": None, "event_start": None, "event_end": None}
        n_rows = int(record.details.get("n_rows") or 0)
        if row is not None:
            values["row_index"] = _step(row, n_rows, "row")
        else:
            start, end = (_step(v, n_rows, "event step") for v in event)
            if start > end:
                raise DataError(f"The event starts (step {start}) after it ends (step {end}).")
            values["event_start"], values["event_end"] = start, end
        with self._transaction() as connection:
            return int(connection.execute(schema.annotations.insert().values(**values)).inserted_primary_key[0])

    def annotations(self, run_id: str) -> pd.DataFrame:
        """The verdicts on a run, oldest first: id, row, event_start, event_end, verdict, note, author, created."""
        from sqlalchemy import select

        record = self.run_record(run_id)
        table = schema.annotations
        query = select(table).where(table.c.run_id == record.id).order_by(table.c.created, table.c.id)
        with self._transaction() as connection:
            rows = [dict(r) for r in connection.execute(query).mappings()]
        columns = ["id", "run_id", "row", "event_start", "event_end", "verdict", "note", "author", "created"]
        frame = pd.DataFrame(rows).rename(columns={"row_index": "row"}) if rows else pd.DataFrame(columns=columns)
        for column in ("row", "event_start", "event_end"):
            frame[column] = frame[column].astype("Int64")
        return frame[columns]

    def delete_annotation(self, annotation_id: int) -> None:
        with self._transaction() as connection:
            deleted = connection.execute(schema.annotations.delete().where(schema.annotations.c.id == int(annotation_id)))
        if deleted.rowcount == 0:
            raise WorkspaceError(f"The workspace holds no verdict {annotation_id}.")

    # -- what verdicts change on a run -------------------------------------------------------------
    def update_threshold(self, run) -> None:
        """Save a saved run's new threshold: its record (threshold, policy, metrics) and its bundle."""
        record = self.run_record(run.run_id)
        run.pipeline.save(self.artefacts / record.details["artefact"] / "model.adbundle")  # replaced at once
        with self._transaction() as connection:
            connection.execute(schema.runs.update().where(schema.runs.c.id == record.id).values(
                threshold=float(run.threshold), threshold_description=str(run.threshold_description),
                threshold_policy=_jsonable(run.threshold_policy), metrics=_jsonable(run.metrics),
                series_metrics=_jsonable(run.series_metrics)))

    def _change_details(self, run_id: str, change) -> Any:
        """Read, change and write a run's details in one transaction (the row locked meanwhile)."""
        from sqlalchemy import select

        record = self.run_record(run_id)
        table = schema.runs
        with self._transaction() as connection:
            query = select(table.c.details).where(table.c.id == record.id)
            if not self.is_sqlite:
                query = query.with_for_update()
            details = dict(connection.execute(query).scalar_one() or {})
            result = change(details)
            connection.execute(table.update().where(table.c.id == record.id).values(details=_jsonable(details)))
        return result

    def suppression_rules(self, run_id: str) -> list[dict]:
        """The run's suppression rules (see :func:`core.verdicts.rule_from_false_alarm`), each with its ``id``."""
        return list(self.run_record(run_id).details.get("suppressions") or [])

    def add_suppression_rule(self, run_id: str, rule: dict) -> int:
        """Keep a suppression rule with the run; returns its id."""
        def add(details):
            rules = list(details.get("suppressions") or [])
            rule_id = max((int(r["id"]) for r in rules), default=0) + 1
            details["suppressions"] = rules + [{**rule, "id": rule_id}]
            return rule_id
        return self._change_details(run_id, add)

    def delete_suppression_rule(self, run_id: str, rule_id: int) -> None:
        def remove(details):
            rules = list(details.get("suppressions") or [])
            kept = [r for r in rules if int(r["id"]) != int(rule_id)]
            if len(kept) == len(rules):
                raise WorkspaceError(f"The run holds no suppression rule {rule_id}.")
            details["suppressions"] = kept
        self._change_details(run_id, remove)


# -- helpers ---------------------------------------------------------------------------------------
def _sqlite_connect(dbapi_connection, _record) -> None:
    dbapi_connection.isolation_level = None  # transactions are begun by _sqlite_begin, not by the driver
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {BUSY_SECONDS * 1000}")
    cursor.execute("PRAGMA journal_mode = WAL")  # readers never block the writer, nor it them
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA synchronous = NORMAL")  # safe with WAL: a crash loses at most the last commit
    cursor.close()


def _sqlite_begin(connection) -> None:
    # the write lock up front: two transactions that read then write cannot deadlock; others wait for it
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _without_password(url: str) -> str:
    head, sep, tail = url.partition("://")
    if "@" in tail:
        credentials, _, host = tail.rpartition("@")
        tail = f"{credentials.split(':', 1)[0]}@{host}"
    return head + sep + tail


def _reason(exc) -> str:
    original = getattr(exc, "orig", None) or exc
    return " ".join(str(original).split())[:300] or type(original).__name__


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _step(value, n_rows: int, what: str) -> int:
    try:
        step = int(value)
    except (TypeError, ValueError) as exc:
        raise DataError(f"The {what} must be a whole number, got {value!r}.") from exc
    if step < 0 or (n_rows and step >= n_rows):
        raise DataError(f"The {what} {step} is outside the run's {n_rows} rows.")
    return step


def _record(row) -> RunRecord:
    values = dict(row)
    details = dict(values.pop("details") or {})
    details["artefact"] = values.pop("artefact")
    values.pop("dataset_id", None)
    return RunRecord(dataset_id=row["dataset_id"], details=details, **values)


def _write_run(run, folder: Path) -> None:
    parts = {"score": np.asarray(run.scores, dtype=float)}
    for part in ("fit", "validation", "train", "test"):
        parts[part] = np.asarray(run.rows(part), dtype=bool)
    if run.y is not None:
        parts["label"] = np.asarray(run.y, dtype=np.int8)
    pd.DataFrame(parts).to_parquet(folder / "scores.parquet", index=False)
    run.pipeline.save(folder / "model.adbundle")


def _write_dataset(dataset, folder: Path) -> None:
    prepared = pd.DataFrame(np.asarray(dataset.X, dtype=float), columns=[f"x{i}" for i in range(dataset.X.shape[1])])
    if dataset.y is not None:
        prepared["__label__"] = np.asarray(dataset.y, dtype=np.int8)
    if dataset.time is not None:
        prepared["__time__"] = dataset.time.reset_index(drop=True)
    prepared.to_parquet(folder / "prepared.parquet", index=False)
    table = dataset.frame.reset_index(drop=True)
    table.columns = [str(c) for c in table.columns]
    try:
        table.to_parquet(folder / "table.parquet", index=False)
    except (ValueError, TypeError):  # a column mixing numbers and text, which Parquet cannot type: keep it as text
        text_columns = {c: table[c].astype(str) for c in table.columns if table[c].dtype == object}
        table.assign(**text_columns).to_parquet(folder / "table.parquet", index=False)


def _read_dataset(folder: Path, row):
    from ..data import Dataset, Roles

    try:
        prepared = pd.read_parquet(folder / "prepared.parquet")
        table = pd.read_parquet(folder / "table.parquet")
    except (OSError, ValueError) as exc:
        raise WorkspaceError(f"The data of dataset {row['name']!r} cannot be read from {folder}.") from exc
    features = [c for c in prepared.columns if c.startswith("x")]
    y = prepared["__label__"].to_numpy(dtype=int) if "__label__" in prepared else None
    series_time = prepared["__time__"] if "__time__" in prepared else None
    return Dataset(X=prepared[features].to_numpy(dtype=float), y=y, time=series_time,
                   feature_names=list(row["feature_names"]), frame=table, roles=Roles(**row["roles"]))
