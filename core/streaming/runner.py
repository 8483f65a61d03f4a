"""The stream loop: read micro-batches from a source, score them, write results to sinks.

Output records (dicts):

- ``{"type": "score", "seq", "time", "arrived", "score", "flag", "threshold", "status", "values"}``
  for every readable record; ``status`` is ``"ok"`` or ``"warmup"`` (a window model's first steps,
  ``score`` and ``flag`` None). A centred window model writes a record once the steps after it
  that its score depends on have arrived (``step_context().future`` steps later, or at the end
  of the stream); a causal one writes it in the batch it came in;
- ``{"type": "error", "seq", "arrived", "error", "raw"}`` for a malformed record;
- ``{"type": "dropped", "seq", "arrived", "reason"}`` for a record taken from the source but not
  scored, such as a duplicate (reason ``"duplicate"``);
- ``{"type": "event", "start_seq", "end_seq", "start_time", "end_time", "length", "peak_score"}``
  when a run of consecutive flagged records ends.

With an ``id_field``, every record output carries ``"id"``.

Accounting: every record the runner takes from its source is received once and then counted as
exactly one of scored, warm-up, malformed or dropped (with its reason), so
``received == scored + warmup + malformed + dropped + waiting`` whenever a batch is done, where
``waiting`` (records a centred model has not scored yet) is 0 once the stream has ended; the final
summary (:func:`summary_line`) shows every term.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from collections import deque
from urllib.parse import parse_qs, urlparse

import numpy as np

from .. import signing
from ..errors import CoreError, DataError
from ..pipeline import DetectionPipeline
from ..thresholds import apply_threshold
from . import checkpoint as checkpoints
from .records import RecentIds, RecordParser
from .scorer import StreamScorer
from .sinks import CallbackSink, CSVSink, KafkaSink, MQTTSink, QueueSink, Sink, StdoutSink
from .sources import SESSION_EXPIRY, FolderSource, IterableSource, KafkaSource, MQTTSource, ReplaySource, Source


DUPLICATE = "duplicate"  # drop reason of a record whose id was already seen
NOT_WRITTEN = "not written: the stream stopped with an error"  # drop reason of a batch a sink refused


class StreamStats:
    """Thread-safe counters of a running stream.

    ``received`` counts the records taken from the source; each is then exactly one of ``scored``
    (has a score), ``warmup`` (read by a window model that has no score for it yet), ``malformed``
    (unreadable, reported with its reason) or ``dropped`` (taken but not scored, counted per reason
    in ``dropped_by_reason``; ``duplicates`` is the part dropped as already seen).
    """

    def __init__(self, rate_window: float = 5.0):
        self._lock = threading.Lock()
        self.rate_window = rate_window
        self.started = time.time()
        self.finished: float | None = None
        self.received = self.scored = self.anomalies = self.malformed = self.warmup = self.events = 0
        self.waiting = 0
        self.dropped_by_reason: dict[str, int] = {}
        self.batches = 0
        self.error: str | None = None
        self._recent = deque()  # (time, records) of recent batches, for records/s
        self._latencies = deque(maxlen=5000)  # seconds from arrival to written

    def add_batch(self, *, received, scored=0, anomalies=0, malformed=0, warmup=0, events=0, dropped=None,
                  latencies=(), waiting=None):
        """Count one micro-batch; ``dropped`` maps a reason to a number of records; ``waiting`` is how
        many records now wait for later steps before they can be scored (centred window models)."""
        now = time.time()
        with self._lock:
            if waiting is not None:
                self.waiting = waiting
            self.received += received
            self.scored += scored
            self.anomalies += anomalies
            self.malformed += malformed
            self.warmup += warmup
            self.events += events
            for reason, count in (dropped or {}).items():
                if count:
                    self.dropped_by_reason[reason] = self.dropped_by_reason.get(reason, 0) + count
            self.batches += 1
            self._recent.append((now, received))
            self._latencies.extend(latencies)

    def add_events(self, count: int) -> None:
        with self._lock:
            self.events += count

    def snapshot(self) -> dict:
        """Counters and rates now: received, scored, warmup, malformed, dropped, dropped_by_reason,
        duplicates, anomalies, events, batches, records_per_s (last few seconds), mean_records_per_s,
        latency_ms_p50/p95, elapsed_s, running, error."""
        now = time.time()
        with self._lock:
            while self._recent and self._recent[0][0] < now - self.rate_window:
                self._recent.popleft()
            end = self.finished or now
            elapsed = max(end - self.started, 1e-9)
            recent_span = min(self.rate_window, elapsed)
            latencies = np.asarray(self._latencies, dtype=float)
            return {
                "received": self.received, "scored": self.scored, "warmup": self.warmup, "waiting": self.waiting,
                "malformed": self.malformed, "dropped": sum(self.dropped_by_reason.values()),
                "dropped_by_reason": dict(self.dropped_by_reason),
                "duplicates": self.dropped_by_reason.get(DUPLICATE, 0),
                "anomalies": self.anomalies, "events": self.events, "batches": self.batches,
                "records_per_s": (sum(n for _, n in self._recent) / recent_span) if self.finished is None
                else self.received / elapsed,
                "mean_records_per_s": self.received / elapsed,
                "latency_ms_p50": float(np.percentile(latencies, 50) * 1000) if latencies.size else None,
                "latency_ms_p95": float(np.percentile(latencies, 95) * 1000) if latencies.size else None,
                "elapsed_s": elapsed, "running": self.finished is None, "error": self.error,
            }


def summary_line(stats: dict) -> str:
    """The final accounting of a stream in one line (every received record in exactly one term)."""
    reasons = ", ".join(f"{count:,} {reason}" for reason, count in sorted(stats["dropped_by_reason"].items()))
    waiting = stats.get("waiting", 0)
    return (f"stream: {stats['received']:,} received = {stats['scored']:,} scored + {stats['warmup']:,} warm-up + "
            f"{stats['malformed']:,} malformed + {stats['dropped']:,} dropped" + (f" ({reasons})" if reasons else "")
            + (f" + {waiting:,} waiting for later steps" if waiting else "")
            + f"; {stats['duplicates']:,} duplicates, {stats['anomalies']:,} anomalies, {stats['events']:,} events, "
            f"{stats['mean_records_per_s']:,.0f} records/s" + (f"; error: {stats['error']}" if stats["error"] else ""))


def _plain(value):
    """JSON-friendly scalars (numpy numbers, timestamps) for the output records."""
    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (int, float, str, bool)):
        return value
    return str(value)


class StreamRunner:
    """Scores a stream with a trained pipeline.

    Parameters
    ----------
    pipeline : DetectionPipeline
    source : Source
    sinks : Sink or list of Sink
    time_field : str, optional
        Record field with the timestamp (copied to the output and used for events).
    only_anomalies : bool
        Write only flagged records, errors, dropped records and events (counters count everything).
    max_records : int, optional
        Stop after this many received records (readable or not). Records of the last batch beyond
        it stay at the source (not acknowledged, not committed) where the source allows it.
    timeout : float, optional
        Stop after this many seconds.
    csv_columns : list of str, optional
        Column names of CSV-line messages (see :class:`~core.streaming.records.RecordParser`).
    id_field : str, optional
        Record field holding a unique id. A record whose id was already seen in this run (an
        at-least-once source delivering it again) is dropped with reason ``"duplicate"`` and
        written to the sinks as such, instead of being scored twice.
    checkpoint : str or Path, optional
        For an adaptive pipeline (see :attr:`DetectionPipeline.adaptive`): the file where what it
        learned is saved after every written batch (see :mod:`core.streaming.checkpoint`); when the
        file exists at the start, the stream continues from it.
    key : signing key for the checkpoint (default: the configured one).
    """

    def __init__(self, pipeline: DetectionPipeline, source: Source, sinks, *, time_field: str | None = None,
                 only_anomalies: bool = False, max_records: int | None = None, timeout: float | None = None,
                 csv_columns=None, id_field: str | None = None, checkpoint=None, key=signing.FROM_ENVIRONMENT):
        self.checkpoint = checkpoint if checkpoint is not None and pipeline.adaptive else None
        self.key = key
        self.resumed = False
        if self.checkpoint is not None:
            pipeline, self.resumed = checkpoints.resume(pipeline, self.checkpoint, key=key)
        self.pipeline = pipeline
        self.source = source
        self.sinks: list[Sink] = list(sinks) if isinstance(sinks, (list, tuple)) else [sinks]
        self.parser = RecordParser(pipeline.feature_names_, time_field=time_field, csv_columns=csv_columns,
                                   id_field=id_field)
        self.recent_ids = RecentIds()
        self.scorer = StreamScorer(pipeline)
        self.only_anomalies = only_anomalies
        self.max_records = max_records
        self.timeout = timeout
        self.stats = StreamStats()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._seq = 0
        self._run = None  # open run of flagged records: dict or None
        self._waiting: deque = deque()  # (position, record) read but not yet scored, oldest first

    # -- one micro-batch -------------------------------------------------------------------
    def handle(self, items, arrived) -> int:
        """Score one micro-batch and write it to every sink (called by the source).

        Returns how many of ``items`` were taken (a prefix: fewer only when ``max_records`` is
        reached); the source acknowledges or commits those only, once this returns. When scoring or
        a sink fails, the batch is counted as dropped (``NOT_WRITTEN``) and the error propagates,
        so the source acknowledges nothing of it.
        """
        taken = len(items)
        if self.max_records is not None:
            room = self.max_records - self.stats.received
            if room <= 0:
                self._stop.set()
                return 0
            if taken > room and self.source.can_leave_records:
                items = items.iloc[:room] if hasattr(items, "iloc") else items[:room]
                arrived = arrived[:room] if isinstance(arrived, list) else arrived
                taken = room
        try:
            counts = self._score_and_write(items, arrived)
        except BaseException:
            self.stats.add_batch(received=taken, dropped={NOT_WRITTEN: taken})
            raise
        self.stats.add_batch(received=taken, **counts)
        if self.max_records is not None and self.stats.received >= self.max_records:
            self._stop.set()
        return taken

    def _score_and_write(self, items, arrived) -> dict:
        parsed = self.parser.parse(items)
        parsed.remove_duplicates(self.recent_ids)
        arrival = (lambda i: arrived[i]) if isinstance(arrived, list) else (lambda i: arrived)
        names = self.parser.feature_names
        with_id = self.parser.id_field is not None
        base = self._seq
        scores = self.scorer.push(parsed.X)  # first: if scoring fails, nothing of this batch waits
        for row, position in enumerate(parsed.positions):
            record = {"type": "score", "seq": base + position, "time": _plain(parsed.times[row]),
                      "arrived": arrival(position), "score": None, "flag": None,
                      "threshold": self.scorer.threshold, "status": "warmup",
                      "values": dict(zip(names, parsed.X[row].tolist()))}
            if with_id:
                record["id"] = _plain(parsed.ids[row])
            self._waiting.append((position, record))
        output, counts = self._settle(scores, base)
        for error in parsed.errors:
            record = {"type": "error", "seq": base + error.position, "arrived": arrival(error.position),
                      "error": error.reason, "raw": error.raw}
            if with_id:
                record["id"] = _plain(error.record_id)
            output.append((error.position, record))
        for duplicate in parsed.duplicates:
            output.append((duplicate.position, {"type": "dropped", "seq": base + duplicate.position,
                                                "arrived": arrival(duplicate.position), "reason": DUPLICATE,
                                                "id": _plain(duplicate.record_id)}))
        output.sort(key=lambda pair: pair[0])
        self._seq += parsed.size
        records = [record for _, record in output]
        settled = counts.pop("settled")
        try:
            for sink in self.sinks:
                sink.write(records)
        except BaseException:  # this batch is counted as not written by handle(); so are earlier
            # records settled with it, and those of it still waiting leave the queue with it
            earlier = sum(record["seq"] < base for record in settled)
            self._waiting = deque(pair for pair in self._waiting if pair[1]["seq"] < base)
            self.stats.add_batch(received=0, dropped={NOT_WRITTEN: earlier}, waiting=len(self._waiting))
            raise
        if self.checkpoint is not None and parsed.positions:  # before the source acknowledges the batch
            checkpoints.save(self.pipeline, self.checkpoint, key=self.key)
        written = time.time()
        latencies = [written - record["arrived"] for record in settled[-200:]]
        return {**counts, "malformed": len(parsed.errors), "dropped": {DUPLICATE: len(parsed.duplicates)},
                "latencies": latencies}

    def _settle(self, scores: np.ndarray, base: int) -> tuple[list[tuple[int, dict]], dict]:
        """Give the oldest waiting records their ``scores``; the records to write and their counts.

        A centred window model scores a step only once its later steps have arrived, so records
        wait here from one batch to the next; records of earlier batches sort first.
        """
        output: list[tuple[int, dict]] = []
        settled = []
        anomalies = warmup = events = 0
        for score in scores:
            position, record = self._waiting.popleft()
            if record["seq"] < base:
                position = -1  # from an earlier batch: before this batch's records
            ready = bool(np.isfinite(score))
            flag = int(apply_threshold([score], self.scorer.threshold)[0]) if ready else None
            record.update(score=float(score) if ready else None, flag=flag, status="ok" if ready else "warmup")
            settled.append(record)
            warmup += not ready
            anomalies += bool(flag)
            closed = self._track_event(record)
            if closed is not None:
                output.append((position, closed))
                events += 1
            if flag or not self.only_anomalies:
                output.append((position, record))
        counts = {"scored": len(settled) - warmup, "anomalies": anomalies, "warmup": warmup, "events": events,
                  "waiting": len(self._waiting), "settled": settled}
        return output, counts

    def _finish_waiting(self) -> None:
        """At the end of the stream, score and write the records still waiting for later steps."""
        if not self._waiting:
            return
        output, counts = self._settle(self.scorer.finish(), self._seq)
        records = [record for _, record in sorted(output, key=lambda pair: pair[0])]
        settled = counts.pop("settled")
        try:
            for sink in self.sinks:
                sink.write(records)
        except BaseException:
            self.stats.add_batch(received=0, dropped={NOT_WRITTEN: len(settled)}, waiting=0)
            raise
        self.stats.add_batch(received=0, **counts)

    def _track_event(self, record: dict) -> dict | None:
        """Group consecutive flagged records; return the event that this record closes, if any."""
        if record["flag"]:
            if self._run is None:
                self._run = {"type": "event", "start_seq": record["seq"], "end_seq": record["seq"],
                             "start_time": record["time"], "end_time": record["time"], "length": 0,
                             "peak_score": record["score"]}
            run = self._run
            run["end_seq"], run["end_time"] = record["seq"], record["time"]
            run["length"] += 1
            run["peak_score"] = max(run["peak_score"], record["score"])
            return None
        if record["flag"] == 0 and self._run is not None:
            closed, self._run = self._run, None
            return closed
        return None

    # -- running ---------------------------------------------------------------------------
    def run(self) -> dict:
        """Run until the source ends, ``stop()``, ``max_records`` or ``timeout``; returns the final counters."""
        timer = None
        if self.timeout is not None:
            timer = threading.Timer(self.timeout, self._stop.set)
            timer.daemon = True
            timer.start()
        try:
            self.source.open()
            self.source.run(self.handle, self._stop)
            self._finish_waiting()
            if self._run is not None:  # a flagged run still open at the end is an event too
                closed, self._run = self._run, None
                for sink in self.sinks:
                    sink.write([closed])
                self.stats.add_events(1)
        except CoreError as exc:
            self.stats.error = str(exc)
            self._drop_waiting()
            raise
        except Exception as exc:
            self.stats.error = f"{type(exc).__name__}: {exc}"
            self._drop_waiting()
            raise
        except BaseException:  # interrupted: the records still waiting for later steps are not written
            self._drop_waiting()
            raise
        finally:
            if timer is not None:
                timer.cancel()
            self.stats.finished = time.time()
            for closer in (self.source.close, *[s.close for s in self.sinks]):
                try:
                    closer()
                except Exception:  # closing must not hide the first error
                    pass
        return self.stats.snapshot()

    def _drop_waiting(self) -> None:
        if self._waiting:
            self.stats.add_batch(received=0, dropped={NOT_WRITTEN: len(self._waiting)}, waiting=0)
            self._waiting.clear()

    def start(self) -> "StreamRunner":
        """Run in a background thread (for the dashboard); errors land in ``stats.error``."""

        def target():
            try:
                self.run()
            except Exception:
                pass  # recorded in stats.error by run()

        self._thread = threading.Thread(target=target, name="anomaly-stream", daemon=True)
        self._thread.start()
        return self

    def stop(self, wait: float | None = 10.0) -> None:
        self._stop.set()
        if self._thread is not None and wait:
            self._thread.join(wait)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()


# -- URLs -------------------------------------------------------------------------------------
def _host_port_topic(url: str, default_port: int):
    parsed = urlparse(url)
    topic = parsed.path.lstrip("/")
    if not parsed.hostname or not topic:
        raise DataError(f"Expected {parsed.scheme}://HOST:PORT/TOPIC, got {url!r}.")
    return parsed.hostname, parsed.port or default_port, topic, {k: v[-1] for k, v in parse_qs(parsed.query, keep_blank_values=True).items()}


def _path_and_query(spec: str):
    body = spec.split(":", 1)[1]
    path, _, query = body.partition("?")
    return path, {k: v[-1] for k, v in parse_qs(query).items()}


def make_source(url: str, **options) -> Source:
    """A source from a URL: ``replay:FILE[?rate=N&loop=1]``,
    ``mqtt://HOST:PORT/TOPIC[?qos=1&client_id=NAME&session_expiry=SECONDS]``,
    ``kafka://HOST:PORT/TOPIC[?offset=earliest&group=NAME]`` (``group=`` empty: no consumer group),
    ``folder:DIR[?pattern=*.csv&settle=SECONDS]``, ``stdin``."""
    url = str(url)
    if url in ("stdin", "-"):
        return IterableSource(sys.stdin, batch=int(options.get("batch", 1)))
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme == "replay":
        path, query = _path_and_query(url)
        rate = options.get("rate", query.get("rate"))
        return ReplaySource(path, rate=float(rate) if rate else None,
                            loop=str(query.get("loop", options.get("loop", "0"))).lower() in ("1", "true", "yes"))
    if scheme == "mqtt":
        host, port, topic, query = _host_port_topic(url, 1883)
        return MQTTSource(host, port, topic, qos=int(query.get("qos", 1)), client_id=query.get("client_id") or None,
                          session_expiry=int(query.get("session_expiry", SESSION_EXPIRY)))
    if scheme == "kafka":
        host, port, topic, query = _host_port_topic(url, 9092)
        return KafkaSource(f"{host}:{port}", topic, group_id=query.get("group", "anomaly-detection") or None,
                           offset=query.get("offset", options.get("offset", "latest")))
    if scheme == "folder":
        path, query = _path_and_query(url)
        return FolderSource(path.removeprefix("//"), pattern=query.get("pattern", "*.csv"),
                            master=options.get("master", "local[2]"), settle_seconds=float(query.get("settle", 2.0)))
    raise DataError(f"Unknown stream source {url!r}; use replay:FILE, mqtt://HOST:PORT/TOPIC, "
                    "kafka://HOST:PORT/TOPIC, folder:DIR or stdin.")


def make_sink(url, feature_names) -> Sink:
    """A sink from a URL: ``stdout``, ``csv:FILE``, ``mqtt://HOST:PORT/TOPIC``, ``kafka://HOST:PORT/TOPIC``;
    a callable becomes a :class:`CallbackSink` and a :class:`Sink` is used as it is."""
    if isinstance(url, Sink):
        return url
    if callable(url):
        return CallbackSink(url)
    url = str(url)
    if url in ("stdout", "-"):
        return StdoutSink()
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme == "csv":
        return CSVSink(url.split(":", 1)[1], feature_names)
    if scheme == "mqtt":
        host, port, topic, query = _host_port_topic(url, 1883)
        return MQTTSink(host, port, topic, qos=int(query.get("qos", 0)))
    if scheme == "kafka":
        host, port, topic, _ = _host_port_topic(url, 9092)
        return KafkaSink(f"{host}:{port}", topic)
    raise DataError(f"Unknown stream sink {url!r}; use stdout, csv:FILE, mqtt://HOST:PORT/TOPIC or "
                    "kafka://HOST:PORT/TOPIC.")


def run_stream(model_path, source_url, sink_url="stdout", *, max_records: int | None = None,
               timeout: float | None = None, time_field: str | None = None, only_anomalies: bool = False,
               rate: float | None = None, report=True, id_field: str | None = None, checkpoint=None,
               key=signing.FROM_ENVIRONMENT, **source_options) -> dict:
    """Score a stream with a saved model until it ends, ``max_records`` or ``timeout``.

    Parameters
    ----------
    model_path : str, Path or DetectionPipeline
    source_url : str or Source
        See :func:`make_source`.
    sink_url : str, Sink, callable or list of them
        See :func:`make_sink`.
    max_records, timeout, time_field, only_anomalies, id_field, checkpoint, key : see :class:`StreamRunner`.
    rate : float, optional
        Replay speed in records/s (overrides ``?rate=`` of a replay URL).
    report : bool or text stream
        Where the final accounting goes (:func:`summary_line`, also when the stream stops with an
        error): ``True`` = stderr, ``False``/``None`` = nowhere.

    Returns
    -------
    dict
        The final counters (see :meth:`StreamStats.snapshot`).
    """
    pipeline = model_path if isinstance(model_path, DetectionPipeline) else DetectionPipeline.load(model_path)
    if rate is not None:
        source_options["rate"] = rate
    source = source_url if isinstance(source_url, Source) else make_source(source_url, **source_options)
    sink_urls = sink_url if isinstance(sink_url, (list, tuple)) else [sink_url]
    sinks = [make_sink(s, pipeline.feature_names_) for s in sink_urls]
    runner = StreamRunner(pipeline, source, sinks, time_field=time_field, only_anomalies=only_anomalies,
                          max_records=max_records, timeout=timeout, id_field=id_field, checkpoint=checkpoint,
                          key=key)
    try:
        runner.run()
    except KeyboardInterrupt:
        pass
    finally:  # the accounting is shown however the stream ended
        stats = runner.stats.snapshot()
        if report is True:
            report = sys.stderr
        if report:
            report.write(summary_line(stats) + "\n")
    return stats


__all__ = ["StreamRunner", "StreamStats", "QueueSink", "make_source", "make_sink", "run_stream", "summary_line",
           "DUPLICATE", "NOT_WRITTEN"]
