"""Per-session state: the loaded table, the prepared dataset, the training job and the result.

Everything lives in ``st.session_state`` (one browser session = one user), never in a global
cache, so two people using the dashboard at once never see each other's data or models.
Setting an upstream item (a new table) clears what was derived from it (dataset, result).

Runs persist in the workspace (:mod:`core.workspace`), which everyone using the server shares:
every finished training is saved there, and the page's address carries the current run's id
(``?run=``) or the running job's (``?job=``), so that a reload or a server restart finds them again
(:func:`restore_session`). The session's current dataset and run stay its own.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import pandas as pd
import streamlit as st

from core.errors import CoreError
from core.run import ScoredRun

log = logging.getLogger("dashboard")

TABLE = "ad_table"
DATASET = "ad_dataset"
JOB = "ad_job"
JOB_SETTINGS = "ad_job_settings"  # what the running job was started with (method label, parameters)
RUN = "ad_run"
TRAIN_RANGE = "ad_train_range"
NOTICE = "ad_notice"
THRESHOLD = "ad_threshold"
LOADED_BUNDLE = "ad_loaded_bundle"  # (identity of the uploaded bytes and signing key, pipeline)
RESTORED = "ad_restored"  # the page's address has been read once in this session
WORKSPACE_ERROR = "ad_workspace_error"  # why the workspace could not be opened, once per session
RUN_PARAM, JOB_PARAM = "run", "job"  # query parameters naming the current run and the running job
RUNS = "ad_runs"  # every run trained on the current dataset, oldest first; the current one is RUN
BATCH = "ad_batch"  # several methods training one after another (dashboard.batch.TrainingBatch)
SUGGESTION = "ad_suggestion"  # (key of the prepared data, core.suggest.Suggestion for it)
COMPARED = "ad_compared"  # saved runs of the current dataset loaded for comparison: run id -> ScoredRun
ANALYST = "ad_analyst"  # the name verdicts are recorded under (a field in the sidebar)
UPLOAD = "ad_upload"  # a new upload's (name, bytes), taken from the uploader before the page is drawn, until read

_DOWNSTREAM = {TABLE: (DATASET, JOB, BATCH, RUN, TRAIN_RANGE, THRESHOLD),
               DATASET: (RUN, RUNS, SUGGESTION, THRESHOLD, COMPARED), RUN: (THRESHOLD,)}


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
    workspace_id: str | None = None  # the dataset's id in the workspace, computed on first use


#: The session's current run is a core.run.ScoredRun: scores, masks, threshold options, its dataset and
#: ``cache`` (the Results page's views, built on first use). The pages call it a Run.
Run = ScoredRun


def get(key: str, default=None):
    return st.session_state.get(key, default)


def _clear_downstream(key: str) -> None:
    for child in _DOWNSTREAM.get(key, ()):
        dropped = st.session_state.pop(child, None)
        if child in (JOB, BATCH) and dropped is not None:
            dropped.cancel()  # training on data that was replaced: nobody will see its result
        _clear_downstream(child)


def put(key: str, value) -> None:
    """Store ``value`` and forget everything derived from the previous one.

    A dataset identical to the current run's (the Data page preparing again the table of a run
    reopened from the workspace) keeps the run.
    """
    if key == DATASET and value is not None and _same_data(value.dataset, getattr(run(), "dataset", None)):
        previous = prepared()
        value.workspace_id = value.workspace_id or (previous.workspace_id if previous is not None else None)
        value.dataset = run().dataset  # the object the workspace read back: new runs are saved under its id
        st.session_state[key] = value
        return
    _clear_downstream(key)
    st.session_state[key] = value


def _same_data(a, b) -> bool:
    if a is None or b is None:
        return False
    if a is b:
        return True
    import numpy as np

    return (list(a.feature_names) == list(b.feature_names) and a.X.shape == b.X.shape and np.array_equal(a.X, b.X)
            and (a.y is None) == (b.y is None) and (a.y is None or np.array_equal(a.y, b.y))
            and (a.time is None) == (b.time is None)
            and (a.time is None or np.array_equal(a.time.to_numpy(), b.time.to_numpy())))


def table() -> LoadedTable | None:
    return get(TABLE)


def prepared() -> PreparedData | None:
    return get(DATASET)


def run() -> Run | None:
    return get(RUN)


def store_run(run: ScoredRun, settings: dict) -> ScoredRun:
    """Make a finished training the session's current run (saved in the workspace if not yet)."""
    if run.run_id is None:
        loaded = table()
        _describe(run, loaded.name if loaded is not None else "data", settings)
        _save(run)
    put(RUN, run)
    _address(run=run.run_id)
    return run


def _describe(run: ScoredRun, table_name: str, settings: dict) -> None:
    run.table_name = table_name
    run.settings = {**run.settings, **{k: v for k, v in settings.items() if k not in ("label",)}}


def _save(run: ScoredRun, run_id: str | None = None, store=None) -> None:
    """Save ``run`` in the workspace; a failure is logged and the run stays in the session only."""
    store = store if store is not None else workspace()
    if store is None:
        return
    try:
        store.save_run(run, run_id=run_id)
    except CoreError as error:
        log.warning("The run could not be saved in the workspace: %s", error)


# ------------------------------------------------------------------------------------------------
# The workspace and the page's address
# ------------------------------------------------------------------------------------------------
@st.cache_resource(show_spinner=False)
def _open_workspace(location: str):
    from core.workspace import Workspace

    return Workspace(location)  # one per server and location: a pool of connections shared by every session


def workspace():
    """The server's workspace (``$ANOMALY_WORKSPACE``), or None if it cannot be opened (see :func:`workspace_error`)."""
    from core.workspace import default_location

    try:
        return _open_workspace(default_location())
    except CoreError as error:
        return _workspace_failed(str(error))


def _workspace_failed(message: str):
    if get(WORKSPACE_ERROR) != message:
        log.warning("The workspace cannot be opened: %s", message)
    st.session_state[WORKSPACE_ERROR] = message
    return None


def workspace_error() -> str | None:
    return get(WORKSPACE_ERROR)


def current_dataset_id() -> str | None:
    """The workspace id of the session's dataset (content and roles), computed once per dataset."""
    data, store = prepared(), workspace()
    if data is None or store is None:
        return None
    if data.workspace_id is None:
        data.workspace_id = store.dataset_id(data.dataset)
    return data.workspace_id


def saved_runs() -> list:
    """The workspace's runs of the session's dataset, newest first (``core.workspace.RunRecord``)."""
    store, dataset_id = workspace(), current_dataset_id()
    if store is None or dataset_id is None:
        return []
    return store.runs(dataset_id)


def saved_run(run_id: str) -> ScoredRun:
    """A saved run of the current dataset, loaded once per session (the session's own object if it has it)."""
    mine = {r.run_id: r for r in runs() + ([run()] if run() is not None else []) if r.run_id}
    kept = st.session_state.setdefault(COMPARED, {})
    if run_id not in mine and run_id not in kept:
        kept[run_id] = workspace().load_run(run_id, dataset=prepared().dataset)
    return mine.get(run_id) or kept[run_id]


def analyst() -> str:
    """Who records verdicts in this session: the sidebar's name, else "analyst"."""
    return str(get(ANALYST) or "").strip() or "analyst"


def open_run(run_id: str) -> ScoredRun:
    """Make a saved run the session's current one, with its dataset (the session's, if it is the same data)."""
    store = workspace()
    if store is None:
        raise CoreError(f"The workspace cannot be opened: {workspace_error()}")
    record = store.run_record(run_id)
    if current_dataset_id() == record.dataset_id:
        opened = store.load_run(record.id, dataset=prepared().dataset)
    else:
        opened = store.load_run(record.id)
        put(TABLE, LoadedTable(record.dataset_name, opened.dataset.frame, record.dataset_id, "workspace"))
        put(DATASET, PreparedData(opened.dataset, ("workspace", record.dataset_id), record.dataset_id))
    put(RUN, opened)
    _address(run=opened.run_id)
    return opened


def rename_run(run_id: str, name: str) -> None:
    workspace().rename_run(run_id, name)
    current = run()
    if current is not None and current.run_id == run_id:
        current.name = name.strip()


def delete_run(run_id: str) -> None:
    """Delete a saved run; if it is the session's current run, the session lets it go too."""
    workspace().delete_run(run_id)
    current = run()
    if current is not None and current.run_id == run_id:
        _clear_downstream(RUN)
        st.session_state.pop(RUN, None)
        _address(run=None)


def _address(run: str | None = None, job: str | None = None) -> None:
    """Keep the page's address naming the current run or the running job, and nothing else of ours."""
    try:
        params = st.query_params
        for name, value in ((RUN_PARAM, run), (JOB_PARAM, job)):
            if value is None:
                params.pop(name, None)
            elif params.get(name) != value:
                params[name] = value
    except Exception:  # outside a page run (a test calling the state directly): there is no address
        pass


def restore_session() -> None:
    """At the start of every page run: on a session's first run, pick up the job or run its address names;
    afterwards, keep the address naming the session's job or run (a page switch drops it)."""
    if not get(RESTORED):
        st.session_state[RESTORED] = True
        params = st.query_params
        job_id, run_id = params.get(JOB_PARAM), params.get(RUN_PARAM)
        try:
            if job_id and job() is None and not _adopt_job(job_id):
                run_id = job_id  # the job has ended meanwhile: its run carries its id
            if run_id and run() is None:
                wait_until_saved(run_id)
                open_run(run_id)
        except CoreError as error:
            notice(f"The run in the page's address could not be opened: {error}", "warning")
            _address()
    running, current = job(), run()
    if running is not None:
        _address(job=running.id)
    else:
        _address(run=current.run_id if current is not None else None)


def wait_until_saved(run_id: str | None, timeout: float = 120.0) -> None:
    """Wait while the training job whose run this is still saves it in the workspace.

    The Results page opens as soon as a training has its result; what reads the run back from the
    workspace (verdicts, a reload's address) waits here for the few seconds saving takes.
    """
    if run_id is None:
        return
    from dashboard.jobs import find_job

    saving = find_job(run_id)
    if saving is not None and saving.done:
        saving.thread.join(timeout)


def _adopt_job(job_id: str) -> bool:
    """Take over a job still running on this server (this tab's, before a reload); False if there is none."""
    from dashboard.jobs import WATCHDOG, current_session_id, find_job

    found = find_job(job_id)
    if found is None or found.done:  # ended: its run is opened by its id (once saved)
        return False
    put(TABLE, found.context["table"])
    put(DATASET, found.context["prepared"])
    st.session_state[JOB] = found
    st.session_state[JOB_SETTINGS] = found.context["settings"]
    WATCHDOG.adopt(found.thread.name, current_session_id())
    return True
def runs() -> list[Run]:
    """Every run trained on the current dataset in this session, oldest first."""
    return list(get(RUNS, []))


def add_run(new_run: Run, settings: dict, job_id: str | None = None) -> None:
    """Make ``new_run`` the current run (:func:`store_run`: saved in the workspace) and add it to :func:`runs`.

    ``job_id``: the training job the run comes from, which saves it under that id itself.
    """
    earlier = runs()
    if job_id is not None:
        new_run.run_id = new_run.run_id or job_id
    store_run(new_run, settings)
    st.session_state[RUNS] = earlier + [new_run]


def select_run(index: int) -> None:
    """Make the ``index``-th of :func:`runs` the current run again."""
    earlier = runs()
    put(RUN, earlier[index])
    st.session_state[RUNS] = earlier
    _address(run=earlier[index].run_id)


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


def put_upload(name: str, data: bytes) -> None:
    """Keep a new upload's bytes until the Data page reads them (:func:`take_upload`), in this run."""
    st.session_state[UPLOAD] = (name, data)


def has_upload() -> bool:
    return UPLOAD in st.session_state


def take_upload() -> tuple[str, bytes] | None:
    """The new upload's name and bytes, once: the session keeps no reference to them afterwards, so
    they are freed as soon as the caller has read them."""
    return st.session_state.pop(UPLOAD, None)


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
    """Remember a training job and its settings (one per session); call it before the job starts.

    The job saves its result in the workspace itself, under its own id, as soon as it has one: a
    tab reloaded meanwhile (a new session) finds the run by that id.
    """
    loaded = table()
    job.context.update(table=loaded, prepared=prepared(), settings=settings)
    table_name = loaded.name if loaded is not None else "data"
    store = workspace()

    def describe(result) -> None:  # on the training thread: the result only, never st.*
        _describe(result, table_name, settings)

    def save(result) -> None:  # on the training thread: the workspace object only, never st.*
        _save(result, run_id=job.id, store=store)

    job.when_done(save, prepare=describe)
    st.session_state[JOB] = job
    st.session_state[JOB_SETTINGS] = settings
    _address(job=job.id)


def end_job() -> None:
    """Forget the job once its outcome has been stored or shown."""
    st.session_state.pop(JOB, None)
    _address()


def notice(message: str | None = None, kind: str = "success"):
    """Set (with a message) or pop (without) a one-off message shown on the next page render."""
    if message is not None:
        st.session_state[NOTICE] = (kind, message)
        return None
    return st.session_state.pop(NOTICE, None)
