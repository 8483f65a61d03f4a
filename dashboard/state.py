"""Per-session state: the loaded table, the prepared dataset, the training job and the result.

Everything lives in ``st.session_state`` (one browser session = one user), never in a global
cache, so two people using the dashboard at once never see each other's data or models.
Setting an upstream item (a new table) clears what was derived from it (dataset, result).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import streamlit as st

TABLE = "ad_table"
DATASET = "ad_dataset"
JOB = "ad_job"
JOB_SETTINGS = "ad_job_settings"  # what the running job was started with (method label, parameters)
RUN = "ad_run"
TRAIN_RANGE = "ad_train_range"
NOTICE = "ad_notice"
THRESHOLD = "ad_threshold"
LOADED_BUNDLE = "ad_loaded_bundle"  # (identity of the uploaded bytes and signing key, pipeline)
RUNS = "ad_runs"  # every run trained on the current dataset, oldest first; the current one is RUN
BATCH = "ad_batch"  # several methods training one after another (dashboard.batch.TrainingBatch)
SUGGESTION = "ad_suggestion"  # (key of the prepared data, core.suggest.Suggestion for it)

_DOWNSTREAM = {TABLE: (DATASET, JOB, BATCH, RUN, TRAIN_RANGE, THRESHOLD),
               DATASET: (RUN, RUNS, SUGGESTION, THRESHOLD), RUN: (THRESHOLD,)}


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


@dataclass
class Run:
    """One finished training run: the result, the dataset it was made on and the settings used."""

    result: Any  # core.experiment.ExperimentResult
    dataset: Any  # core.data.Dataset
    settings: dict
    table_name: str
    created: float = field(default_factory=time.time)
    cache: dict = field(default_factory=dict)  # threshold-independent views, built on first use

    @property
    def spec(self):
        return self.result.pipeline.spec


def get(key: str, default=None):
    return st.session_state.get(key, default)


def _clear_downstream(key: str) -> None:
    for child in _DOWNSTREAM.get(key, ()):
        dropped = st.session_state.pop(child, None)
        if child in (JOB, BATCH) and dropped is not None:
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


def runs() -> list[Run]:
    """Every run trained on the current dataset in this session, oldest first."""
    return list(get(RUNS, []))


def add_run(new_run: Run) -> None:
    """Make ``new_run`` the current run (what the Results page shows) and add it to :func:`runs`."""
    earlier = runs()
    put(RUN, new_run)
    st.session_state[RUNS] = earlier + [new_run]


def select_run(index: int) -> None:
    """Make the ``index``-th of :func:`runs` the current run again."""
    earlier = runs()
    put(RUN, earlier[index])
    st.session_state[RUNS] = earlier


def batch():
    """The several-methods training of this session, while it runs (or until its end has been shown)."""
    return get(BATCH)


def start_batch(new_batch) -> None:
    st.session_state[BATCH] = new_batch


def end_batch() -> None:
    st.session_state.pop(BATCH, None)


def suggestion(key: tuple):
    """The method suggestion made for the prepared data with this ``key``, if there is one."""
    stored = get(SUGGESTION)
    return stored[1] if stored is not None and stored[0] == key else None


def put_suggestion(key: tuple, value) -> None:
    st.session_state[SUGGESTION] = (key, value)


def preset_widgets(values: dict) -> None:
    """Give widgets (by key) these values on the next render; call from a button's ``on_click``."""
    st.session_state.update(values)


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
