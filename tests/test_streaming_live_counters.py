"""The Live page's counters account for every received record and name the reasons for drops."""

from streamlit.testing.v1 import AppTest


def _page():
    from core.streaming.runner import DUPLICATE, NOT_WRITTEN, StreamStats
    from dashboard.live import _counters

    stats = StreamStats()
    stats.add_batch(received=20, scored=12, warmup=2, malformed=1, anomalies=3, dropped={DUPLICATE: 4})
    stats.add_batch(received=5, dropped={NOT_WRITTEN: 5})
    _counters(stats.snapshot(), not_drawn=7)


def test_live_counters_show_every_term_and_the_reasons_for_drops():
    at = AppTest.from_function(_page, default_timeout=60).run()  # the first run imports plotly and the page
    assert not at.exception
    shown = {metric.label: metric.value for metric in at.metric}
    assert {k: shown[k] for k in ("Received", "Scored", "Warm-up", "Malformed", "Dropped", "Duplicates")} == {
        "Received": "25", "Scored": "12", "Warm-up": "2", "Malformed": "1", "Dropped": "9", "Duplicates": "4"}
    assert shown["Anomalies"] == "3" and shown["Dropped by the page"] == "7"
    caption = " ".join(c.value for c in at.caption)
    assert "4 duplicate" in caption and "5 not written" in caption
