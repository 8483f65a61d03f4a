"""The analyst's verdicts on a run: mark a row or an event, and what the verdicts do.

A verdict (real anomaly, false alarm, unsure, with a note) is stored in the workspace under the
sidebar's name. :func:`panel` lists a run's verdicts and acts on them through :mod:`core.verdicts`:
metrics against the verdicts beside the file's labels, the threshold re-tuned to the best F1 on the
verdicts, suppression rules made from false alarms, and the verdicts as a label CSV.
"""

from __future__ import annotations

import re
import time

import pandas as pd
import streamlit as st

from core import verdicts
from core.errors import CoreError
from core.export import csv_text
from core.workspace import VERDICTS
from dashboard import state
from dashboard.ui import plain


def analyst_field() -> None:
    """The sidebar's name field: who the verdicts are recorded under."""
    st.text_input("Your name (on verdicts)", key=state.ANALYST, placeholder="analyst", max_chars=100,
                  help="Verdicts on rows and events are recorded under this name, with the time.")


def _store_for(run):
    store = state.workspace()
    state.wait_until_saved(run.run_id)  # verdicts refer to the saved run
    if store is None or run.run_id is None:
        st.caption("Verdicts are kept in the workspace, which holds no copy of this run: "
                   f"{plain(state.workspace_error() or 'the run was not saved')}.")
        return None
    return store


def _annotations(run) -> pd.DataFrame:
    """The run's verdicts: read afresh on every full page run (the workspace is shared, so others'
    verdicts show on the next one), and reused by a fragment's rerun (a threshold move redraws the
    row and event forms, which need not query the database each time)."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    kept = run.cache.get("annotations")
    if kept is None or not (ctx is not None and ctx.fragment_ids_this_run):
        kept = run.cache["annotations"] = state.workspace().annotations(run.run_id)
    return kept


def _forget_annotations(run) -> None:
    run.cache.pop("annotations", None)


def _where(run, item) -> str:
    def at(step: int) -> str:
        if run.time is not None:
            return f"{pd.Timestamp(run.time.iloc[step]):%Y-%m-%d %H:%M:%S}"
        return f"row {step}"
    if pd.notna(item["row"]):
        return at(int(item["row"]))
    return f"{at(int(item['event_start']))} to {at(int(item['event_end']))}"


def _form(run, *, key: str, row: int | None = None, event: tuple[int, int] | None = None) -> None:
    store = _store_for(run)
    if store is None:
        return
    what = f"row {row}" if row is not None else "this event"
    existing = _annotations(run)
    if row is not None:
        mine = existing[existing["row"] == row]
    else:
        mine = existing[(existing["event_start"] == event[0]) & (existing["event_end"] == event[1])]
    if len(mine):
        last = mine.iloc[-1]
        st.caption(f":material/rate_review: Marked **{verdicts.VERDICT_NAMES[last['verdict']]}** by "
                   f"{plain(last['author'])} at {time.strftime('%Y-%m-%d %H:%M', time.localtime(last['created']))}"
                   + (f": {plain(last['note'])}" if last["note"] else ""))
    verdict = st.radio(f"Verdict on {what}", VERDICTS, format_func=verdicts.VERDICT_NAMES.get, horizontal=True,
                       key=f"{key}_verdict")
    c2, c3 = st.columns([3, 1.4], vertical_alignment="bottom")
    note = c2.text_input("Note", key=f"{key}_note", max_chars=500, placeholder="why (optional)")
    if c3.button("Save verdict", key=f"{key}_save", icon=":material/rate_review:", width="stretch"):
        try:
            store.annotate(run.run_id, verdict, row=row, event=event, note=note, author=state.analyst())
            _forget_annotations(run)
        except CoreError as error:
            st.error(plain(str(error)))
            return
        state.notice(f"Verdict saved: {what} is {verdicts.VERDICT_NAMES[verdict]}.")
        st.rerun()


def event_verdict(run, start: int, end: int) -> None:
    """Mark the event on steps ``start``..``end`` (both included)."""
    _form(run, key=f"vd_event_{start}_{end}", event=(int(start), int(end)))


def row_verdict(run, row: int, key: str = "res") -> None:
    """Mark one row."""
    _form(run, key=f"vd_{key}_row_{row}", row=int(row))


# ------------------------------------------------------------------------------------------------
def _fresh(run) -> None:
    """After the threshold or the rules changed: the run's derived views are rebuilt on the next render."""
    run.cache.clear()
    from dashboard.results_view import _keys

    state.preset_widgets({_keys(run)["strategy"]: "trained"})  # the Results slider follows the new threshold


def _retune(run) -> None:
    before = run.threshold
    try:
        strategy = verdicts.retune_from_verdicts(run, _annotations(run))
        state.workspace().update_threshold(run)
    except CoreError as error:
        state.notice(f"The threshold was not changed: {error}", "error")
        return
    _fresh(run)
    state.notice(f"Threshold re-tuned to {run.threshold:.4g} (was {before:.4g}): {strategy.describe()}.")


def _add_rule(run, annotation) -> None:
    start = int(annotation["row"]) if pd.notna(annotation["row"]) else int(annotation["event_start"])
    end = int(annotation["row"]) if pd.notna(annotation["row"]) else int(annotation["event_end"])
    try:
        rule = verdicts.rule_from_false_alarm(run, start, end, note=annotation["note"], author=state.analyst())
        store = state.workspace()
        store.add_suppression_rule(run.run_id, rule)
        run.suppression_rules = store.suppression_rules(run.run_id)
    except CoreError as error:
        state.notice(f"No rule was made: {error}", "error")
        return
    _fresh(run)
    state.notice(f"Flags like this false alarm are now suppressed: {verdicts.describe_rule(rule)}.")


def _remove_rule(run, rule_id: int) -> None:
    try:
        store = state.workspace()
        store.delete_suppression_rule(run.run_id, rule_id)
        run.suppression_rules = store.suppression_rules(run.run_id)
    except CoreError as error:
        state.notice(f"The rule was not removed: {error}", "error")
        return
    _fresh(run)
    state.notice("Suppression rule removed.")


def _delete(run, annotation_id: int) -> None:
    try:
        state.workspace().delete_annotation(annotation_id)
        _forget_annotations(run)
    except CoreError as error:
        state.notice(str(error), "error")


def panel(run, key: str = "res") -> None:
    """The run's verdicts and what they do."""
    st.subheader("Your verdicts")
    store = _store_for(run)
    if store is None:
        return
    try:
        annotations = _annotations(run)
    except CoreError as error:
        st.error(plain(str(error)))
        return
    prefix = f"vd_{key}_{run.run_id[:8]}"
    if len(annotations) == 0:
        st.caption("No verdicts on this run yet: select an event or a row and mark it as a real anomaly, a false "
                   "alarm or unsure. Verdicts can then re-tune the threshold and suppress flags like a false alarm.")
    else:
        _verdict_table(run, annotations, prefix)
        _verdict_metrics(run, annotations)
        c1, c2 = st.columns(2)
        c1.button("Re-tune the threshold: best F1 on my verdicts", key=f"{prefix}_retune", icon=":material/tune:",
                  on_click=_retune, args=(run,), width="stretch",
                  help="Puts the threshold where the flags agree best with your verdicts (real anomalies flagged, "
                       "false alarms not). Saved with the run.")
        stem = re.sub(r"[^A-Za-z0-9_-]+", "_", run.display_name).strip("_") or "run"
        c2.download_button("Verdicts as a label CSV", key=f"{prefix}_export", icon=":material/download:",
                           data=lambda: csv_text(verdicts.verdict_label_table(run, _annotations(run))),
                           file_name=f"{stem}_verdicts.csv", mime="text/csv", on_click="ignore", width="stretch",
                           help="The run's table with a 'verdict' column (1 = real anomaly, else 0): load it on the "
                                "Data page and pick 'verdict' as the label column.")
        _false_alarms(run, annotations, prefix)
    _rules(run, prefix)


def _verdict_table(run, annotations: pd.DataFrame, prefix: str) -> None:
    shown = pd.DataFrame({
        "where": [_where(run, a) for _, a in annotations.iterrows()],
        "verdict": [verdicts.VERDICT_NAMES[v] for v in annotations["verdict"]],
        "note": annotations["note"], "by": annotations["author"],
        "when": [time.strftime("%Y-%m-%d %H:%M", time.localtime(t)) for t in annotations["created"]]})
    picked = st.dataframe(shown, hide_index=True, width="stretch", height=min(300, 38 + 35 * len(shown)),
                          on_select="rerun", selection_mode="single-row", key=f"{prefix}_table")
    rows = picked.selection.rows if picked is not None else []
    if rows:
        chosen = annotations.iloc[rows[0]]
        st.button("Delete this verdict", key=f"{prefix}_delete", icon=":material/delete:", on_click=_delete,
                  args=(run, int(chosen["id"])))


def _verdict_metrics(run, annotations: pd.DataFrame) -> None:
    result = verdicts.verdict_metrics(run, annotations)
    if not result["n_judged"]:
        st.caption("Only 'unsure' verdicts so far: nothing to measure against.")
        return
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Judged rows", f"{result['n_judged']:,}", help=f"{result['n_real']:,} real anomalies, "
              f"{result['n_false_alarm']:,} false alarms (an event counts each of its rows).")
    c2.metric("Precision on verdicts", f"{result['precision']:.3f}")
    c3.metric("Recall on verdicts", f"{result['recall']:.3f}")
    c4.metric("F1 on verdicts", f"{result['f1']:.3f}")
    beside = result["labels"]
    if beside is not None:
        st.caption(f"The same flags against the file's labels on these rows: precision {beside['precision']:.3f}, "
                   f"recall {beside['recall']:.3f}, F1 {beside['f1']:.3f}. At the run's threshold "
                   f"{run.threshold:.4g}, its suppression rules applied.")
    else:
        st.caption(f"At the run's threshold {run.threshold:.4g}, its suppression rules applied.")


def _false_alarms(run, annotations: pd.DataFrame, prefix: str) -> None:
    false = annotations[annotations["verdict"] == "false_alarm"]
    if not len(false):
        return
    labels = {int(a["id"]): _where(run, a) for _, a in false.iterrows()}
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    chosen = c1.selectbox("Suppress flags like a false alarm", list(labels), format_func=labels.get,
                          key=f"{prefix}_false_alarm",
                          help="A rule: the features that drove this false alarm, within the range they had. A "
                               "flag on a row whose values all lie in those ranges is dropped.")
    c2.button("Make a rule", key=f"{prefix}_rule", icon=":material/block:", width="stretch", on_click=_add_rule,
              args=(run, false[false["id"] == chosen].iloc[0]))


def _rules(run, prefix: str) -> None:
    rules = run.suppression_rules
    if not rules:
        return
    st.markdown(f"**Suppression rules** · {len(rules)}")
    suppressed = int(verdicts.suppressed(rules, run.dataset).sum()) if run.dataset is not None else 0
    for rule in rules:
        c1, c2 = st.columns([5, 1], vertical_alignment="center")
        c1.caption(f"{plain(verdicts.describe_rule(rule))}" + (f" · {plain(rule['note'])}" if rule.get("note") else "")
                   + f" · by {plain(rule.get('author', ''))}")
        c2.button("Remove", key=f"{prefix}_rule_remove_{rule['id']}", icon=":material/close:", on_click=_remove_rule,
                  args=(run, int(rule["id"])), width="stretch")
    st.caption(f"{suppressed:,} rows fall under these rules; no flag is raised on them.")
