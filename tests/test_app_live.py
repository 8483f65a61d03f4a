"""Live page: start a replay of the loaded data with the trained model, watch counters, stop; bundles."""

import time

import numpy as np
import pandas as pd

from core.pipeline import DetectionPipeline
from dashboard.live import SESSION, LiveBuffer, live_figure
from tests.app_support import csv_bytes, labelled_rows, no_crash, start, train, upload

LIVE = "../pages/live.py"


def _metric(at, label):
    return next(m.value for m in at.metric if m.label == label)


def _live_page_with_bundle(frame, pipeline):
    """The Live page, ``frame`` loaded as the table, ``pipeline`` uploaded as the model bundle."""
    at = upload(start(), "rows.csv", csv_bytes(frame))
    at.switch_page(LIVE).run()
    at.file_uploader(key="live_model_upload").set_value(("m.adbundle", pipeline.to_bytes(), "application/zip"))
    return at.run()


def _zscore_bundle(frame):
    return DetectionPipeline("zscore").fit(frame.loc[frame.label == 0, ["a", "b"]].to_numpy(), feature_names=["a", "b"])


def test_without_data_or_model_the_page_explains():
    at = start()
    at.switch_page(LIVE).run()
    no_crash(at)
    assert any("Upload a model bundle" in i.value for i in at.info)
    assert at.button(key="live_start").disabled


def test_replay_of_the_current_dataset_with_the_trained_model():
    at = upload(start(), "rows.csv", csv_bytes(labelled_rows(400)))
    at = train(at, "statistical", "zscore")
    at.switch_page(LIVE).run()
    no_crash(at)
    at.number_input(key="live_rate").set_value(2000).run()
    at.button(key="live_start").click().run()
    no_crash(at)
    session = at.session_state[SESSION]
    deadline = time.time() + 20
    while session.runner.running and time.time() < deadline:
        time.sleep(0.1)
    at.run()
    no_crash(at)
    assert _metric(at, "Received") == "400" and _metric(at, "Scored") == "400"
    run = at.session_state["ad_run"]
    expected = int((run.scores > run.threshold).sum())
    assert _metric(at, "Anomalies") == f"{expected:,}"
    assert _metric(at, "Malformed") == "0" and _metric(at, "Dropped") == "0" and _metric(at, "Duplicates") == "0"
    assert len(session.buffer.seq) == 400
    assert at.button(key="live_stop").disabled


def test_uploaded_bundle_and_stop_while_running():
    frame = labelled_rows(300)
    at = _live_page_with_bundle(frame, _zscore_bundle(frame))
    at.number_input(key="live_rate").set_value(50).run()
    at.checkbox(key="live_loop").check().run()
    at.button(key="live_start").click().run()
    time.sleep(0.5)
    at.run()
    session = at.session_state[SESSION]
    assert session.runner.running and not at.button(key="live_stop").disabled
    at.button(key="live_stop").click().run()
    no_crash(at)
    assert not session.runner.running
    assert at.session_state[SESSION].runner.stats.received > 0


def test_buffer_is_bounded_and_the_chart_is_decimated_at_high_rates():
    buffer = LiveBuffer(["a", "b"], max_points=5000)
    rng = np.random.default_rng(0)
    for start_seq in range(0, 60_000, 1000):  # 60 refreshes of 1,000 records
        scores = rng.random(1000)
        buffer.extend([{"type": "score", "seq": start_seq + i, "score": float(s), "flag": int(s > 0.999),
                        "values": {"a": float(s), "b": 1.0}} for i, s in enumerate(scores)])
    buffer.extend([{"type": "error", "seq": -1, "error": "bad", "raw": "x"}] * 50)
    assert len(buffer.seq) == 5000 and len(buffer.errors) == 20
    figure = live_figure(buffer, threshold=0.999, max_points=500)
    drawn = max(len(trace.x) for trace in figure.data)
    assert drawn < 1500
    flagged = [t for t in figure.data if t.name == "flagged"][0]
    assert len(flagged.x) == int(np.asarray(buffer.flag).sum())  # flagged points are never dropped
    started = time.perf_counter()
    live_figure(buffer, threshold=0.999)
    assert time.perf_counter() - started < 0.5


def test_series_replay_reports_events_with_their_times():
    n = 300
    frame = pd.DataFrame({"timestamp": pd.date_range("2026-01-01", periods=n, freq="min").astype(str),
                          "value": np.sin(np.arange(n) / 10)})
    frame.loc[150, "value"] = 5.0
    at = upload(start(), "series.csv", csv_bytes(frame))
    at = train(at, "statistical", "zscore")
    at.switch_page(LIVE).run()
    at.number_input(key="live_rate").set_value(5000).run()
    at.button(key="live_start").click().run()
    session = at.session_state[SESSION]
    deadline = time.time() + 20
    while session.runner.running and time.time() < deadline:
        time.sleep(0.1)
    at.run()
    no_crash(at)
    event = next(e for e in session.buffer.events if e["start_seq"] == 150)
    assert event["start_time"] == "2026-01-01 02:30:00"
    assert any("start_time" in str(frame_element.value.columns.tolist()) for frame_element in at.dataframe)


def test_a_model_that_does_not_fit_the_replayed_table_is_refused_before_start():
    pipeline = DetectionPipeline("zscore").fit(np.random.default_rng(0).normal(size=(100, 1)),
                                               feature_names=["value"])
    at = _live_page_with_bundle(labelled_rows(300), pipeline)
    no_crash(at)
    assert any("lacks: value" in e.value for e in at.error)
    assert at.button(key="live_start").disabled


def test_start_is_disabled_while_the_stream_runs():
    frame = labelled_rows(300)
    at = _live_page_with_bundle(frame, _zscore_bundle(frame))
    at.number_input(key="live_rate").set_value(20).run()
    at.checkbox(key="live_loop").check().run()
    at.button(key="live_start").click().run()
    no_crash(at)
    try:
        assert at.session_state[SESSION].runner.running
        assert at.button(key="live_start").disabled and not at.button(key="live_stop").disabled
    finally:
        at.button(key="live_stop").click().run()
    assert not at.button(key="live_start").disabled


def test_live_chart_uses_the_source_time_and_latency_fits_its_card():
    from dashboard.live import _latency

    buffer = LiveBuffer(["a"])
    times = pd.date_range("2024-03-01", periods=50, freq="min")
    buffer.extend([{"type": "score", "seq": i, "time": str(t), "score": float(i), "flag": i > 45,
                    "values": {"a": 1.0}} for i, t in enumerate(times)])
    fig = live_figure(buffer, 40.0)
    assert fig.layout.xaxis2.title.text == "time"
    assert pd.Timestamp(fig.data[0].x[0]) == times[0]
    assert [_latency(v) for v in (8.31, 257.2, 10924.3, 200_000)] == ["8.3 ms", "257 ms", "10.9 s", "3.3 min"]
