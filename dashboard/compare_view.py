"""Compare page: every run of the current data in one leaderboard, how they agree, and where they differ.

The numbers come from :mod:`core.compare`; this module only picks the runs and draws them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from core import compare
from core.errors import CoreError
from core.events import label_events
from dashboard import compare_charts, state, verdicts_view
from dashboard.ui import friendly_errors, link, plain, seconds

#: Runs compared by default (the newest); more can be picked.
DEFAULT_COMPARED = 8
MAX_OVERLAID = 3
METRIC_COLUMNS = {"roc_auc": "ROC-AUC", "pr_auc": "PR-AUC", "f1": "F1", "event_f1": "event F1", "vus_pr": "VUS-PR"}


def render() -> None:
    st.title("Compare")
    st.caption("Every run trained on the data in view, side by side: which method ranks the anomalies best, how much "
               "the runs agree, and the rows they disagree on.")
    message = state.notice()
    if message:
        getattr(st, message[0])(message[1])
    if state.prepared() is None:
        st.info("Load a table on the Data page first; the runs trained on it are compared here.",
                icon=":material/table_chart:")
        link("data", "Go to the Data page", icon=":material/table_chart:")
        return
    candidates = _candidates()
    if not candidates:
        st.info("No runs of this data yet. Train one or several methods, then compare them here.",
                icon=":material/compare_arrows:")
        link("train", "Go to the Train page", icon=":material/model_training:")
        return
    keys = list(candidates)
    chosen = st.multiselect(f"Runs compared ({len(keys)} of this data)", keys, default=keys[:DEFAULT_COMPARED],
                            format_func=lambda k: candidates[k][0], key="cmp_runs",
                            help="Every run trained on this data (saved in the workspace, or of this session).")
    if not chosen:
        st.caption("Pick at least one run.")
        return
    runs = _load(candidates, chosen)
    if runs is None:
        return
    with friendly_errors("comparing the runs"):
        _leaderboard(runs)
        if len(runs) >= 2:
            _agreement(runs)
            _side_by_side(runs)
        else:
            st.caption("Pick two or more runs to see how much they agree and where they disagree.")


def _candidates() -> dict[str, tuple[str, object]]:
    """``key -> (label, run id or session run)``: the workspace's runs of this data, then unsaved session runs."""
    found: dict[str, tuple[str, object]] = {}
    try:
        records = state.saved_runs()
    except CoreError as error:
        st.warning(f"The saved runs cannot be listed: {plain(str(error))}")
        records = []
    for record in records:
        found[record.id] = (f"{record.name} · {record.id[:6]}", record.id)
    for i, run in enumerate(reversed(state.runs())):
        if run.run_id is None or run.run_id not in found:
            found[run.run_id or f"session-{i}"] = (f"{run.display_name} (this session)", run)
    return found


def _load(candidates: dict, chosen: list) -> list | None:
    runs = []
    with friendly_errors("opening the runs") as outcome, st.spinner("Opening the runs…"):
        for key in chosen:
            source = candidates[key][1]
            runs.append(state.saved_run(source) if isinstance(source, str) else source)
    return None if outcome.failed else runs


def _leaderboard(runs: list) -> None:
    st.subheader("Leaderboard")
    table = compare.leaderboard(runs)
    labelled = table["roc_auc"].notna().any()
    shown = table.drop(columns=[c for c in METRIC_COLUMNS if table[c].isna().all()])
    shown["fit_seconds"] = [seconds(v) for v in shown["fit_seconds"]]
    shown["score_seconds"] = [seconds(v) for v in shown["score_seconds"]]
    config = {c: st.column_config.NumberColumn(label, format="%.3f") for c, label in METRIC_COLUMNS.items()}
    config.update(flagged_share=st.column_config.NumberColumn("flagged", format="percent"),
                  threshold=st.column_config.NumberColumn(format="%.4g"),
                  fit_seconds=st.column_config.TextColumn("fit time"),
                  score_seconds=st.column_config.TextColumn("score time"))
    st.dataframe(shown, hide_index=True, width="stretch", column_config=config, key="cmp_leaderboard")
    if labelled:
        st.caption("On each run's test part: ROC-AUC and PR-AUC rank the rows whatever the threshold; F1 (and event "
                   "F1 for a series) is at the run's own threshold; VUS-PR tolerates small shifts between labels and "
                   "flags. Best ROC-AUC first.")
    else:
        st.caption("No label column, so no accuracy figures: the flagged share, the agreement between the runs and "
                   "their score distributions below show how they differ.")


def _agreement(runs: list) -> None:
    st.subheader("Agreement")
    c0, _ = st.columns([1, 3])
    share = c0.number_input("Top share of rows compared (%)", 0.5, 50.0, 5.0, step=0.5, key="cmp_top_share",
                            help="The overlap counts the rows each run scores in this top share.")
    tables = compare.agreement(runs, top_share=share / 100.0)
    scores = compare.score_table(runs)
    names = [c for c in scores.columns if c not in ("row", "tested")]
    c1, c2, c3 = st.columns(3)
    c1.plotly_chart(compare_charts.agreement_heatmap(tables["spearman"], "Rank correlation of scores (Spearman)"),
                    width="stretch", key="cmp_spearman")
    c2.plotly_chart(compare_charts.agreement_heatmap(tables["top_overlap"], f"Overlap of the top {share:g}% of rows",
                                                     low=0.0), width="stretch", key="cmp_overlap")
    c3.plotly_chart(compare_charts.score_distributions(scores[scores["tested"]], names), width="stretch",
                    key="cmp_distributions")
    st.caption("Compared on the rows every run tested. Scores are put on one scale: each row's rank among the run's "
               "own training scores.")


@st.fragment
def _side_by_side(runs: list) -> None:
    # a fragment: picking runs to overlay or a row to judge redraws this part only, not the leaderboard
    with friendly_errors("comparing the runs side by side"):
        _overlay(runs)


def _overlay(runs: list) -> None:
    st.subheader("Side by side")
    names = compare.score_table(runs).columns[1:-1].tolist()
    by_name = dict(zip(names, runs))
    picked = st.multiselect("Runs overlaid", names, default=names[:2], max_selections=MAX_OVERLAID, key="cmp_overlay",
                            help="Two or three runs: their scores over the rows, and the rows they disagree on most.")
    if len(picked) < 2:
        st.caption("Pick two or three runs to overlay.")
        return
    chosen = [by_name[n] for n in picked]
    scores = compare.score_table(chosen, scale=compare.rarity)
    first = chosen[0]
    dataset = first.dataset
    series = dataset is not None and dataset.is_series
    x = dataset.time.to_numpy() if series else np.arange(first.n_rows)
    spans = None
    if series and first.y is not None and first.y.any():
        events = label_events(first.y)
        spans = (events["start_index"].to_numpy(), events["end_index"].to_numpy())
    thresholds = [float(compare.rarity(r, [r.threshold])[0]) for r in chosen]
    st.plotly_chart(compare_charts.score_overlay(x, scores, scores.columns[1:-1].tolist(), thresholds, spans,
                                                 x_title="time" if series else "row"),
                    width="stretch", key="cmp_overlay_chart")
    st.caption("Rarity: 2 means only 1% of the run's training rows score higher, 3 means 0.1%. Red shading: labelled "
               "anomalies; dotted lines: each run's threshold.")
    st.markdown("**Where they disagree most**")
    table = compare.disagreements(chosen, top=50)
    if series:
        table.insert(1, "time", dataset.time.iloc[table["row"].to_numpy()].to_numpy())
    if first.y is not None:
        table["true class"] = np.where(first.y[table["row"].to_numpy()] == 1, "anomaly", "normal")
    config = {c: st.column_config.NumberColumn(format="%.3f") for c in table.columns
              if c not in ("row", "time", "true class") and not c.endswith(" flagged")}
    selection = st.dataframe(table, hide_index=True, width="stretch", height=260, on_select="rerun",
                             selection_mode="single-row", key="cmp_disagreements", column_config=config)
    rows = selection.selection.rows if selection is not None else []
    st.caption("Scores as ranks among each run's training scores; \"flagged\" is at each run's own threshold. Select "
               "a row to record a verdict on it.")
    saved = [r for r in chosen if r.run_id is not None]
    if not saved:
        return
    owner_names = [n for n, r in zip(picked, chosen) if r.run_id is not None]
    owner = st.selectbox("Verdicts recorded on the run", owner_names, key="cmp_verdict_run",
                         help="A verdict belongs to one run; pick which.")
    run = by_name[owner]
    if rows:
        verdicts_view.row_verdict(run, int(table["row"].iloc[rows[0]]), key="cmp")
    verdicts_view.panel(run, key="cmp")
