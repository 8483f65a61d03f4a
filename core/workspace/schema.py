"""The workspace's tables and the numbered steps that build them.

``schema_migrations`` records every step applied (its number, name and time). Opening a workspace
applies the missing steps in order, inside one transaction holding the database's write lock (SQLite)
or an advisory lock (PostgreSQL), so two processes opening a new workspace at once do not race.
A later change to the schema is a new step appended to :data:`MIGRATIONS`; steps are never edited.
"""

from __future__ import annotations

import time

from sqlalchemy import (JSON, Boolean, CheckConstraint, Column, Float, ForeignKey, Index, Integer, MetaData, String,
                        Table, Text, select)

VERDICTS = ("real", "false_alarm", "unsure")

metadata = MetaData()

schema_migrations = Table(
    "schema_migrations", metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("name", String(200), nullable=False),
    Column("applied_at", Float, nullable=False),
)

datasets = Table(
    "datasets", metadata,
    Column("id", String(64), primary_key=True),  # digest of the content and the roles
    Column("content_digest", String(64), nullable=False),
    Column("name", Text, nullable=False),
    Column("roles", JSON, nullable=False),
    Column("n_rows", Integer, nullable=False),
    Column("feature_names", JSON, nullable=False),
    Column("is_series", Boolean, nullable=False),
    Column("artefact", Text),  # folder under the artefacts root holding the prepared data, if saved
    Column("created", Float, nullable=False),
)

runs = Table(
    "runs", metadata,
    Column("id", String(32), primary_key=True),
    Column("dataset_id", String(64), ForeignKey("datasets.id"), nullable=False),
    Column("name", Text, nullable=False),
    Column("method", String(100), nullable=False),
    Column("params", JSON, nullable=False),
    Column("settings", JSON, nullable=False),
    Column("metrics", JSON),
    Column("series_metrics", JSON),
    Column("threshold", Float, nullable=False),
    Column("threshold_description", Text, nullable=False),
    Column("threshold_policy", JSON),
    Column("split", String(40), nullable=False),
    Column("fit_seconds", Float, nullable=False),
    Column("score_seconds", Float, nullable=False),
    Column("device", String(100), nullable=False),
    Column("details", JSON, nullable=False),  # notes and training history
    Column("artefact", Text, nullable=False),  # folder under the artefacts root: scores.parquet, model.adbundle
    Column("author", Text, nullable=False),
    Column("created", Float, nullable=False),
    Index("runs_by_dataset", "dataset_id", "created"),
)

annotations = Table(
    "annotations", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("row_index", Integer),  # a row (or time step) ...
    Column("event_start", Integer),  # ... or an event, first and last step included
    Column("event_end", Integer),
    Column("verdict", String(20), nullable=False),
    Column("note", Text, nullable=False),
    Column("author", Text, nullable=False),
    Column("created", Float, nullable=False),
    CheckConstraint(f"verdict IN ({', '.join(repr(v) for v in VERDICTS)})", name="known_verdict"),
    CheckConstraint("(row_index IS NOT NULL) <> (event_start IS NOT NULL AND event_end IS NOT NULL)",
                    name="row_or_event"),
    Index("annotations_by_run", "run_id"),
)


def _create(*tables):
    def step(connection):
        for table in tables:
            table.create(connection)
    return step


#: Numbered steps: (version, name, function of a connection inside the migration transaction).
MIGRATIONS = [
    (1, "datasets and runs", _create(datasets, runs)),
    (2, "annotations: analysts' verdicts on rows and events", _create(annotations)),
]

LATEST = MIGRATIONS[-1][0]


def applied_versions(connection) -> set[int]:
    return {row[0] for row in connection.execute(select(schema_migrations.c.version))}


def migrate(connection) -> list[int]:
    """Apply the missing steps in order on ``connection`` (inside its transaction); returns those applied."""
    schema_migrations.create(connection, checkfirst=True)
    done = applied_versions(connection)
    applied = []
    for version, name, step in MIGRATIONS:
        if version in done:
            continue
        step(connection)
        connection.execute(schema_migrations.insert().values(version=version, name=name, applied_at=time.time()))
        applied.append(version)
    return applied
