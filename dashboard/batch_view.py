"""The Train page's "several methods at once": pick, train one after another, list the runs.

Each trained method becomes a run of the session (:func:`dashboard.state.add_run`); the last one
is the current run, and any run can be opened on Results again. Runs of row methods can be
combined into an ensemble of the same methods and parameters, trained on the same rows.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st
from streamlit.errors import StreamlitAPIException

from core.registry import can_join_ensemble, format_method_list, get_method, list_methods
from dashboard import state
from dashboard.batch import TrainingBatch
from dashboard.jobs import TrainingJob, current_session_id
from dashboard.ui import friendly_errors, go, plain, seconds


def candidates(dataset) -> list[str]:
    """Methods the batch can train on this data: window methods only for a series, supervised only with labels."""
    return [m.name for m in list_methods()
            if (dataset.is_series or m.input_kind == "rows") and (dataset.y is not None or not m.supervised)]


def quick(dataset) -> list[str]:
    """The default choice: statistical and classical methods that need no labels and no deep framework."""
    return [name for name in candidates(dataset) if (spec := get_method(name)).family in ("statistical", "classical")
            and not spec.supervised and spec.heavy_framework is None]


def render(dataset, options: dict, preload) -> None:
    """The multiselect and its button; ``options`` are the training data and threshold chosen above."""
    with st.expander("Train several methods at once", expanded=False, icon=":material/stacks:"):
        names = candidates(dataset)
        picked = st.multiselect("Methods", names, default=quick(dataset), key="train_many_methods",
                                format_func=lambda n: get_method(n).label)
        st.caption("Each with its default parameters, the training data and the threshold chosen above, "
                   "one after another; each becomes a run of this session.")
        if st.button(f"Train {len(picked)} methods", key="train_many_start", disabled=not picked,
                     icon=":material/play_arrow:"):
            for name in picked:
                preload(get_method(name))
            batch = TrainingBatch(dataset, [(name, {}) for name in picked], **options).start(current_session_id())
            state.start_batch(batch)
            st.rerun()


@st.fragment(run_every=0.5)
def follow(batch: TrainingBatch) -> None:
    """Which method is training, how many are done, and Cancel; the whole page reruns at the end."""
    with friendly_errors("following the training"):
        if not batch.running:
            st.rerun()
        if st.button("Cancel", icon=":material/stop:", key="train_many_cancel") or batch.cancelled:
            batch.cancel()
            st.caption("Cancelling after the current epoch…")
        done, total = len(batch.finished), len(batch.methods)
        current = batch.current
        text = f"{done} of {total} trained"
        if current is not None:
            text += f" · training {get_method(current.method).label} ({current.elapsed:.0f} s)"
        st.progress(done / max(1, total), text=text)


def finish(batch: TrainingBatch) -> None:
    """Store every finished method as a run and say what happened to each."""
    state.end_batch()
    trained, failed = [], []
    for job in batch.finished:
        label = get_method(job.method).label
        if job.result is not None:
            settings = {"method": job.method, "label": label, "params": job.params, **batch.options}
            state.add_run(job.result, settings)
            trained.append(label)
        elif job.error:
            failed.append(f"{label} ({job.error})")
    message = f"Trained {len(trained)} of {len(batch.methods)} methods" + (f": {', '.join(trained)}" if trained else "")
    if batch.cancelled:
        message += "; the rest was cancelled"
    if failed:
        message += f". Failed: {'; '.join(failed)}"
    state.notice(message + ".", "warning" if failed or batch.cancelled or not trained else "success")


def runs_list(dataset, options: dict) -> None:
    """Every run of the session on this data: metrics, open one on Results, combine some into an ensemble."""
    runs = state.runs()
    if len(runs) < 2:
        return
    st.subheader(f"Runs on this data ({len(runs)})")
    rows = []
    for number, run in enumerate(runs, 1):
        metrics = run.metrics or {}
        rows.append({"run": number, "method": run.spec.label, "ROC-AUC": metrics.get("roc_auc"),
                     "PR-AUC": metrics.get("pr_auc"), "F1": metrics.get("f1"),
                     "fit": seconds(run.fit_seconds), "threshold": run.threshold_description})
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    labels = [f"{number}. {run.spec.label}" for number, run in enumerate(runs, 1)]
    pick, button = st.columns([3, 1], vertical_alignment="bottom")
    chosen = pick.selectbox("Run", range(len(runs)), index=len(runs) - 1, format_func=labels.__getitem__,
                            key="train_runs_open_choice")
    if button.button("Open on Results", key="train_runs_open", icon=":material/insights:"):
        state.select_run(chosen)
        try:
            go("results")
        except StreamlitAPIException:  # the page runs outside the router (tests)
            pass
    combinable = [i for i, run in enumerate(runs) if can_join_ensemble(run.spec)]
    if len(combinable) < 2:
        return
    pick, button = st.columns([3, 1], vertical_alignment="bottom")
    members = pick.multiselect("Combine into an ensemble", combinable, format_func=labels.__getitem__,
                               key="train_runs_combine", help="An ensemble of these runs' methods and parameters, "
                               "trained on the same rows with the training data and threshold chosen above.")
    chosen_members = format_method_list([(runs[i].method, runs[i].params) for i in members])
    if button.button("Train the ensemble", key="train_runs_combine_start", disabled=len(members) < 2,
                     icon=":material/merge:"):
        spec = get_method("ensemble")
        params = {"members": chosen_members}
        job = TrainingJob(dataset, spec.name, params, **options).start(current_session_id())
        state.start_job(job, {"method": spec.name, "label": spec.label, "params": params, **options})
        st.rerun()
    if len(members) >= 2:
        st.caption(plain(f"Members: {chosen_members}"))
