"""Real-time detection: score records from MQTT, Kafka, a folder of CSV files or a replay.

``run_stream(model_path, source_url, sink_url, **options)`` is the entry point of
``python -m core stream``; :class:`StreamRunner` runs a stream in a background thread for the
dashboard. Network clients (paho-mqtt, kafka-python) and Spark load only when their source or sink
is used.
"""

from .runner import StreamRunner, StreamStats, make_sink, make_source, run_stream
from .sinks import CallbackSink, CSVSink, QueueSink, StdoutSink
from .sources import FolderSource, KafkaSource, MQTTSource, ReplaySource

__all__ = ["StreamRunner", "StreamStats", "make_sink", "make_source", "run_stream", "CallbackSink", "CSVSink",
           "QueueSink", "StdoutSink", "FolderSource", "KafkaSource", "MQTTSource", "ReplaySource"]
