"""Live page: score a stream with a trained or uploaded model and watch flags appear in real time.

A background thread (:class:`core.streaming.StreamRunner`) reads the source, scores micro-batches
and puts the results in a bounded, thread-safe queue. A fragment re-runs every refresh, drains
the whole queue at once into a bounded buffer and redraws a decimated chart, so the page keeps up
with thousands of records per second without redrawing per record or growing without bound.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from core.pipeline import DetectionPipeline
from dashboard import state
from dashboard.charts import ANOMALY, FLAGGED, THRESHOLD
from dashboard.compute import decimate
from dashboard.jobs import WATCHDOG, current_session_id
from dashboard.ui import OTHER_UPLOAD_LIMIT_MB, friendly_errors, plain

SESSION = "live_session"  # the running (or last) LiveSession of this browser session
BUFFER_POINTS = 20_000  # records kept for the chart
DRAWN_POINTS = 1_500  # points drawn per line (min/max decimation; flagged points always kept)
# Plain SVG traces, not WebGL: at this size SVG redraws faster, and browsers without a GPU render
# WebGL in software, which made the page fall behind at two refreshes a second.
QUEUE_SIZE = 200_000  # records waiting between the stream thread and the page
REFRESH_SECONDS = 0.5
SOURCES = ("Replay the current dataset", "MQTT topic", "Kafka topic", "Folder of CSV files")


class LiveBuffer:
    """The most recent scored records, errors and events, bounded in size (not thread-safe:
    only the page's thread touches it; the stream thread talks to the page through the queue)."""

    def __init__(self, feature_names, max_points: int = BUFFER_POINTS, shown_features: int = 8):
        self.features = list(feature_names)[:shown_features]
        self.seq = deque(maxlen=max_points)
        self.time = deque(maxlen=max_points)  # the record's time stamp when the source has one, else None
        self.score = deque(maxlen=max_points)
        self.flag = deque(maxlen=max_points)
        self.values = {name: deque(maxlen=max_points) for name in self.features}
        self.errors = deque(maxlen=20)
        self.events = deque(maxlen=100)

    def extend(self, records: list[dict]) -> None:
        for record in records:
            kind = record.get("type")
            if kind == "score":
                self.seq.append(record["seq"])
                self.time.append(record.get("time"))
                self.score.append(np.nan if record["score"] is None else record["score"])
                self.flag.append(bool(record["flag"]))
                values = record["values"]
                for name in self.features:
                    self.values[name].append(values.get(name, np.nan))
            elif kind == "error":
                self.errors.append(record)
            elif kind == "event":
                self.events.append(record)

    def arrays(self) -> dict:
        return {"seq": np.asarray(self.seq, dtype=float), "time": list(self.time),
                "score": np.asarray(self.score, dtype=float),
                "flag": np.asarray(self.flag, dtype=bool),
                "values": {k: np.asarray(v, dtype=float) for k, v in self.values.items()}}


@dataclass
class LiveSession:
    runner: object  # core.streaming.StreamRunner
    sink: object  # core.streaming.QueueSink
    buffer: LiveBuffer
    model_label: str
    source_label: str
    started: float = field(default_factory=time.time)


def live_figure(buffer: LiveBuffer, threshold: float, max_points: int = DRAWN_POINTS,
                feature: str | None = None) -> go.Figure:
    """One feature's values (top; default the first) and the scores with the threshold and flagged
    points (bottom), decimated. One feature at a time: features in different units would flatten
    each other on a shared axis."""
    data = buffer.arrays()
    chosen = feature if feature in data["values"] else next(iter(data["values"]), None)
    data["values"] = {chosen: data["values"][chosen]} if chosen is not None else {}
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.06, row_heights=[0.55, 0.45])
    axis_title = "record"
    if data["seq"].size:
        keep = decimate(np.nan_to_num(data["score"]), data["flag"], max_points)
        position = data["seq"]
        times = data["time"]
        if times and times[0] is not None and times[-1] is not None:  # the source's own time axis
            stamps = pd.to_datetime(pd.Series([times[i] for i in keep]), errors="coerce")
            if stamps.notna().all():
                position = np.full(data["seq"].size, np.datetime64("NaT"), dtype="datetime64[ns]")
                position[keep] = stamps.dt.tz_localize(None).to_numpy() if stamps.dt.tz is not None else stamps.to_numpy()
                axis_title = "time"
        x = position[keep]
        for name, values in data["values"].items():
            fig.add_trace(go.Scatter(x=x, y=values[keep], mode="lines", name=name, line={"width": 1}), row=1, col=1)
        fig.add_trace(go.Scatter(x=x, y=data["score"][keep], mode="lines", name="score",
                                   line={"color": "#374151", "width": 1}), row=2, col=1)
        flagged = keep[data["flag"][keep]]
        if flagged.size:
            fig.add_trace(go.Scatter(x=position[flagged], y=data["score"][flagged], mode="markers",
                                       name="flagged", marker={"color": ANOMALY, "size": 6}), row=2, col=1)
            first = next(iter(data["values"].values()), None)
            if first is not None:
                fig.add_trace(go.Scatter(x=position[flagged], y=first[flagged], mode="markers",
                                           name="flagged (values)", marker={"color": FLAGGED, "size": 6},
                                           showlegend=False), row=1, col=1)
    fig.add_hline(y=threshold, line={"color": THRESHOLD, "dash": "dash", "width": 1}, row=2, col=1)
    fig.update_layout(height=480, margin={"l": 10, "r": 10, "t": 30, "b": 10}, uirevision="live",
                      legend={"orientation": "h", "y": 1.06}, xaxis2_title=axis_title)
    fig.update_yaxes(title_text=chosen or "value", row=1, col=1)
    fig.update_yaxes(title_text="score", row=2, col=1)
    return fig


# -- choosing a model and a source ----------------------------------------------------------------
def _choose_model() -> tuple[DetectionPipeline | None, str]:
    run = state.run()
    options = (["Model trained in this session"] if run is not None else []) + ["Upload a model bundle"]
    choice = st.radio("Model", options, horizontal=True, key="live_model_choice")
    if choice == "Model trained in this session":
        pipeline = run.pipeline
        threshold = float(st.session_state.get(state.THRESHOLD, pipeline.threshold_))
        st.caption(f"{run.spec.label} on {plain(run.table_name)}; threshold {threshold:.6g}.")
        return pipeline, f"{run.spec.label} (this session)"
    upload = st.file_uploader("Model bundle", type=None, key="live_model_upload", max_upload_size=OTHER_UPLOAD_LIMIT_MB,
                              help="A bundle saved from the Export page or with `python -m core train`.")
    if upload is None:
        st.info("Upload a model bundle, or train a model on the Train page.", icon=":material/deployed_code:")
        return None, ""
    with friendly_errors("reading the model bundle") as outcome:
        pipeline = DetectionPipeline.from_bytes(upload.getvalue())
    if outcome.failed:
        return None, ""
    st.caption(f"{pipeline.spec.label}; features {plain(', '.join(map(str, pipeline.feature_names_[:8])))}; "
               f"threshold {pipeline.threshold_:.6g}.")
    return pipeline, f"{pipeline.spec.label} ({upload.name})"


def _replay_frame() -> pd.DataFrame | None:
    run, table = state.run(), state.table()
    if run is not None:
        return run.dataset.frame  # sorted by time when the data is a series
    return table.frame if table is not None else None


def _time_column(frame: pd.DataFrame) -> str | None:
    """The dataset's time column (shown with flagged events), when one is set."""
    run = state.run()
    if run is None or run.dataset.frame is not frame or run.dataset.roles.time is None:
        return None
    from core.data import resolve_column

    try:
        return resolve_column(frame, run.dataset.roles.time)
    except Exception:
        return None


def missing_features(pipeline: DetectionPipeline, frame: pd.DataFrame) -> list:
    """The model's features that ``frame`` has no column for (every record would be malformed)."""
    columns = {str(c) for c in frame.columns}
    return [name for name in pipeline.feature_names_ if str(name) not in columns]


def _expected_fields(pipeline: DetectionPipeline) -> None:
    names = list(map(str, pipeline.feature_names_))
    st.caption(f":material/info: Each message must carry the model's {len(names):,} feature field(s): "
               f"{plain(', '.join(names[:8]))}{' …' if len(names) > 8 else ''}; a message without one is "
               "counted as malformed.")


def _choose_source(pipeline: DetectionPipeline):
    """The source settings as a function that builds the source, plus a label."""
    from core.streaming import make_source
    from core.streaming.sources import KafkaSource, MQTTSource, ReplaySource

    kind = st.selectbox("Source", SOURCES, key="live_source")
    if kind == SOURCES[0]:
        frame = _replay_frame()
        if frame is None:
            st.info("Load a table on the Data page to replay it, or choose another source.", icon=":material/table:")
            return None, ""
        missing = missing_features(pipeline, frame)
        if missing:
            st.error(f"The model needs {len(missing):,} column(s) this table lacks: "
                     f"{plain(', '.join(map(str, missing[:8])))}{' …' if len(missing) > 8 else ''}. Load the data "
                     "the model was trained on, or a model trained on this table.", icon=":material/error:")
            return None, ""
        c1, c2 = st.columns(2)
        rate = c1.number_input("Records per second", 1, 100_000, 200, step=100, key="live_rate")
        loop = c2.checkbox("Loop at the end", value=False, key="live_loop")
        source = (lambda: ReplaySource(frame, rate=float(rate), loop=loop))
        source.time_field = _time_column(frame)
        return source, f"replay at {rate:,} records/s"
    if kind == SOURCES[1]:
        c1, c2, c3 = st.columns([2, 1, 2])
        host = c1.text_input("Broker host", "127.0.0.1", key="live_mqtt_host")
        port = c2.number_input("Port", 1, 65535, 1883, key="live_mqtt_port")
        topic = c3.text_input("Topic", "sensors/#", key="live_mqtt_topic")
        _expected_fields(pipeline)
        return (lambda: MQTTSource(host, int(port), topic)), f"mqtt://{host}:{port}/{topic}"
    if kind == SOURCES[2]:
        c1, c2, c3 = st.columns([2, 2, 1])
        bootstrap = c1.text_input("Bootstrap server", "127.0.0.1:9092", key="live_kafka_bootstrap")
        topic = c2.text_input("Topic", "sensor", key="live_kafka_topic")
        offset = c3.selectbox("Start at", ("latest", "earliest"), key="live_kafka_offset")
        _expected_fields(pipeline)
        return (lambda: KafkaSource(bootstrap, topic, group_id=None, offset=offset)), f"kafka {bootstrap}/{topic}"
    folder = st.text_input("Folder to watch", key="live_folder", help="New CSV files landing here are scored (Spark).")
    if not folder:
        return None, ""
    return (lambda: make_source(f"folder:{folder}")), f"folder {folder}"


def _start(pipeline: DetectionPipeline, make, model_label: str, source_label: str) -> None:
    from core.streaming import QueueSink, StreamRunner

    run = state.run()
    threshold = st.session_state.get(state.THRESHOLD) if run is not None and pipeline is run.pipeline else None
    if threshold is not None and float(threshold) != pipeline.threshold_:
        # The threshold chosen on the Results page applies here too; the trained model stays unchanged.
        pipeline = DetectionPipeline.from_bytes(pipeline.to_bytes()).set_threshold(float(threshold))
    sink = QueueSink(maxsize=QUEUE_SIZE)
    runner = StreamRunner(pipeline, make(), sink, time_field=getattr(make, "time_field", None)).start()
    # The stream belongs to this browser session: it stops when the session ends (tab closed or reloaded).
    WATCHDOG.watch(current_session_id(), f"live stream ({source_label})", lambda: runner.stop(wait=5),
                   lambda: runner.running)
    st.session_state[SESSION] = LiveSession(runner, sink, LiveBuffer(pipeline.feature_names_), model_label, source_label)


def _stop() -> None:
    session = st.session_state.get(SESSION)
    if session is not None:
        session.runner.stop(wait=5)


# -- the live view ---------------------------------------------------------------------------------
def _latency(milliseconds: float | None) -> str:
    """A latency short enough for a metric card: ``8.3 ms``, ``257 ms``, ``10.9 s``, ``3.2 min``."""
    if milliseconds is None:
        return "-"
    if milliseconds < 100:
        return f"{milliseconds:.1f} ms"
    if milliseconds < 1000:
        return f"{milliseconds:.0f} ms"
    if milliseconds < 60_000:
        return f"{milliseconds / 1000:.1f} s"
    return f"{milliseconds / 60_000:.1f} min"


def _counters(stats: dict, not_drawn: int) -> None:
    """Rates, then the accounting of every received record: scored + warm-up + malformed + dropped."""
    c = st.columns(4)
    c[0].metric("Records/s", f"{stats['records_per_s']:,.0f}")
    c[1].metric("Anomalies", f"{stats['anomalies']:,}")
    c[2].metric("Latency p95", _latency(stats["latency_ms_p95"]),
                help="95% of the records were scored within this time of arriving.")
    c[3].metric("Dropped by the page", f"{not_drawn:,}",
                help="Scored records the page could not draw in time (the oldest go first); the counters "
                     "include them.")
    c = st.columns(6)
    c[0].metric("Received", f"{stats['received']:,}", help="Records taken from the source; each is exactly one "
                "of scored, warm-up, malformed or dropped.")
    c[1].metric("Scored", f"{stats['scored']:,}")
    c[2].metric("Warm-up", f"{stats['warmup']:,}", help="Read by a window model that has no score for them yet.")
    c[3].metric("Malformed", f"{stats['malformed']:,}", help="Unreadable records, listed below with the reason.")
    c[4].metric("Dropped", f"{stats['dropped']:,}", help="Received but not scored, for the reason shown below.")
    c[5].metric("Duplicates", f"{stats['duplicates']:,}", help="Records delivered again (same id), not scored "
                "twice; part of Dropped.")
    if stats["dropped"]:
        reasons = ", ".join(f"{count:,} {reason}" for reason, count in sorted(stats["dropped_by_reason"].items()))
        st.caption(f"Dropped: {reasons}.")


def _panel() -> None:
    session: LiveSession | None = st.session_state.get(SESSION)
    if session is None:
        return
    session.buffer.extend(session.sink.drain())  # the whole backlog at once, never one record per rerun
    stats = session.runner.stats.snapshot()
    running = session.runner.running
    status = "running" if running else ("stopped with an error" if stats["error"] else "finished")
    st.caption(f"{plain(session.model_label)} · {plain(session.source_label)} · {status}")
    if stats["error"]:
        st.error(f"The stream stopped: {plain(stats['error'])}", icon=":material/error:")
    _counters(stats, session.sink.dropped)
    threshold = session.runner.scorer.threshold
    feature = st.session_state.get("live_feature")
    st.plotly_chart(live_figure(session.buffer, threshold, feature=feature), key="live_chart", width="stretch")
    left, right = st.columns(2)
    with left:
        st.markdown("**Flagged events** (newest first)")
        if session.buffer.events:
            events = pd.DataFrame(list(session.buffer.events)[::-1])
            columns = ["start_seq", "end_seq", "length", "peak_score"]
            if events["start_time"].notna().any():  # times say more than record numbers, and fit
                columns = ["start_time", "end_time", "length", "peak_score"]
            st.dataframe(events[columns], hide_index=True, height=200, key="live_events")
        else:
            st.caption("None yet.")
    with right:
        st.markdown("**Malformed records** (latest)")
        if session.buffer.errors:
            errors = pd.DataFrame(list(session.buffer.errors)[::-1])[["seq", "error", "raw"]]
            st.dataframe(errors, hide_index=True, height=200, key="live_errors")
        else:
            st.caption("None.")


def render() -> None:
    st.title("Live")
    st.caption("Score records as they arrive: a replay of the loaded data, an MQTT or Kafka topic, or CSV files "
               "landing in a folder.")
    session: LiveSession | None = st.session_state.get(SESSION)
    running = session is not None and session.runner.running
    pipeline, model_label = _choose_model()
    make, source_label = (None, "")
    if pipeline is not None:
        make, source_label = _choose_source(pipeline)
    c1, c2, _ = st.columns([1, 1, 4])
    if c1.button("Start", type="primary", disabled=running or make is None, key="live_start",
                 icon=":material/play_arrow:"):
        with friendly_errors("starting the stream") as outcome:
            _start(pipeline, make, model_label, source_label)
        if not outcome.failed:
            st.rerun()  # draw the buttons again: Start disabled while the stream runs
    if c2.button("Stop", disabled=not running, key="live_stop", icon=":material/stop:"):
        _stop()
        st.rerun()
    st.divider()
    session = st.session_state.get(SESSION)
    if session is not None and len(session.buffer.features) > 1:
        st.selectbox("Feature drawn", session.buffer.features, key="live_feature")

    @st.fragment(run_every=REFRESH_SECONDS if running else None)
    def live_panel():
        _panel()
        current = st.session_state.get(SESSION)
        if current is not None and not current.runner.running and running:
            st.rerun()  # the stream ended: refresh the buttons once

    live_panel()
