"""A workspace that persists: datasets, scored runs, their bundles and analysts' verdicts.

SQLite in a folder by default (``$ANOMALY_WORKSPACE``, else ``./workspace``), or a PostgreSQL
server by URL, through SQLAlchemy; see :class:`Workspace`. Importing this package loads nothing
heavy: SQLAlchemy is imported when a workspace is opened.
"""

from .store import (ARTEFACTS_ENV, LOCATION_ENV, RunRecord, Workspace, content_digest, dataset_key,
                    default_location)
from .schema import LATEST as SCHEMA_VERSION, VERDICTS

__all__ = ["ARTEFACTS_ENV", "LOCATION_ENV", "RunRecord", "SCHEMA_VERSION", "VERDICTS", "Workspace",
           "content_digest", "dataset_key", "default_location"]
