"""Per-session state: the loaded table, the prepared dataset, the training job and the result.

Everything lives in ``st.session_state`` (one browser session = one user), never in a global
cache, so two people using the dashboard at once never see each other's data or models.
Setting an upstream item (a new table) clears what was derived from it (dataset, result).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
import streamlit as st

from core.run import ScoredRun

TABLE = "ad_table"
DATASET = "ad_dataset"
JOB = "ad_job"
JOB_SETTINGS = "ad_job_settings"  # what the running job was started with (method label, parameters)
RUN = "ad_run"
TRAIN_RANGE = "ad_train_range"
NOTICE = "ad_notice"
THRESHOLD = "ad_threshold"
LOADED_BUNDLE = "ad_loaded_bundle"  # (identity of the uploaded bytes and signing key, pipeline)

_DOWNSTREAM = {TABLE: (DATASET, JOB, RUN, TRAIN_RANGE, THRESHOLD), DATASET: (RUN, THRESHOLD), RUN: (THRESHOLD,)}


@dataclass
class LoadedTable:
    """A parsed table and where it came from; ``digest`` identifies its content."""

    name: str
    frame: pd.DataFrame
    digest: str
    source: str  # "upload" | "sample" | "path"


@dataclass
class PreparedData:
    """A dataset made from the table with given roles; ``key`` says which roles and options."""

    dataset: Any  # core.data.Dataset
    key: tuple


#: The session's current run is a core.run.ScoredRun: scores, masks, threshold options, its dataset and
#: ``cache`` (the Results page's views, built on first use). The pages call it a Run.
Run = ScoredRun


def get(key: str, default=None):
    return st.session_state.get(key, default)


def _clear_downstream(key: str) -> None:
    for child in _DOWNSTREAM.get(key, ()):
        dropped = st.session_state.pop(child, None)
        if child == JOB and dropped is not None:
            dropped.cancel()  # training on data that was replaced: nobody will see its result
        _clear_downstream(child)


def put(key: str, value) -> None:
    """Store ``value`` and forget everything derived from the previous one."""
    _clear_downstream(key)
    st.session_state[key] = value


def table() -> LoadedTable | None:
    return get(TABLE)


def prepared() -> PreparedData | None:
    return get(DATASET)


def run() -> Run | None:
    return get(RUN)


def store_run(run: ScoredRun, settings: dict) -> ScoredRun:
    """Make a finished training the session's current run, named after the table it was trained on."""
    loaded = table()
    run.table_name = loaded.name if loaded is not None else "data"
    run.settings = {**run.settings, **settings}
    put(RUN, run)
    return run


def loaded_bundle(identity: str):
    """The pipeline loaded from an uploaded bundle, if the upload (and signing key) is still ``identity``."""
    cached = get(LOADED_BUNDLE)
    return cached[1] if cached is not None and cached[0] == identity else None


def put_loaded_bundle(identity: str, pipeline) -> None:
    put(LOADED_BUNDLE, (identity, pipeline))


def job():
    """The training job of this session, while it runs (or until its end has been shown)."""
    return get(JOB)


def job_settings() -> dict:
    return get(JOB_SETTINGS, {})


def start_job(job, settings: dict) -> None:
    """Remember a started training job and its settings (one per session)."""
    st.session_state[JOB] = job
    st.session_state[JOB_SETTINGS] = settings


def end_job() -> None:
    """Forget the job once its outcome has been stored or shown."""
    st.session_state.pop(JOB, None)


def notice(message: str | None = None, kind: str = "success"):
    """Set (with a message) or pop (without) a one-off message shown on the next page render."""
    if message is not None:
        st.session_state[NOTICE] = (kind, message)
        return None
    return st.session_state.pop(NOTICE, None)
