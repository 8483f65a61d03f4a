"""The sidebar under the page list: what is loaded and trained in this session."""

from __future__ import annotations

import streamlit as st

from dashboard import state
from dashboard.ui import count, plain


def render() -> None:
    table, prepared, run = state.table(), state.prepared(), state.run()
    st.caption("SESSION")
    if table is None:
        st.caption("No data loaded yet.")
        return
    st.markdown(f"**{plain(table.name)}**  \n{table.frame.shape[0]:,} rows × {table.frame.shape[1]} columns")
    if prepared is not None:
        ds = prepared.dataset
        parts = [count(len(ds.feature_names), "feature")]
        if ds.y is not None:
            parts.append(f"{int(ds.y.sum()):,} labelled anomalies")
        if ds.is_series:
            parts.append("time series")
        st.caption(" · ".join(parts))
    if run is not None:
        st.markdown(f"Model: **{run.spec.label}**")
        metrics = run.metrics
        if metrics and metrics.get("roc_auc") is not None:
            st.caption(f"ROC-AUC {metrics['roc_auc']:.3f} · F1 {metrics['f1']:.3f} (as trained)")
    from dashboard.runs_view import render as render_runs

    render_runs()
    from dashboard.verdicts_view import analyst_field

    analyst_field()
