"""Where records come from: a CSV replay, an MQTT or Kafka topic, a folder where CSV files land.

A source's ``run(handle, stop)`` calls ``handle(items, arrived)`` once per micro-batch, where
``items`` is a list of messages (dicts, JSON text, CSV lines, bytes) or a pandas DataFrame and
``arrived`` the arrival time (``time.time()``) of each item or one time for the whole batch; it
returns when ``stop`` (a :class:`threading.Event`) is set or the source is exhausted. ``handle``
finishes scoring and writing a batch before returning how many items it took (a prefix), so a
source acknowledges (MQTT) or commits (Kafka) exactly those, afterwards: delivery is at-least-once.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import queue
import shutil
import socket
import threading
import time
from pathlib import Path

import pandas as pd

from ..errors import DataError


SESSION_EXPIRY = 3600  # seconds an MQTT broker keeps a stream's session (and its messages) while it is away
RECONNECT_DELAY = (0.5, 30.0)  # first and longest wait (seconds) between reconnection attempts, doubling


class Source:
    """Base class of the stream sources.

    ``can_leave_records``: whether items that ``handle`` does not take stay available at the
    source for a later run (not acknowledged, not committed, or simply not read yet).
    """

    can_leave_records = True

    def open(self) -> None:
        """Connect; raise :class:`DataError` when the source cannot be reached."""

    def run(self, handle, stop: threading.Event) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def close(self) -> None:
        pass


class ReplaySource(Source):
    """Replays a table (CSV/Parquet file or DataFrame) at a chosen speed, for demos and tests.

    Parameters
    ----------
    data : str, Path or pandas.DataFrame
    rate : float, optional
        Records per second; ``None`` or 0 = as fast as possible.
    loop : bool
        Start again at the top when the end is reached (until stopped).
    max_batch : int
        At most this many rows per micro-batch.
    tick : float
        Seconds between micro-batches when pacing.
    """

    def __init__(self, data, *, rate: float | None = None, loop: bool = False, max_batch: int = 5000,
                 tick: float = 0.05):
        if isinstance(data, pd.DataFrame):
            self.frame = data.reset_index(drop=True)
        else:
            from ..data import read_table

            # cells as the file wrote them: a record arrives as text and the stream's parser judges it
            self.frame = read_table(data, numbers_from_text=False)
        if rate is not None and rate < 0:
            raise DataError(f"The replay rate must be positive, got {rate}.")
        self.rate = float(rate) if rate else None
        self.loop = loop
        self.max_batch = int(max_batch)
        self.tick = float(tick)
        self.position = 0  # next row to send, for progress displays

    def run(self, handle, stop):
        n = len(self.frame)
        sent_total = 0
        started = time.perf_counter()
        while not stop.is_set():
            if self.position >= n:
                if not self.loop:
                    return
                self.position = 0
            if self.rate:
                due = int((time.perf_counter() - started) * self.rate) - sent_total
                if due <= 0:
                    stop.wait(self.tick)
                    continue
                count = min(due, self.max_batch, n - self.position)
            else:
                count = min(self.max_batch, n - self.position)
            chunk = self.frame.iloc[self.position:self.position + count]
            self.position += count
            sent_total += count
            handle(chunk, time.time())


def stable_client_id(host: str, port: int, topic: str) -> str:
    """The same MQTT client id every time this machine reads ``topic`` from this broker, so a restarted
    stream resumes its session (the broker keeps and redelivers what it has not been acknowledged)."""
    digest = hashlib.sha1(f"{socket.gethostname()}|{host}:{port}|{topic}".encode()).hexdigest()[:12]
    return f"anomaly-{digest}"  # 20 characters: within the 23 every MQTT broker must accept


def connect_mqtt(host: str, port: int, *, client_id: str = "", timeout: float = 10.0,
                 session_expiry: int | None = None, manual_ack: bool = False, on_connect=None, setup=None,
                 reconnect_delay: tuple[float, float] = RECONNECT_DELAY):
    """A connected paho-mqtt client (MQTT 5) with its network loop running (raises DataError if unreachable).

    With ``session_expiry`` (seconds) the session is persistent: the client connects with
    ``clean_start=False``, so with the same ``client_id`` it resumes the session the broker kept
    (subscriptions, queued messages, messages sent but not acknowledged). A lost connection is
    re-established by paho's network loop, waiting ``reconnect_delay`` seconds (first, longest),
    doubling after each failed attempt. ``on_connect(client, session_present)`` runs on every
    (re)connection, in the network thread; ``manual_ack`` leaves acknowledging received QoS 1/2
    messages to the caller (``client.ack(mid, qos)``). ``setup(client)`` runs before connecting:
    set ``on_message`` and ``on_subscribe`` there, since a resumed session delivers at once.
    """
    try:
        import paho.mqtt.client as mqtt
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties
    except ImportError as exc:  # pragma: no cover - listed dependency
        raise DataError("MQTT needs paho-mqtt: `pip install paho-mqtt`.") from exc
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5,
                         manual_ack=manual_ack)
    client.reconnect_delay_set(*reconnect_delay)
    connected = threading.Event()
    refusal: list[str] = []

    def handle_connect(c, userdata, flags, reason, properties):
        if reason.is_failure:
            refusal.append(str(reason))
            return
        if on_connect is not None:
            on_connect(c, flags.session_present)
        connected.set()

    client.on_connect = handle_connect
    if setup is not None:
        setup(client)
    properties = None
    if session_expiry:
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = int(session_expiry)
    try:
        client.connect(host, int(port), clean_start=not session_expiry, properties=properties)
    except OSError as exc:
        raise DataError(f"Cannot reach the MQTT broker at {host}:{port}: {exc}.") from exc
    client.loop_start()
    if not connected.wait(timeout):
        client.loop_stop()
        reason = f" ({refusal[0]})" if refusal else ""
        raise DataError(f"The MQTT broker at {host}:{port} did not accept the connection{reason}.")
    return client


class _QueuedSource(Source):
    """Messages pushed by a network thread into a queue; drained in micro-batches.

    After the first message of a batch, the source waits up to ``linger`` seconds for more: a
    model call costs milliseconds whatever its size, so scoring messages one by one would cap the
    stream at a few hundred records per second while the backlog (and the latency) grows.

    The queue holds ``(payload, arrived, receipt)``; once ``handle`` returns, the receipts of the
    items it took go to :meth:`acknowledge`. Items still queued when the stream stops were never
    acknowledged, so an at-least-once broker delivers them again.
    """

    def __init__(self, *, interval: float = 0.1, max_batch: int = 5000, linger: float = 0.02):
        self.interval = float(interval)
        self.max_batch = int(max_batch)
        self.linger = float(linger)
        self._queue: queue.Queue = queue.Queue()

    def run(self, handle, stop):
        while not stop.is_set():
            try:
                first = self._queue.get(timeout=self.interval)
            except queue.Empty:
                continue
            batch = [first]
            deadline = time.monotonic() + self.linger
            while len(batch) < self.max_batch:
                remaining = deadline - time.monotonic()
                try:
                    batch.append(self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait())
                except queue.Empty:
                    break
            taken = handle([payload for payload, _, _ in batch], [arrived for _, arrived, _ in batch])
            self.acknowledge([receipt for _, _, receipt in batch[:taken]])

    def acknowledge(self, receipts: list) -> None:
        """Tell the sender these messages are done (scored and written)."""


class MQTTSource(_QueuedSource):
    """Subscribes to an MQTT topic (wildcards allowed); each message is one record.

    With ``qos`` 1 (the default) or 2 delivery is at-least-once: the client connects with a stable
    ``client_id`` (default :func:`stable_client_id`) and a persistent session kept ``session_expiry``
    seconds (MQTT 5, ``clean_start=False``), so the broker keeps the messages meant for the stream
    while it is away or restarting (with the broker's persistence on); each message is acknowledged
    only after its micro-batch has been scored and written to every sink, and only on the connection
    it arrived on. A message in flight when the connection drops or the process stops is delivered
    again; the runner's ``id_field`` recognises such duplicates. ``qos=0`` is at-most-once.
    """

    def __init__(self, host: str, port: int, topic: str, *, qos: int = 1, client_id: str | None = None,
                 session_expiry: int = SESSION_EXPIRY, reconnect_delay: tuple[float, float] = RECONNECT_DELAY,
                 **options):
        super().__init__(**options)
        if qos not in (0, 1, 2):
            raise DataError(f"MQTT QoS must be 0, 1 or 2, got {qos}.")
        self.host, self.port, self.topic, self.qos = host, int(port), topic, int(qos)
        self.at_least_once = self.qos > 0
        if client_id is None:
            client_id = stable_client_id(host, self.port, topic) if self.at_least_once else ""
        self.client_id = client_id
        self.session_expiry = int(session_expiry) if self.at_least_once else None
        self.reconnect_delay = reconnect_delay
        self.client = None
        self.connections = 0  # successful (re)connections; a receipt is only valid on its own connection
        self.subscribed = threading.Event()
        self._refused: list[str] = []

    def open(self):
        def on_connect(client, session_present):
            self.connections += 1
            # Subscribing again is harmless when the broker kept the session, and needed when it did not.
            client.subscribe(self.topic, qos=self.qos)

        def on_subscribe(client, userdata, mid, reason_codes, properties):
            failed = [str(code) for code in reason_codes if code.is_failure]
            if failed:
                self._refused.append(failed[0])
            self.subscribed.set()

        def on_message(client, userdata, message):
            receipt = (self.connections, message.mid, message.qos)
            self._queue.put((message.payload, time.time(), receipt))

        def setup(client):
            client.on_subscribe = on_subscribe
            client.on_message = on_message

        self.client = connect_mqtt(self.host, self.port, client_id=self.client_id, session_expiry=self.session_expiry,
                                   manual_ack=self.at_least_once, reconnect_delay=self.reconnect_delay,
                                   on_connect=on_connect, setup=setup)
        if not self.subscribed.wait(10) or self._refused:
            reason = f" ({self._refused[0]})" if self._refused else ""
            self.close()
            raise DataError(f"The MQTT broker did not confirm the subscription to '{self.topic}'{reason}.")

    def acknowledge(self, receipts):
        if not self.at_least_once or self.client is None:
            return
        for connection, mid, qos in receipts:
            # After a reconnection the broker sends unacknowledged messages again with their old ids;
            # acknowledging across connections could confirm a message this stream never handled.
            if connection == self.connections and qos:
                self.client.ack(mid, qos)

    def close(self):
        if self.client is not None:
            self.client.disconnect()
            self.client.loop_stop()
            self.client = None


class KafkaSource(Source):
    """Consumes a Kafka topic with kafka-python; each message value is one record.

    Parameters
    ----------
    bootstrap : str
        ``host:port`` of a broker.
    topic : str
    group_id : str or None
        Consumer group. Auto-commit is off: the offsets of a micro-batch are committed only after
        every sink has written it, so a stream stopped or crashed at any point resumes after the
        last written record (at-least-once; a batch written but not yet committed is read again).
        ``None`` reads every partition of the topic directly, without joining a group (starts at
        once, commits nothing: a restart begins at ``offset`` again).
    offset : {"latest", "earliest"}
        Where a new group starts: only new messages (S0's behaviour) or the whole topic.
    """

    def __init__(self, bootstrap: str, topic: str, *, group_id: str | None = "anomaly-detection",
                 offset: str = "latest", interval: float = 0.2, max_batch: int = 5000, **consumer_options):
        if offset not in ("latest", "earliest"):
            raise DataError(f"Kafka offset must be 'latest' or 'earliest', got {offset!r}.")
        self.bootstrap, self.topic, self.group_id, self.offset = bootstrap, topic, group_id, offset
        self.interval, self.max_batch = float(interval), int(max_batch)
        self.consumer_options = consumer_options
        self.consumer = None

    def open(self):
        try:
            from kafka import KafkaConsumer, TopicPartition
            from kafka.errors import KafkaError
        except ImportError as exc:  # pragma: no cover - listed dependency
            raise DataError("The Kafka source needs kafka-python: `pip install kafka-python`.") from exc
        try:
            if self.group_id:
                self.consumer = KafkaConsumer(self.topic, bootstrap_servers=self.bootstrap, group_id=self.group_id,
                                              auto_offset_reset=self.offset, enable_auto_commit=False,
                                              **self.consumer_options)
                return
            # Without a group: read every partition directly (no group join to wait for).
            self.consumer = KafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False,
                                          **self.consumer_options)
            partitions = self.consumer.partitions_for_topic(self.topic)
        except KafkaError as exc:
            raise DataError(f"Cannot reach the Kafka broker at {self.bootstrap}: {exc}") from exc
        if not partitions:
            self.close()
            raise DataError(f"The Kafka topic '{self.topic}' does not exist on {self.bootstrap}.")
        assigned = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        self.consumer.assign(assigned)
        if self.offset == "earliest":
            self.consumer.seek_to_beginning(*assigned)
        else:
            self.consumer.seek_to_end(*assigned)
            for partition in assigned:  # resolve "end" now, so messages sent from here on are read
                self.consumer.position(partition)

    def run(self, handle, stop):
        from kafka import TopicPartition
        from kafka.structs import OffsetAndMetadata

        while not stop.is_set():
            polled = self.consumer.poll(timeout_ms=int(self.interval * 1000), max_records=self.max_batch)
            messages = [m for partition in polled.values() for m in partition]
            if not messages:
                continue
            taken = handle([m.value for m in messages], time.time())
            # Next offset per partition: after the last record taken, else the first one not taken.
            written, untaken = {}, {}
            for position, message in enumerate(messages):
                partition = TopicPartition(message.topic, message.partition)
                if position < taken:
                    written[partition] = message.offset + 1
                else:
                    untaken.setdefault(partition, message.offset)
            if self.group_id and written:
                self.consumer.commit({p: OffsetAndMetadata(offset, "", -1) for p, offset in written.items()})
            for partition, offset in untaken.items():  # read them again if the stream goes on
                self.consumer.seek(partition, offset)

    def close(self):
        if self.consumer is not None:
            self.consumer.close()
            self.consumer = None


def _all_numbers(fields) -> bool:
    try:
        [float(f) for f in fields]
        return True
    except ValueError:
        return False


# Names writers give a file while it is still being written (browsers, rsync, scp clients, editors).
UNFINISHED_SUFFIXES = (".partial", ".part", ".tmp", ".temp", ".crdownload", ".download", ".filepart", ".swp",
                       ".inprogress")


def has_final_name(name: str, pattern: str = "*") -> bool:
    """Whether ``name`` is a finished file's name matching ``pattern``: not hidden (``.x``), not
    ``_x`` (Spark's and Hadoop's own files) and without a temporary suffix (``.partial``, ``.tmp``, ...)."""
    return (not name.startswith((".", "_")) and not name.lower().endswith(UNFINISHED_SUFFIXES)
            and fnmatch.fnmatch(name, pattern))


class SettledFiles:
    """Complete files of a local folder, found by polling.

    A file is complete once it has a final name (:func:`has_final_name`) and its size and
    modification time have not changed for ``settle_seconds``. Each version of a file (name, size,
    modification time) is handed over once: a file written again later is read again.

    Parameters
    ----------
    folder : str or Path
    pattern : str
        File name glob.
    settle_seconds : float
        How long a file must stay unchanged. 0: files appear whole (moved in by rename), only
        the name rule applies.
    done : iterable of (name, size, mtime_ns)
        Versions already handed over (by an earlier run).
    """

    def __init__(self, folder, pattern: str = "*.csv", settle_seconds: float = 2.0, done=()):
        self.folder = Path(folder)
        self.pattern = pattern
        self.settle_seconds = float(settle_seconds)
        self.done: set[tuple] = {tuple(version) for version in done}
        self._unchanged_since: dict[str, tuple[tuple, float]] = {}  # name -> (version, first seen)

    def poll(self, now: float | None = None) -> list[tuple]:
        """Versions ``(name, size, mtime_ns)`` complete now and not handed over yet, oldest first.
        The caller adds each one to :attr:`done` once it has taken it."""
        now = time.monotonic() if now is None else now
        ready, present = [], set()
        with os.scandir(self.folder) as entries:
            for entry in entries:
                if not has_final_name(entry.name, self.pattern) or not entry.is_file():
                    continue
                info = entry.stat()
                version = (entry.name, info.st_size, info.st_mtime_ns)
                present.add(entry.name)
                if version in self.done:
                    continue
                seen = self._unchanged_since.get(entry.name)
                if seen is None or seen[0] != version:
                    self._unchanged_since[entry.name] = (version, now)
                    if self.settle_seconds > 0:
                        continue
                    seen = (version, now)
                if now - seen[1] >= self.settle_seconds:
                    ready.append(version)
        for name in set(self._unchanged_since) - present:  # deleted or renamed away
            del self._unchanged_since[name]
        return sorted(ready, key=lambda version: (version[2], version[0]))


class FolderSource(Source):
    """New CSV files landing in a folder, read with Spark Structured Streaming.

    Only complete files are read (never one still being written): in a local folder, a file is
    taken once its name is final (not hidden, not ``_x``, no temporary suffix such as ``.partial``
    or ``.tmp``) and its size and modification time have stayed the same for ``settle_seconds``
    (:class:`SettledFiles`). It is then copied under a new name into a folder that only Spark
    watches, so Spark never sees it change, and Spark deletes the copy once its batch is done. A
    writer that may pause longer than ``settle_seconds`` mid-file should write under a temporary
    name and rename. A remote folder (a Hadoop URL) is watched by Spark directly: files must appear
    there whole (moved in).

    Each micro-batch of new files reaches ``handle`` from inside ``foreachBatch``, so a batch is
    scored and written before Spark records it as done (with ``checkpoint``, a restarted stream
    resumes after the last scored file, and skips the files it had already taken). A file's first
    line is its header unless it is all numbers; lines are passed on as CSV text, so a broken line
    is one malformed record.

    Parameters
    ----------
    folder : str
        Folder to watch (local path or any Hadoop URL the session can read).
    spark : SparkSession, optional
        Default: a new local session (``master``).
    pattern : str
        File name glob inside the folder.
    trigger_seconds : float
        How often Spark (and the local folder's poll) looks for new files.
    max_files_per_trigger : int, optional
    checkpoint : str, optional
        Checkpoint folder (default: a temporary one, so each run starts from the files present).
    settle_seconds : float
        How long a local file must stay unchanged before it is read (0: files are moved in whole).
    """

    can_leave_records = False  # Spark marks a batch done once foreachBatch returns

    def __init__(self, folder, *, spark=None, master: str = "local[2]", pattern: str = "*.csv",
                 trigger_seconds: float = 0.5, max_files_per_trigger: int | None = None,
                 checkpoint: str | None = None, settle_seconds: float = 2.0):
        self.folder = str(folder)
        self.local = "://" not in self.folder or self.folder.startswith("file://")
        if self.local and not Path(self.folder.removeprefix("file://")).is_dir():
            raise DataError(f"The folder '{self.folder}' does not exist.")
        if settle_seconds < 0:
            raise DataError(f"settle_seconds must be 0 or more, got {settle_seconds}.")
        self.spark, self.master, self.pattern = spark, master, pattern
        self.trigger_seconds = float(trigger_seconds)
        self.max_files_per_trigger = max_files_per_trigger
        self.checkpoint = checkpoint
        self.settle_seconds = float(settle_seconds)
        self.query = None
        self.failure: BaseException | None = None
        self._work: str | None = None  # temporary checkpoint folder this source made (removed at close)

    def open(self):
        if self.spark is None:
            from ..spark.session import get_session

            self.spark = get_session(self.master)

    def _lines(self, batch_frame) -> list[str]:
        from pyspark.sql import functions as F

        # collect() returns partitions in order and each partition's lines in file order, so no
        # sort (and no shuffle) is needed to keep every file's header ahead of its lines.
        rows = batch_frame.select("value", F.input_file_name().alias("file")).collect()
        lines, header, current = [], None, None
        for row in rows:
            text = row["value"]
            if row["file"] != current:
                current = row["file"]
                fields = text.split(",")
                if not _all_numbers(fields):
                    header = fields
                    continue
                header = None
            if not text.strip():
                continue
            lines.append({"_header": header, "_line": text})
        return lines

    def run(self, handle, stop):
        import tempfile

        if self.checkpoint is None:
            self._work = tempfile.mkdtemp(prefix="stream-checkpoint-")
        checkpoint = Path(self.checkpoint or self._work)
        reader = self.spark.readStream.option("maxFilesPerTrigger", self.max_files_per_trigger or 1000)
        settled = None
        if self.local:
            staging = checkpoint / "complete-files"
            staging.mkdir(parents=True, exist_ok=True)
            taken_log = checkpoint / "taken-files.jsonl"
            done = [json.loads(line) for line in taken_log.read_text().splitlines()] if taken_log.exists() else []
            settled = SettledFiles(self.folder.removeprefix("file://"), self.pattern, self.settle_seconds, done)
            # Spark deletes a copy once the batch that read it is committed.
            source = reader.option("cleanSource", "delete").text(str(staging))
        else:
            source = reader.option("pathGlobFilter", self.pattern).text(self.folder)

        def on_batch(batch_frame, batch_id):
            arrived = time.time()
            entries = self._lines(batch_frame)
            if entries:
                handle([_csv_record(e) for e in entries], arrived)

        self.query = (source.writeStream.foreachBatch(on_batch).option("checkpointLocation", str(checkpoint / "spark"))
                      .trigger(processingTime=f"{self.trigger_seconds} seconds").start())
        try:
            while not stop.is_set():
                if not self.query.isActive:
                    error = self.query.exception()
                    raise DataError(f"The folder stream stopped: {error}")
                if settled is not None:
                    for version in settled.poll():
                        if self._hand_to_spark(version, staging):
                            settled.done.add(version)
                            with open(taken_log, "a", encoding="utf-8") as log:
                                log.write(json.dumps(list(version)) + "\n")
                stop.wait(self.trigger_seconds if settled is not None else 0.1)
        finally:
            self.query.stop()

    def _hand_to_spark(self, version: tuple, staging: Path) -> bool:
        """Copy a complete file where Spark will read it; False if it changed meanwhile (retried later)."""
        name, size, mtime_ns = version
        original = Path(self.folder.removeprefix("file://")) / name
        target = staging / f"{time.time_ns()}-{name}"
        hidden = staging / f".{target.name}"  # Spark skips hidden names: it sees the copy only whole
        try:
            shutil.copyfile(original, hidden)
            info = original.stat()
        except FileNotFoundError:
            hidden.unlink(missing_ok=True)
            return False
        if (info.st_size, info.st_mtime_ns) != (size, mtime_ns):
            hidden.unlink()
            return False
        os.replace(hidden, target)
        return True

    def close(self):
        if self.query is not None and self.query.isActive:
            self.query.stop()
        if self._work is not None:
            shutil.rmtree(self._work, ignore_errors=True)
            self._work = None


def _csv_record(entry: dict):
    """A line with its file's header becomes a mapping; a headerless line stays CSV text."""
    import csv
    import io

    header = entry["_header"]
    if header is None:
        return entry["_line"]
    fields = next(csv.reader(io.StringIO(entry["_line"])))
    if len(fields) != len(header):
        return entry["_line"]  # the parser reports the wrong field count
    return dict(zip(header, fields))


class IterableSource(Source):
    """Messages from any iterable (stdin lines, a generator); one micro-batch per ``batch`` items."""

    def __init__(self, iterable, *, batch: int = 100):
        self.iterable, self.batch = iterable, int(batch)

    def run(self, handle, stop):
        chunk = []
        for item in self.iterable:
            if stop.is_set():
                return
            chunk.append(item)
            if len(chunk) >= self.batch:
                handle(chunk, time.time())
                chunk = []
        if chunk:
            handle(chunk, time.time())


__all__ = ["Source", "ReplaySource", "MQTTSource", "KafkaSource", "FolderSource", "IterableSource",
           "SettledFiles", "connect_mqtt", "has_final_name", "stable_client_id"]
