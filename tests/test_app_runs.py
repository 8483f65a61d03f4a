"""Saved runs in the dashboard: every training is saved, the sidebar lists the runs of the current data
(open, rename, delete, export), and a reload or a server restart finds the run or the job again."""

import io
import json
import zipfile

import numpy as np
import streamlit as st

from core.workspace import Workspace
from dashboard import state
from tests.app_support import APP, PAGE, csv_bytes, labelled_rows, no_crash, start, train, upload, wait_for_run
from streamlit.testing.v1 import AppTest


def _trained_twice(seed: int):
    """Two runs on data of their own (the tests share one workspace)."""
    at = upload(start(), "runs.csv", csv_bytes(labelled_rows(seed=seed)))
    train(at, "statistical", "zscore")
    first = at.session_state[state.RUN].run_id
    at.first_scores = at.session_state[state.RUN].scores.copy()
    train(at, "classical", "knn")
    second = at.session_state[state.RUN].run_id
    return at, first, second


def _reloaded(**params) -> AppTest:
    """A new browser session opening the address ``?key=value``, as a reload does."""
    at = AppTest.from_file(APP, default_timeout=90)
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    return at


def test_every_training_is_saved_and_listed_for_its_data():
    at, first, second = _trained_twice(21)
    no_crash(at)
    assert first and second and first != second
    assert at.query_params["run"] == second  # the address names the current run
    records = Workspace().runs(at.session_state[state.DATASET].workspace_id)
    assert [r.id for r in records] == [second, first]
    assert records[1].method == "zscore" and records[1].metrics["f1"] > 0.5 and records[1].threshold_policy
    picker = at.selectbox(key="runs_pick")
    assert picker.value == second and len(picker.options) == 2
    # another file: its own (empty) list
    at.switch_page(PAGE["data"]).run()
    upload(at, "other.csv", csv_bytes(labelled_rows(seed=12)))
    assert any("No saved runs of this data yet" in c.value for c in at.sidebar.caption)


def test_open_rename_export_and_delete_from_the_sidebar():
    at, first, second = _trained_twice(22)
    at.selectbox(key="runs_pick").set_value(first).run()
    at.button(key="runs_open").click().run()
    at.switch_page(PAGE["results"]).run()
    no_crash(at)
    assert at.session_state[state.RUN].run_id == first and at.session_state[state.RUN].method == "zscore"
    assert any("Z-score" in m.value or "zscore" in m.value.lower() for m in at.markdown)
    at.text_input(key=f"runs_name_{first}").set_value("baseline z").run()
    at.button(key="runs_rename").click().run()
    no_crash(at)
    assert Workspace().run_record(first).name == "baseline z"
    assert "baseline z" in at.selectbox(key="runs_pick").format_func(first)
    exported = Workspace().export_run(first)
    with zipfile.ZipFile(io.BytesIO(exported)) as archive:
        assert json.loads(archive.read("run.json"))["name"] == "baseline z"
    assert [b.proto.label for b in at.sidebar.get("download_button")] == ["Export run"]
    at.button(key="runs_delete").click().run()
    no_crash(at)
    assert state.RUN not in at.session_state  # it was the current run: the session lets it go
    assert [r.id for r in Workspace().runs(at.session_state[state.DATASET].workspace_id)] == [second]


def test_a_reload_and_a_server_restart_reopen_the_run_with_its_data():
    at, first, _ = _trained_twice(23)
    st.cache_resource.clear()  # a restarted server opens the workspace afresh
    again = _reloaded(run=first)
    no_crash(again)
    reopened = again.session_state[state.RUN]
    assert reopened.run_id == first and reopened.method == "zscore" and np.array_equal(reopened.scores, at.first_scores)
    assert again.session_state[state.TABLE].name == "runs.csv"
    again.switch_page(PAGE["results"]).run()
    no_crash(again)
    assert any(m.label == "F1" for m in again.metric)
    assert again.query_params["run"] == first


def test_a_reload_after_training_ended_finds_the_jobs_run():
    at = upload(start(), "job.csv", csv_bytes(labelled_rows(seed=13)))
    at.switch_page(PAGE["train"]).run()
    at.button(key="train_start").click().run()
    wait_for_run(at)
    run_id = Workspace().runs()[0].id
    again = _reloaded(job=run_id)  # the address still named the job when the tab was reloaded
    no_crash(again)
    assert again.session_state[state.RUN].run_id == run_id
    assert again.query_params["run"] == run_id and "job" not in again.query_params


def test_an_unknown_run_in_the_address_is_a_message_not_a_crash():
    at = _reloaded(run="0123456789abcdef0123456789abcdef")
    no_crash(at)
    assert state.RUN not in at.session_state
    at.switch_page(PAGE["data"]).run()
    assert "run" not in at.query_params


def test_an_adopted_job_outlives_the_session_that_started_it():
    from dashboard.jobs import SessionWatchdog

    stopped = []
    watchdog = SessionWatchdog(is_active=lambda session: session == "after-reload", grace=0.0, period=3600)
    watchdog.watch("before-reload", "train-x", lambda: stopped.append("x"), lambda: True)
    watchdog.watch("before-reload", "train-y", lambda: stopped.append("y"), lambda: True)
    watchdog.adopt("train-x", "after-reload")  # the reloaded tab took the job over
    for _ in range(2):  # first pass notes the old session inactive, the second stops what it still owns
        watchdog.check()
    assert stopped == ["y"] and watchdog.watched() == ["train-x"]
