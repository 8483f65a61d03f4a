"""Data page: load a table (upload, bundled sample or local path), inspect it, set column roles."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st
from streamlit.runtime.uploaded_file_manager import UploadedFile

from core.data import (LOAD_MEMORY_FACTOR, MISSING_POLICIES, READ_NOTES, UNPARSED_CELLS, Roles, column_summary,
                       infer_roles, numeric_columns, prepare, spark_scoring_command)
from core.errors import DataError
from dashboard import charts, state
from dashboard.ui import (count, digest_bytes, friendly_errors, link, parse_bytes, parse_path, plain,
                          reading_interval, sample_files, take_uploaded_bytes)

NONE = "(none)"
UPLOAD_KEY = "data_upload"
QUICK_LOOK_ROWS = 50_000  # rows drawn in the quick look's histograms


def render() -> None:
    st.title("Data")
    st.caption("Load a table of readings or rows, check it, and say which columns are features, time and label.")
    load = _source()
    # Everything below the source tabs is one element: a new file replaces the previous file's
    # views at once, instead of leaving a greyed copy of them on screen while it is read.
    body = st.empty()
    if load is not None:
        body.empty()  # the previous file's views go now, not when the new file has been read
    with body.container():
        if load is not None:
            load()  # its spinner, or the reason the file cannot be read, heads the new views
        loaded = state.table()
        if loaded is None:
            st.info("No data yet. Drop a CSV or Parquet file above, pick a bundled sample, or type a path.",
                    icon=":material/upload_file:")
            return
        _overview(loaded)
        roles, options = _roles(loaded)
        _prepare(loaded, roles, options)
        _quick_chart(loaded)


# ------------------------------------------------------------------------------------------------
def _source():
    """The three ways to load a table; returns the loading of a newly chosen file, still to be done."""
    load = None
    upload, sample, path = st.tabs([":material/upload: Upload", ":material/dataset: Sample datasets",
                                    ":material/folder_open: Path on the server"])
    with upload:
        st.file_uploader("CSV or Parquet file", type=["csv", "txt", "tsv", "parquet", "pq"],
                         help="Header detected automatically; comma, semicolon, tab or pipe separated.",
                         key=UPLOAD_KEY, on_change=_take_new_upload)
        st.caption(f"Up to {_upload_limit()} here; reading a file needs about {LOAD_MEMORY_FACTOR:g} times its "
                   "size in free memory. A larger file: load it by its path on the server, or score it with "
                   f"Spark, which reads it in parts: `{spark_scoring_command('FILE.csv')}`.")
        # a new upload is acted on once (its bytes are taken by the callback), so that loading a
        # sample afterwards is not undone by the file's name still showing in the uploader
        if state.has_upload():
            load = _read_upload
    with sample:
        files = sample_files()
        if not files:
            st.caption("No sample files found in data/ (run `make samples`).")
        else:
            descriptions = {
                "sensor.csv": "temperature and pressure once a minute, with spikes, a drift and a dropout",
                "sine_spikes.csv": "a noisy sine wave with 5% spikes",
                "heartbeats.csv": "140-sample heartbeats, normal and four abnormal shapes (label 1 = normal)",
            }
            col1, col2 = st.columns([3, 1], vertical_alignment="bottom")
            names = [p.name for p in files]
            choice = col1.selectbox("Sample", files, format_func=lambda p: f"{p.name} — {descriptions.get(p.name, '')}",
                                    index=names.index("sensor.csv") if "sensor.csv" in names else 0, key="data_sample")
            if col2.button("Load sample", key="data_sample_load", width="stretch"):
                load = lambda: _load_path(str(choice), "sample")  # noqa: E731
    with path:
        col1, col2 = st.columns([3, 1], vertical_alignment="bottom")
        typed = col1.text_input("File path", placeholder="/path/to/data.csv", key="data_path",
                                help="Read on the machine running the dashboard. ECG5000's tutorial layout (no header, "
                                     "label in the last column) is recognised.")
        if col2.button("Load file", key="data_path_load", width="stretch"):
            load = lambda: _load_path(typed, "path")  # noqa: E731
    return load


def _upload_limit() -> str:
    """The largest upload the server takes (``server.maxUploadSize``, in MiB), in words."""
    mib = int(st.get_option("server.maxUploadSize"))
    return f"{mib / 1024:g} GB" if mib >= 1024 else f"{mib} MB"


def _take_new_upload() -> None:
    """The uploader's callback: a new file's bytes, taken from the runtime before the page is drawn.

    Taken here, the page holds the only reference to them, and they are freed once parsed, before
    the table is prepared (see :func:`dashboard.ui.take_uploaded_bytes`).
    """
    file = state.get(UPLOAD_KEY)
    if isinstance(file, UploadedFile):  # not None or a file removed from the runtime: nothing new
        state.put_upload(file.name, take_uploaded_bytes(file))


def _read_upload() -> None:
    taken = state.take_upload()
    if taken is None:
        return
    name, data = taken
    del taken
    digest = digest_bytes(data)
    current = state.table()
    if current is None or current.digest != digest:
        with friendly_errors(f"reading '{name}'"):
            frame = parse_bytes(data, name)
            state.put(state.TABLE, state.LoadedTable(name, frame, digest, "upload"))
    # returning drops the last reference to the bytes: the table is kept, not what it was read from


#: ``make run`` names a bundled sample here, so the dashboard opens with data already loaded.
STARTUP_SAMPLE_ENV = "ANOMALY_DASHBOARD_SAMPLE"


def load_startup_sample() -> None:
    """Load the sample named by ``$ANOMALY_DASHBOARD_SAMPLE`` once per browser session, if no table is loaded."""
    import os

    path = os.environ.get(STARTUP_SAMPLE_ENV)
    if not path or st.session_state.get("startup_sample_done"):
        return
    st.session_state["startup_sample_done"] = True
    if state.table() is None:
        _load_path(path, "sample")


def _load_path(path: str, source: str) -> None:
    with friendly_errors("reading the file"):
        frame, digest = parse_path(path)
        current = state.table()
        if current is None or current.digest != digest:
            from pathlib import Path

            state.put(state.TABLE, state.LoadedTable(Path(path.strip()).name, frame, digest, source))


# ------------------------------------------------------------------------------------------------
def _overview(loaded: state.LoadedTable) -> None:
    frame = loaded.frame
    summary = _summary(loaded)
    numeric = int(summary["min"].notna().sum()) if len(summary) else 0
    missing = int(summary["missing"].sum())
    st.subheader(plain(loaded.name))
    for note in frame.attrs.get(READ_NOTES, []):
        st.caption(f":material/info: {plain(note)}")  # notes quote column names
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Rows", f"{frame.shape[0]:,}")
    c2.metric("Columns", f"{frame.shape[1]:,}")
    c3.metric("Numeric columns", f"{numeric:,}")
    c4.metric("Missing values", f"{missing:,}")
    preview, columns = st.tabs(["Preview", "Columns"])
    with preview:
        st.dataframe(frame.head(200), height=260, width="stretch")
        if len(frame) > 200:
            st.caption(f"First 200 of {len(frame):,} rows.")
    with columns:
        st.dataframe(summary, height=260, width="stretch", hide_index=True,
                     column_config={"constant": st.column_config.CheckboxColumn("constant")})


def _summary(loaded: state.LoadedTable) -> pd.DataFrame:
    key = "ad_summary"
    cached = st.session_state.get(key)
    if cached is None or cached[0] != loaded.digest:
        cached = (loaded.digest, column_summary(loaded.frame))
        st.session_state[key] = cached
    return cached[1]


def _roles(loaded: state.LoadedTable) -> tuple[Roles, dict]:
    frame = loaded.frame
    tag = loaded.digest[:10]
    guess_key = "ad_roles_guess"
    guess = st.session_state.get(guess_key)
    if guess is None or guess[0] != loaded.digest:
        guess = (loaded.digest, infer_roles(frame))
        st.session_state[guess_key] = guess
    guess = guess[1]
    columns = list(frame.columns)
    st.subheader("Column roles")
    c1, c2, c3 = st.columns(3)
    time = c1.selectbox("Time column", [NONE] + columns, key=f"role_time_{tag}",
                        index=(columns.index(guess.time) + 1) if guess.time in columns else 0,
                        help="Set it for a time series: rows are sorted by it and results are drawn over time.")
    label = c2.selectbox("Label column", [NONE] + columns, key=f"role_label_{tag}",
                         index=(columns.index(guess.label) + 1) if guess.label in columns else 0,
                         help="Optional ground truth. With it the dashboard trains on normal rows only and measures "
                              "precision, recall and F1.")
    time = None if time == NONE else time
    label = None if label == NONE else label
    normal = None
    if label is not None:
        values = frame[label].dropna()
        counts = values.value_counts()
        if len(counts) == 0:
            c3.selectbox("Normal value", ["(column is empty)"], disabled=True, key=f"role_normal_empty_{tag}")
        elif len(counts) <= 50:
            options = list(counts.index)
            default = options.index(guess.normal_value) if (label == guess.label and guess.normal_value in options) else 0
            normal = c3.selectbox("Value meaning normal", options, index=default, key=f"role_normal_{tag}_{label}",
                                  format_func=lambda v: f"{v}  ({counts[v]:,} rows)",
                                  help="Every other value counts as an anomaly. By default the most frequent value.")
        else:
            normal = c3.text_input("Value meaning normal", value=str(counts.index[0]), key=f"role_normal_txt_{tag}_{label}",
                                   help="The column has many distinct values; type the one that means normal.")
    else:
        c3.selectbox("Value meaning normal", ["(no label column)"], disabled=True, key=f"role_normal_none_{tag}")
    numeric = [c for c in numeric_columns(frame) if c not in (time, label)]
    default_features = [c for c in (guess.features or numeric) if c in numeric] or numeric
    features = st.multiselect("Feature columns", [c for c in columns if c not in (time, label)],
                              default=default_features, key=f"role_features_{tag}_{time}_{label}",
                              help="The values the model looks at. Numeric columns only.",
                              placeholder="Choose the numeric columns to model")
    summary = _summary(loaded)
    missing = summary.loc[summary["column"].isin(features) & (summary["missing"] > 0)]
    options = {"missing": "error", "dayfirst": None}
    if len(missing) or (label is not None and frame[label].isna().any()):
        unparsed = frame.attrs.get(UNPARSED_CELLS, {})
        named = ", ".join(
            f"{c} ({n:,}" + (f", of which {unparsed[c]['count']:,} not numbers)" if c in unparsed else ")")
            for c, n in zip(missing["column"].astype(str).head(5), missing["missing"].head(5)))
        policies = list(MISSING_POLICIES)
        options["missing"] = st.selectbox(
            f"Missing or not-a-number values in {named or label}", policies, index=policies.index("drop"),
            format_func=lambda p: MISSING_POLICIES[p].capitalize(), key=f"opt_missing_{tag}",
            help="Rows without a label or a time are dropped whatever you choose. To leave a column out "
                 "instead, remove it from the feature columns.")
    if time is not None:
        options["dayfirst"] = _date_order_choice(frame[time], tag, time)
    return Roles(features=features or None, time=time, label=label, normal_value=normal), options


def _prepare(loaded: state.LoadedTable, roles: Roles, options: dict) -> None:
    key = (loaded.digest, tuple(roles.features or ()), roles.time, roles.label, str(roles.normal_value),
           options["missing"], options["dayfirst"])
    current = state.prepared()
    if roles.features is None:
        st.warning("Choose at least one numeric feature column.", icon=":material/warning:")
        st.session_state.pop(state.DATASET, None)
        return
    if current is not None and current.key == key:
        dataset = current.dataset
    else:
        dataset = None
        with friendly_errors("preparing the data"):
            with st.spinner("Checking the data…"):
                dataset = prepare(loaded.frame, roles, **options)
        if dataset is None:
            st.session_state.pop(state.DATASET, None)
            st.session_state.pop(state.RUN, None)
            return
        state.put(state.DATASET, state.PreparedData(dataset, key))
    for warning in dataset.warnings:
        st.caption(f":material/info: {plain(warning)}")  # warnings quote column names
    for doubt in dataset.doubts:
        st.warning(plain(doubt), icon=":material/warning:")
    parts = [f"**{count(dataset.n_rows, 'row')} × {count(len(dataset.feature_names), 'feature')}**"]
    if dataset.y is not None:
        n_anomalies = int(dataset.y.sum())
        parts.append(f"{n_anomalies:,} labelled anomalies ({n_anomalies / max(1, dataset.n_rows):.1%})")
    else:
        parts.append("no labels (scores and flags only; no precision/recall)")
    if dataset.is_series:
        parts.append(f"time series from {dataset.time.iloc[0]} to {dataset.time.iloc[-1]}")
    st.success("Ready: " + " · ".join(parts), icon=":material/check_circle:")
    if dataset.is_series:
        _time_axis_health(dataset, key)
    _column_fates(dataset)
    link("train", "Next: choose a method and train", icon=":material/arrow_forward:")


def _date_order_choice(times: pd.Series, tag: str, column: str) -> bool | None:
    """Ask whether dates like 02/01/2024 are day or month first, when the values cannot tell."""
    if _date_order(tag, column, times) != "ambiguous":
        return None
    choices = {"day": "Day first (02/01/2024 is 2 January)", "month": "Month first (02/01/2024 is 1 February)"}
    chosen = st.radio(f"Dates in '{column}' have no day above 12: which order are they in?", list(choices),
                      index=None, format_func=choices.get, horizontal=True, key=f"opt_dayfirst_{tag}_{column}")
    return None if chosen is None else chosen == "day"


@st.cache_data(max_entries=8, show_spinner=False)
def _date_order(tag: str, column: str, _times: pd.Series) -> str | None:
    """:func:`core.timeseries.date_order` once per table and column (``_times`` is not hashed)."""
    from core.timeseries import date_order

    try:
        return date_order(_times)
    except DataError:
        return None  # mixed orders: preparing the data explains it


_ROLE_LABELS = {"feature": "feature", "time": "time", "label": "label", "ignored": "not used"}


def _column_fates(dataset) -> None:
    """Every column of the file and what became of it, so that nothing is left out unseen."""
    fates = pd.DataFrame([{"column": f.column, "use": _ROLE_LABELS[f.role], "why": f.reason}
                          for f in dataset.column_fates])
    ignored = int((fates["use"] == "not used").sum()) if len(fates) else 0
    with st.expander(f"Every column's use: {count(len(dataset.feature_names), 'feature')}, {ignored} not used",
                     expanded=bool(ignored)):
        st.dataframe(fates, hide_index=True, width="stretch", key="data_column_fates")


def _time_axis_health(dataset, key) -> None:
    """Say whether the time axis is regular (gaps and duplicates change what a window means)."""
    cached = st.session_state.get("ad_series_report")
    if cached is None or cached[0] != key:
        from core.timeseries import series_report

        try:
            cached = (key, series_report(dataset.time))
        except Exception:  # a health note is a bonus; never block the page on it
            return
        st.session_state["ad_series_report"] = cached
    report = cached[1]
    if report.is_regular:
        step = f" {reading_interval(report.median_step)}" if report.median_step is not None else ""
        st.caption(f":material/schedule: Regular time axis: one reading{step}, no gaps or duplicates.")
    else:
        st.caption(f":material/schedule: Time axis: {report.summary()}")


def _quick_chart(loaded: state.LoadedTable) -> None:
    prepared = state.prepared()
    if prepared is None:
        return
    dataset = prepared.dataset
    st.subheader("Quick look")
    names = dataset.feature_names
    chosen = st.multiselect("Columns to plot", names, default=names[: min(3, len(names))],
                            key=f"chart_cols_{loaded.digest[:10]}_{len(names)}", max_selections=12)
    with friendly_errors("drawing the chart"):
        if not dataset.is_series and len(names) >= 20:
            # wide rows (a heartbeat, a spectrum) read best as curves: a normal and an abnormal example
            y = dataset.y
            normal = dataset.X[int(np.flatnonzero(y == 0)[0])] if y is not None and (y == 0).any() else dataset.X[0]
            abnormal = dataset.X[int(np.flatnonzero(y == 1)[0])] if y is not None and (y == 1).any() else None
            st.plotly_chart(charts.example_rows(normal, abnormal, names), width="stretch", key="data_examples")
        if dataset.is_series:
            fig = charts.series_preview(dataset.time, dataset.frame, chosen, dataset.y)
        else:
            # the histograms show a sample of the rows; taking it first copies that sample, not whole columns
            frame, y = dataset.frame[chosen], dataset.y
            if dataset.n_rows > QUICK_LOOK_ROWS:
                rows = np.sort(np.random.default_rng(0).choice(dataset.n_rows, QUICK_LOOK_ROWS, replace=False))
                frame, y = frame.iloc[rows], (y[rows] if y is not None else None)
            frame = frame.copy()
            label = None
            if y is not None:
                frame["class"] = np.where(y == 1, "anomaly", "normal")
                label = "class"
            fig = charts.distributions(frame, chosen, label, max_rows=QUICK_LOOK_ROWS)
        st.plotly_chart(fig, width="stretch", key="data_chart")
