"""Where scored records go: stdout, a CSV file, an MQTT or Kafka topic, or this process.

Every sink takes a list of output records (dicts, see :mod:`core.streaming.runner`) per
micro-batch: ``type`` is ``"score"`` (one per readable record), ``"error"`` (a malformed record),
``"dropped"`` (a record not scored, with the reason) or ``"event"`` (a run of flagged records that
has ended). ``write`` returns only once the records are safely out (flushed, acknowledged by the
broker) and raises :class:`DataError` otherwise, so the source does not acknowledge what was lost.
"""

from __future__ import annotations

import csv
import json
import queue
import sys
import threading
import time
from pathlib import Path

from ..errors import DataError
from ..export import escape_cell


def _json(record: dict) -> str:
    return json.dumps(record, default=str)


class Sink:
    """Base class: ``write(records)`` once per micro-batch, ``close()`` at the end."""

    def write(self, records: list[dict]) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def close(self) -> None:
        pass


class StdoutSink(Sink):
    """JSON lines on a text stream (stdout by default)."""

    def __init__(self, stream=None):
        self.stream = stream

    def write(self, records):
        stream = self.stream or sys.stdout
        for record in records:
            stream.write(_json(record) + "\n")
        stream.flush()


class CSVSink(Sink):
    """A CSV file, one line per output record (scores, errors and events share the columns)."""

    def __init__(self, path, feature_names):
        self.path = Path(path)
        self.feature_names = list(feature_names)
        self.columns = ["type", "seq", "id", "time", "arrived", "score", "flag", "status", *self.feature_names,
                        "error", "raw", "reason", "start_seq", "end_seq", "start_time", "end_time", "length",
                        "peak_score"]
        try:
            self._handle = open(self.path, "w", newline="", encoding="utf-8")
        except OSError as exc:
            raise DataError(f"Cannot write the CSV sink '{self.path}': {exc.strerror}.") from exc
        self._writer = csv.writer(self._handle)
        self._writer.writerow([escape_cell(name) for name in self.columns])

    def write(self, records):
        for record in records:
            row = {**record, **record.get("values", {})}
            # raw input text and feature values come from outside: escaped so a spreadsheet cannot run them
            self._writer.writerow([escape_cell(row.get(name, "")) for name in self.columns])
        self._handle.flush()

    def close(self):
        self._handle.close()


class CallbackSink(Sink):
    """Calls ``function(records)`` for every micro-batch (in the stream's thread)."""

    def __init__(self, function):
        self.function = function

    def write(self, records):
        self.function(records)


class QueueSink(Sink):
    """A bounded, thread-safe queue of records for another thread (the dashboard) to drain.

    When the reader falls behind and the queue is full, the OLDEST records are dropped and counted
    in :attr:`dropped`, so the newest data always gets through and memory stays bounded.
    """

    def __init__(self, maxsize: int = 200_000):
        self.queue: queue.Queue = queue.Queue(maxsize=maxsize)
        self.dropped = 0
        self._lock = threading.Lock()

    def write(self, records):
        for record in records:
            while True:
                try:
                    self.queue.put_nowait(record)
                    break
                except queue.Full:
                    with self._lock:
                        try:
                            self.queue.get_nowait()
                            self.dropped += 1
                        except queue.Empty:
                            pass

    def drain(self, limit: int | None = None) -> list[dict]:
        """Everything waiting (or up to ``limit`` records), without blocking."""
        out = []
        while limit is None or len(out) < limit:
            try:
                out.append(self.queue.get_nowait())
            except queue.Empty:
                break
        return out


class MQTTSink(Sink):
    """Publishes each record as a JSON message on an MQTT topic.

    With ``qos`` 1 or 2, ``write`` waits until the broker has acknowledged every message of the
    batch (at most ``timeout`` seconds, reconnecting meanwhile if need be) and raises
    :class:`DataError` if it has not, so the stream stops rather than acknowledge its source.
    """

    def __init__(self, host: str, port: int, topic: str, *, qos: int = 0, client_id: str = "",
                 timeout: float = 30.0):
        from .sources import connect_mqtt

        self.topic, self.qos, self.timeout = topic, qos, float(timeout)
        self.client = connect_mqtt(host, port, client_id=client_id)

    def write(self, records):
        infos = [self.client.publish(self.topic, _json(record), qos=self.qos) for record in records]
        if not self.qos:
            return
        deadline = time.monotonic() + self.timeout
        for info in infos:
            try:
                info.wait_for_publish(max(deadline - time.monotonic(), 0.001))
                published = info.is_published()
            except (RuntimeError, ValueError):  # not sent: no connection, or paho's queue is full
                published = False
            if not published:
                raise DataError(f"The MQTT broker did not acknowledge the scored records on '{self.topic}' "
                                f"within {self.timeout:.0f} s.")

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


class KafkaSink(Sink):
    """Sends each record as a JSON message to a Kafka topic."""

    def __init__(self, bootstrap: str, topic: str, **producer_options):
        try:
            from kafka import KafkaProducer
            from kafka.errors import KafkaError
        except ImportError as exc:  # pragma: no cover - listed dependency
            raise DataError("The Kafka sink needs kafka-python: `pip install kafka-python`.") from exc
        self.topic = topic
        try:
            self.producer = KafkaProducer(bootstrap_servers=bootstrap, **producer_options)
        except KafkaError as exc:
            raise DataError(f"Cannot reach the Kafka broker at {bootstrap}: {exc}") from exc

    def write(self, records):
        from kafka.errors import KafkaError

        futures = [self.producer.send(self.topic, _json(record).encode("utf-8")) for record in records]
        try:
            self.producer.flush(timeout=30)
        except KafkaError as exc:
            raise DataError(f"The Kafka broker did not take the scored records: {exc}") from exc
        failed = next((future for future in futures if not future.succeeded()), None)
        if failed is not None:  # flush() returns even when a send failed; the future says why
            raise DataError(f"The Kafka broker did not take the scored records on '{self.topic}': "
                            f"{failed.exception if failed.is_done else 'no answer'}")

    def close(self):
        self.producer.close(timeout=10)
