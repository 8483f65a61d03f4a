"""The sidebar's list of saved runs of the current data: open one on Results, rename, delete, export."""

from __future__ import annotations

import re

import streamlit as st

from core.errors import CoreError
from dashboard import state
from dashboard.ui import go, plain


def _label(record) -> str:
    metrics = record.metrics or {}
    score = f" · F1 {metrics['f1']:.3f}" if metrics.get("f1") is not None else ""
    return f"{record.name}{score} · {record.id[:6]}"  # the id tells apart runs of the same name


def render() -> None:
    if state.prepared() is None:
        return
    st.caption("RUNS")
    if state.workspace() is None:
        st.caption(f"Runs are not saved: {plain(state.workspace_error() or 'no workspace')}")
        return
    current = state.run()
    state.wait_until_saved(current.run_id if current is not None else None)  # list the run just trained too
    try:
        records = state.saved_runs()
    except CoreError as error:
        st.caption(f"The saved runs cannot be listed: {plain(str(error))}")
        return
    if not records:
        st.caption("No saved runs of this data yet: every training is saved here.")
        return
    by_id = {r.id: r for r in records}
    ids = list(by_id)
    index = ids.index(current.run_id) if current is not None and current.run_id in by_id else 0
    picked = st.selectbox(f"Saved runs of this data ({len(ids)})", ids, index=index, key="runs_pick",
                          format_func=lambda i: _label(by_id[i]),
                          help="Every training is saved in the workspace, shared by everyone using this server.")
    record = by_id[picked]
    is_current = current is not None and current.run_id == picked
    c1, c2 = st.columns(2)
    if c1.button("Open", key="runs_open", icon=":material/insights:", disabled=is_current, width="stretch",
                 help="Make it the current run and show it on the Results page."):
        try:
            state.open_run(picked)
        except CoreError as error:
            st.error(plain(str(error)))
        else:
            go("results")
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", record.name).strip("_") or "run"
    c2.download_button("Export run", data=lambda: state.workspace().export_run(picked), file_name=f"{stem}.zip",
                       mime="application/zip", key="runs_export", icon=":material/download:", on_click="ignore",
                       width="stretch", help="A zip: the run's record (JSON), every row's score (CSV), the model bundle.")
    with st.expander("Rename or delete", expanded=False):
        name = st.text_input("Name", value=record.name, key=f"runs_name_{picked}", max_chars=200)
        c1, c2 = st.columns(2)
        if c1.button("Rename", key="runs_rename", width="stretch"):
            try:
                state.rename_run(picked, name)
            except CoreError as error:
                st.error(plain(str(error)))
            else:
                st.rerun()
        if c2.button("Delete", key="runs_delete", type="secondary", width="stretch",
                     help="Delete the run, its scores and model from the workspace, for everyone."):
            state.delete_run(picked)
            st.rerun()
    st.caption(f"{record.method} · {record.author} · {record.summary()['created']}")
