"""Export page: scored data, the model bundle, an HTML report; score a new file with a saved bundle."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import streamlit as st

from core.data import spark_scoring_command
from core.errors import DataError
from core.export import csv_text
from core.thresholds import apply_threshold
from dashboard import state
from dashboard.ui import OTHER_UPLOAD_LIMIT_MB, digest_bytes, friendly_errors, parse_bytes, plain


def scored_frame(run: state.Run, threshold: float) -> pd.DataFrame:
    """The dataset's rows (original columns) with score, flag and which part each row was in."""
    result = run
    frame = run.dataset.frame.copy()
    frame["score"] = result.scores
    frame["flag"] = result.flags(threshold).astype(int)
    frame["part"] = np.where(result.test_mask, "test", "train")
    return frame


def scored_csv(run: state.Run, threshold: float) -> str:
    """The scored rows as CSV text, escaped so that a spreadsheet shows every cell as data."""
    return csv_text(scored_frame(run, threshold))


def _stem(run: state.Run) -> str:
    base = re.sub(r"[^A-Za-z0-9_-]+", "_", run.table_name.rsplit(".", 1)[0]).strip("_") or "data"
    return f"{base}_{run.method}"


def render() -> None:
    st.title("Export")
    run = state.run()
    if run is None:
        st.info("Train a model first; then download the scored data, the model and a report here. "
                "You can also score a new file with a saved model below.", icon=":material/download:")
    else:
        _downloads(run)
    st.divider()
    _score_with_bundle()


def _downloads(run: state.Run) -> None:
    threshold = float(st.session_state.get(state.THRESHOLD, run.threshold))
    stem = _stem(run)
    st.markdown(f"Model **{run.spec.label}** on **{plain(run.table_name)}**, threshold **{threshold:.6g}**"
                f"{' (as trained)' if threshold == run.threshold else ' (set on the Results page)'}.")
    c1, c2, c3 = st.columns(3)
    with c1:
        st.markdown("**Scored data**")
        st.caption("Every row with its original columns plus `score`, `flag` (1 = anomaly) and `part`.")
        st.download_button("Download scored CSV", data=lambda: scored_csv(run, threshold),
                           file_name=f"{stem}_scored.csv", mime="text/csv", icon=":material/table:",
                           key="exp_csv", on_click="ignore")
    with c2:
        st.markdown("**Model bundle**")
        st.caption("Scaler, model and threshold in one file; load it below or with `python -m core`.")

        def bundle() -> bytes:
            pipeline = run.pipeline
            if threshold != pipeline.threshold_:
                pipeline.set_threshold(threshold, f"set on the Results page = {threshold:.6g}")
            return pipeline.to_bytes()

        st.download_button("Download model", data=bundle, file_name=f"{stem}.adbundle",
                           mime="application/zip", icon=":material/deployed_code:", key="exp_bundle",
                           on_click="ignore")
    if run.dataset.is_series:
        with c1:
            def events_csv() -> str:
                from dashboard.results_model import ResultContext, events_at

                ctx = run.cache.get("context") or ResultContext.build(run)
                return csv_text(events_at(ctx, threshold))

            st.download_button("Download events CSV", data=events_csv, file_name=f"{stem}_events.csv",
                               mime="text/csv", icon=":material/timeline:", key="exp_events", on_click="ignore",
                               help="One row per run of flagged time steps: start, end, duration, peak score.")
    with c3:
        st.markdown("**Report**")
        st.caption("A standalone interactive HTML page: settings, metrics and charts. Works offline.")

        def report() -> str:
            from dashboard.report import build_report

            return build_report(run, threshold)

        st.download_button("Download HTML report", data=report, file_name=f"{stem}_report.html", mime="text/html",
                           icon=":material/description:", key="exp_report", on_click="ignore")


def _score_with_bundle() -> None:
    st.subheader("Score a new file with a saved model")
    c1, c2 = st.columns(2)
    model_file = c1.file_uploader("Model bundle", type=None, key="exp_model_upload",
                                  max_upload_size=OTHER_UPLOAD_LIMIT_MB,
                                  help="A file downloaded with 'Download model' above.")
    data_file = c2.file_uploader("CSV or Parquet to score", type=["csv", "txt", "tsv", "parquet", "pq"],
                                 key="exp_data_upload", max_upload_size=OTHER_UPLOAD_LIMIT_MB,
                                 help=f"Up to {OTHER_UPLOAD_LIMIT_MB // 1024} GB, scored here in memory; score a larger "
                                      f"file with Spark: {spark_scoring_command('FILE.csv')}")
    if model_file is None or data_file is None:
        st.caption("Upload both a model and a data file; the file needs the model's feature columns.")
        return
    from core import signing
    from core.pipeline import DetectionPipeline

    with friendly_errors("loading the model") as outcome:
        content = model_file.getvalue()
        # the key is part of the identity: a bundle accepted under one key is checked again under another
        identity = f"{digest_bytes(content)}:{signing.key_fingerprint(signing.configured_key())}"
        pipeline = state.loaded_bundle(identity)
        if pipeline is None:
            pipeline = DetectionPipeline.from_bytes(content)
            state.put_loaded_bundle(identity, pipeline)
    if outcome.failed:
        return
    st.caption(f"Model: {pipeline.spec.label} · threshold {pipeline.threshold_:.6g} · "
               f"features: {plain(', '.join(map(str, pipeline.feature_names_[:8])))}{' …' if len(pipeline.feature_names_) > 8 else ''}")
    with friendly_errors("scoring the file") as outcome:
        frame = parse_bytes(data_file.getvalue(), data_file.name)
        missing = [f for f in pipeline.feature_names_ if f not in frame.columns]
        if missing:
            raise DataError(f"'{data_file.name}' lacks the model's feature columns: {', '.join(missing[:10])}. "
                            "Use a file with the same columns as the training data.")
        with st.spinner("Scoring…"):
            scores = pipeline.score(frame)
        scored = frame.copy()
        scored["score"] = scores
        scored["flag"] = apply_threshold(scores, pipeline.threshold_).astype(int)
    if outcome.failed:
        return
    st.success(f"Scored {len(scored):,} rows: {int(scored['flag'].sum()):,} flagged.", icon=":material/check_circle:")
    st.dataframe(scored.sort_values("score", ascending=False).head(100), height=280, width="stretch")
    st.download_button("Download the scored file", data=csv_text(scored),
                       file_name=f"{data_file.name.rsplit('.', 1)[0]}_scored.csv", mime="text/csv",
                       key="exp_new_csv", on_click="ignore")
