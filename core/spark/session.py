"""A Spark session set up for scoring with :mod:`core` bundles."""

from __future__ import annotations

import io
import os
import sys
import warnings
import zipfile
from pathlib import Path

from ..errors import DataError

_CORE_DIR = Path(__file__).resolve().parent.parent

#: Settings that suit scoring: Arrow transfers to Python, no web UI, few shuffle partitions
#: (the jobs here have no shuffle worth spreading), quiet logs.
DEFAULT_CONF = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "8",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.execution.arrow.maxRecordsPerBatch": "10000",
    "spark.driver.extraJavaOptions": "-Dlog4j.rootLogger=ERROR",
}


def get_session(master: str = "local[*]", *, app_name: str = "anomaly-detection", conf: dict | None = None):
    """Start (or reuse) a :class:`pyspark.sql.SparkSession`.

    Parameters
    ----------
    master : str
        Spark master URL: ``local[*]``, ``local[2]``, ``spark://host:7077``, ``yarn``, ...
    app_name : str
        Name shown in the Spark UI.
    conf : dict, optional
        Extra Spark settings, e.g. ``{"spark.driver.memory": "2g"}``. Settings of the JVM itself
        (driver memory) apply only when this call starts the session.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:  # pragma: no cover - pyspark is a listed dependency
        raise DataError("The Spark engine needs pyspark; install it with `pip install pyspark`.") from exc
    # Executors must import `core` to load the bundle; with a local master they inherit this path.
    root = str(_CORE_DIR.parent)
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if root not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([root, *paths])
    # pandas 3 works for everything used here (tests compare Spark with in-memory scores); the
    # version warning PySpark prints on every Arrow call is noise.
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")
    # Workers must run the same interpreter (same packages) as the driver.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.master(master).appName(app_name)
    for key, value in {**DEFAULT_CONF, **(conf or {})}.items():
        builder = builder.config(key, value)
    try:
        spark = builder.getOrCreate()
    except Exception as exc:  # the JVM could not start: missing Java, bad master URL
        raise DataError(f"Spark could not start (master {master!r}): {exc}. "
                        "Spark needs a Java runtime (`java -version`).") from exc
    spark.sparkContext.setLogLevel("ERROR")
    if not master.startswith("local"):
        ship_core(spark)
    return spark


def ship_core(spark) -> None:
    """Send the :mod:`core` package to the executors of a cluster (once per session)."""
    context = spark.sparkContext
    if getattr(context, "_core_shipped", False):
        return
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in _CORE_DIR.rglob("*.py"):
            archive.write(path, path.relative_to(_CORE_DIR.parent).as_posix())
    import tempfile

    target = Path(tempfile.mkdtemp(prefix="core-")) / "core.zip"
    target.write_bytes(buffer.getvalue())
    context.addPyFile(str(target))
    context._core_shipped = True
