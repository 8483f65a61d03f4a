"""Streams lose nothing: every received record is scored, malformed or dropped with a reason, and
at-least-once sources (MQTT through a restarted Mosquitto, Kafka through Tansu, a folder with files
still being written) deliver every record across restarts, duplicates counted."""

import getpass
import json
import os
import shutil
import subprocess
import threading
import time
from collections import Counter

import numpy as np
import pytest

from core.errors import DataError
from core.pipeline import DetectionPipeline
from core.streaming import QueueSink, StreamRunner
from core.streaming.runner import DUPLICATE, NOT_WRITTEN, summary_line
from core.streaming.sinks import CallbackSink, Sink
from core.streaming.sources import IterableSource
from tests.test_streaming import FEATURES, free_port, kafka_broker, wait_for_port, wait_until  # noqa: F401

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


def test_duplicates_in_a_table_replay_are_recognised_and_records_without_an_id_never_are(model):
    import pandas as pd

    from core.streaming import ReplaySource

    frame = pd.DataFrame({"id": pd.array([1, 2, 2, None, None], dtype="Int64"), "temperature": [20.0] * 5,
                          "pressure": [1000.0, 1000.0, 1000.0, 1000.0, "x"]})
    sink = QueueSink()
    stats = StreamRunner(model, ReplaySource(frame), sink, id_field="id").run()
    assert (stats["received"], stats["scored"], stats["malformed"], stats["duplicates"]) == (5, 3, 1, 1)
    assert_accounted(stats)
    assert [(r["type"], r["id"]) for r in sink.drain()] == [("score", 1), ("score", 2), ("dropped", 2),
                                                             ("score", None), ("error", None)]


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


# -- MQTT: a persistent session survives a broker restart and a stream restart ---------------------
class Mosquitto:
    """A Mosquitto on a loopback port that keeps its sessions and messages on disk across restarts."""

    def __init__(self, folder):
        self.port = free_port()
        store = folder / "store"
        store.mkdir()
        # max_queued_messages 0: no limit on what the broker keeps for a stream while it is away (the
        # default, 1000, makes the broker itself discard the rest). user: started as root, Mosquitto
        # would switch to its own user, which cannot write its persistence file in this folder.
        self.config = folder / "mosquitto.conf"
        self.config.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
                               f"persistence_location {store}/\nmax_queued_messages 0\nuser {getpass.getuser()}\n")
        self.process = None

    def start(self):
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        assert os.path.exists(binary), "mosquitto is missing: run scripts/setup_system.sh"
        self.process = subprocess.Popen([binary, "-c", str(self.config)], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        wait_for_port(self.port, self.process)

    def stop(self):
        self.process.terminate()  # SIGTERM: Mosquitto writes its persistence file before exiting
        self.process.wait(10)


class RetryingPublisher(threading.Thread):
    """Publishes every message with QoS 1 until the broker acknowledges it, across broker restarts.

    A message whose acknowledgement is lost in a restart is published again: the broker may then hold
    it twice, which the stream must count as a duplicate."""

    def __init__(self, port, topic, messages, window=50):
        super().__init__(daemon=True)
        from core.streaming.sources import connect_mqtt

        self.client = connect_mqtt("127.0.0.1", port, client_id="delivery-test-publisher", session_expiry=600,
                                   reconnect_delay=(0.1, 1.0))
        self.topic, self.messages, self.window = topic, messages, window
        self.resent = 0
        self.done = threading.Event()

    @staticmethod
    def _acknowledged(info) -> bool:
        try:
            return info.is_published()
        except (RuntimeError, ValueError):  # published while disconnected: not acknowledged yet
            return False

    def run(self):
        pending = list(self.messages)
        while pending:
            if not wait_until(self.client.is_connected, 30):
                return
            window, pending = pending[:self.window], pending[self.window:]
            infos = [(payload, self.client.publish(self.topic, payload, qos=1)) for payload in window]
            deadline = time.time() + 3
            for _, info in infos:
                try:
                    info.wait_for_publish(max(deadline - time.time(), 0.01))
                except (RuntimeError, ValueError):
                    pass
            failed = [payload for payload, info in infos if not self._acknowledged(info)]
            self.resent += len(failed)
            pending = failed + pending
        self.done.set()

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


class SlowSink(Sink):
    """Keeps every record and takes a little time per batch, so messages are in flight when the broker
    or the stream stops."""

    def __init__(self):
        self.records = []

    def write(self, records):
        time.sleep(0.005)
        self.records.extend(records)


def test_mqtt_loses_nothing_across_a_broker_restart_and_a_stream_restart(model, tmp_path):
    from core.streaming.sources import MQTTSource

    valid, malformed = 1000, 100
    messages = [message(i, temperature=20.0 + (i % 7) / 10) for i in range(valid)]
    messages += [json.dumps({"id": f"bad-{i}", "temperature": "hot", "pressure": 1.0}) for i in range(malformed)]
    rng = np.random.default_rng(2)
    messages = [messages[i] for i in rng.permutation(len(messages))]
    broker = Mosquitto(tmp_path)
    broker.start()
    runners, sinks, publisher = [], [], None
    try:
        def start_stream():
            sink = SlowSink()
            source = MQTTSource("127.0.0.1", broker.port, "plant/readings", reconnect_delay=(0.1, 1.0))
            runner = StreamRunner(model, source, sink, id_field="id").start()
            assert wait_until(source.subscribed.is_set, 15)
            runners.append(runner)
            sinks.append(sink)
            return runner

        first = start_stream()
        publisher = RetryingPublisher(broker.port, "plant/readings", messages)
        publisher.start()
        assert wait_until(lambda: first.stats.received >= 300, 30), first.stats.snapshot()
        broker.stop()  # mid-stream: messages queued for the stream, others in flight, the publisher waiting
        time.sleep(0.5)
        broker.start()
        assert wait_until(lambda: first.stats.received >= 700, 30), first.stats.snapshot()
        first.stop()  # the stream goes away mid-stream; a new one with the same client id takes over
        assert first.source.client is None and first.stats.error is None
        second = start_stream()
        assert publisher.done.wait(60)

        def everything_seen():
            ids = {r.get("id") for sink in sinks for r in sink.records if r["type"] in ("score", "error")}
            return len(ids) == valid + malformed

        assert wait_until(everything_seen, 60), [r.stats.snapshot() for r in runners]
        time.sleep(0.5)  # anything still in flight arrives, and is counted
        second.stop()
    finally:
        for runner in runners:
            runner.stop()
        if publisher is not None:
            publisher.close()
        broker.stop()

    scored = [r["id"] for sink in sinks for r in sink.records if r["type"] == "score"]
    errors = [r["id"] for sink in sinks for r in sink.records if r["type"] == "error"]
    dropped = [r for sink in sinks for r in sink.records if r["type"] == "dropped"]
    assert set(scored) == set(range(valid)) and set(errors) == {f"bad-{i}" for i in range(malformed)}
    for runner, sink in zip(runners, sinks):
        stats = runner.stats.snapshot()
        assert_accounted(stats)
        out = by_type(sink.records)
        assert stats["scored"] == len(out.get("score", [])) and stats["malformed"] == len(out.get("error", []))
        assert stats["duplicates"] == len(out.get("dropped", []))
    # Within one stream a redelivered record is dropped as a duplicate, never written twice; only a
    # record delivered to both streams (its acknowledgement lost when the first stopped) is.
    for sink in sinks:
        written = Counter(r["id"] for r in sink.records if r["type"] in ("score", "error"))
        assert max(written.values()) == 1
    assert all(r["reason"] == DUPLICATE for r in dropped)
    assert runners[0].source.connections >= 2  # the first stream did lose its broker and come back
    print(f"resent by the publisher: {publisher.resent}; per stream: {[r.stats.snapshot() for r in runners]}")


def test_mqtt_sink_refuses_a_batch_the_broker_did_not_acknowledge(tmp_path):
    from core.streaming.sinks import MQTTSink

    broker = Mosquitto(tmp_path)
    broker.start()
    sink = MQTTSink("127.0.0.1", broker.port, "plant/scores", qos=1, timeout=1.0)
    try:
        sink.write([{"type": "score", "seq": 0}])  # acknowledged: returns
        broker.stop()
        with pytest.raises(DataError, match="did not acknowledge"):
            sink.write([{"type": "score", "seq": 1}])
    finally:
        sink.close()
        if broker.process.poll() is None:
            broker.stop()


# -- Kafka: offsets are committed only after the sinks have written ---------------------------------
def test_kafka_stream_stopped_and_failed_mid_way_resumes_without_losing_a_record(model, kafka_broker):
    from kafka import KafkaProducer
    from kafka.admin import KafkaAdminClient, NewTopic

    from core.streaming.sources import KafkaSource

    admin = KafkaAdminClient(bootstrap_servers=kafka_broker)
    admin.create_topics([NewTopic("delivery", 2, 1)])
    admin.close()
    valid, malformed = 300, 30
    producer = KafkaProducer(bootstrap_servers=kafka_broker)
    for i in range(valid):
        producer.send("delivery", message(i).encode())
    for i in range(malformed):
        producer.send("delivery", json.dumps({"id": f"bad-{i}", "temperature": None, "pressure": 1}).encode())
    producer.flush()
    producer.close()

    def source():
        # Tansu answers a group join after half the session timeout: a short one keeps each restart at 1 s.
        return KafkaSource(kafka_broker, "delivery", group_id="delivery-test", offset="earliest", max_batch=100,
                           session_timeout_ms=2000, heartbeat_interval_ms=500)

    def committed() -> int:
        admin = KafkaAdminClient(bootstrap_servers=kafka_broker)
        try:
            return sum(o.offset for o in admin.list_group_offsets("delivery-test")["delivery-test"].values())
        finally:
            admin.close()

    # 1. stops at max_records in the middle of a polled batch: the rest of that batch is not committed
    first = QueueSink()
    first_stats = StreamRunner(model, source(), first, id_field="id", max_records=130, timeout=60).run()
    assert first_stats["received"] == 130 and committed() == 130
    # 2. a sink fails after one batch: that batch is committed, the failed one is not
    failing = FailingSink(good=1)
    second = StreamRunner(model, source(), failing, id_field="id", timeout=60)
    with pytest.raises(DataError, match="went away"):
        second.run()
    second_stats = second.stats.snapshot()
    assert second_stats["dropped_by_reason"].get(NOT_WRITTEN, 0) > 0
    assert committed() == 130 + len(failing.written)
    # 3. a healthy stream reads what is left
    third = QueueSink()
    collected = []
    runner = StreamRunner(model, source(), [third, CallbackSink(collected.extend)], id_field="id",
                          timeout=60).start()
    written = first.drain() + failing.written
    total = valid + malformed
    assert wait_until(lambda: len({r["id"] for r in written + collected if r["type"] in ("score", "error")})
                      >= total, 60), runner.stats.snapshot()
    time.sleep(0.5)  # anything delivered again arrives now, and is counted
    runner.stop()
    written += third.drain()
    for stats in (first_stats, second_stats, runner.stats.snapshot()):
        assert_accounted(stats)
    out = by_type(written)
    assert {r["id"] for r in out["score"]} == set(range(valid))
    assert {r["id"] for r in out["error"]} == {f"bad-{i}" for i in range(malformed)}
    assert committed() == total
    # Exactly once here, unless the group rebalanced (a heartbeat missed on a loaded machine): then
    # the third stream counts what it saw again as duplicates, and nothing else is written twice.
    duplicates = runner.stats.snapshot()["duplicates"]
    assert len(out["score"]) + len(out["error"]) == total and len(out.get("dropped", [])) == duplicates


# -- folder: only complete files are read ------------------------------------------------------------
def test_a_file_is_complete_once_its_name_is_final_and_it_stopped_changing(tmp_path):
    from core.streaming.sources import SettledFiles, has_final_name

    for name in (".a.csv", "_a.csv", "a.csv.partial", "a.csv.tmp", "a.CSV.PART", "a.txt"):
        assert not has_final_name(name, "*.csv"), name
    assert has_final_name("a.csv", "*.csv")
    files = SettledFiles(tmp_path, "*.csv", settle_seconds=1.0)
    growing = tmp_path / "growing.csv"
    growing.write_text("a,b\n")
    (tmp_path / "hidden.csv.partial").write_text("a,b\n1,2\n")
    assert files.poll(now=0.0) == []
    growing.write_text("a,b\n1,2\n")  # a later piece
    assert files.poll(now=0.9) == []
    assert files.poll(now=1.5) == []   # changed at 0.9: not settled yet
    ready = files.poll(now=2.0)
    assert [version[:2] for version in ready] == [("growing.csv", 8)]
    files.done.update(ready)
    assert files.poll(now=5.0) == []   # handed over once
    with open(growing, "a") as handle:  # written again later: a new version, read again once settled
        handle.write("3,4\n")
    assert files.poll(now=6.0) == [] and [v[:2] for v in files.poll(now=7.5)] == [("growing.csv", 12)]
