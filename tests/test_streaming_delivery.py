"""Streams lose nothing: every received record is scored, malformed or dropped with a reason, and
at-least-once sources (MQTT through a restarted Mosquitto, Kafka through Tansu, a folder with files
still being written) deliver every record across restarts, duplicates counted."""

import json
import threading

import numpy as np
import pytest

from core.errors import DataError
from core.pipeline import DetectionPipeline
from core.streaming import QueueSink, StreamRunner
from core.streaming.runner import DUPLICATE, NOT_WRITTEN, summary_line
from core.streaming.sinks import Sink
from core.streaming.sources import IterableSource
from tests.test_streaming import FEATURES

TERMS = ("scored", "warmup", "malformed", "dropped")


@pytest.fixture(scope="module")
def model():
    rng = np.random.default_rng(0)
    X = rng.normal([20.0, 1000.0], [1.0, 5.0], size=(2000, 2))
    return DetectionPipeline("zscore").fit(X, feature_names=FEATURES)


def message(record_id, temperature=20.0, pressure=1000.0) -> str:
    return json.dumps({"id": record_id, "temperature": temperature, "pressure": pressure})


def assert_accounted(stats):
    assert stats["received"] == sum(stats[term] for term in TERMS), stats
    assert stats["dropped"] == sum(stats["dropped_by_reason"].values())


def by_type(records):
    kinds = {}
    for record in records:
        kinds.setdefault(record["type"], []).append(record)
    return kinds


# -- accounting ------------------------------------------------------------------------------------
def test_every_received_record_is_scored_malformed_or_dropped_and_the_output_says_which(model):
    messages = [message(i) for i in range(10)]
    messages += [message(3), message(7, temperature=40.0)]          # redelivered: same ids
    messages += ["{broken", json.dumps({"id": 11, "temperature": "hot", "pressure": 1.0})]
    messages += [json.dumps({"id": 11, "temperature": "hot", "pressure": 1.0})]  # a malformed one again
    messages += [message(i) for i in range(12, 20)]                 # beyond max_records: stays at the source
    sink = QueueSink()
    taken = []
    runner = StreamRunner(model, IterableSource(messages, batch=5), sink, id_field="id", max_records=17)
    original = runner.handle
    runner.handle = lambda items, arrived: taken.append(original(items, arrived)) or taken[-1]
    stats = runner.run()

    assert stats["received"] == 17 and sum(taken) == 17        # the last batch was cut at max_records
    assert stats["scored"] == 12 and stats["malformed"] == 2 and stats["warmup"] == 0
    assert stats["dropped_by_reason"] == {DUPLICATE: 3} and stats["duplicates"] == 3
    assert_accounted(stats)
    out = by_type(sink.drain())
    assert len(out["score"]) == stats["scored"] and len(out["error"]) == stats["malformed"]
    assert [(r["seq"], r["id"], r["reason"]) for r in out["dropped"]] == [(10, 3, DUPLICATE), (11, 7, DUPLICATE),
                                                                          (14, 11, DUPLICATE)]
    assert sorted(r["id"] for r in out["score"]) == [*range(10), 12, 13]
    assert [r["id"] for r in out["error"]] == [None, 11]
    line = summary_line(stats)
    assert "17 received = 12 scored + 0 warm-up + 2 malformed + 3 dropped (3 duplicate)" in line
    assert "3 duplicates" in line


class FailingSink(Sink):
    """Writes the first ``good`` batches, then fails like a sink whose server went away."""

    def __init__(self, good: int):
        self.good, self.written = good, []

    def write(self, records):
        if self.good == 0:
            raise DataError("the sink's server went away")
        self.good -= 1
        self.written.extend(records)


def test_a_batch_a_sink_refuses_is_counted_as_not_written_and_the_summary_is_still_shown(model, capsys):
    from core.streaming import run_stream

    messages = [message(i) for i in range(12)]
    sink = FailingSink(good=2)
    with pytest.raises(DataError, match="went away"):
        run_stream(model, IterableSource(messages, batch=5), [sink], id_field="id")
    err = capsys.readouterr().err
    assert (f"12 received = 10 scored + 0 warm-up + 0 malformed + 2 dropped (2 {NOT_WRITTEN})" in err
            and "error: the sink's server went away" in err), err
    assert len(sink.written) == 10
