"""Score CSV or Parquet files of any size with a saved model bundle, on Spark.

The bundle's bytes are broadcast to the executors once; each executor rebuilds the pipeline once
per Python worker and scores its partitions batch by batch through Arrow (``mapInPandas``), so no
machine ever holds more than one Arrow batch of rows in Python, whatever the size of the input.
"""

from __future__ import annotations

import csv
import glob
import hashlib
import io
import time
from pathlib import Path

import numpy as np
import pandas as pd

from .. import signing
from ..errors import BundleError, DataError
from ..pipeline import DetectionPipeline
from ..thresholds import apply_threshold

SCORE_COLUMN = "anomaly_score"
FLAG_COLUMN = "anomaly_flag"
_PARQUET_SUFFIXES = (".parquet", ".pq")
_PIPELINES: dict[str, DetectionPipeline] = {}  # per Python worker: bundle digest -> pipeline


def _pipeline_from_bytes(data: bytes, verified_sha256: str) -> DetectionPipeline:
    """Rebuild, once per worker process, the bundle the driver verified.

    The driver checked the bundle, its signature included, and sends its SHA-256 with the task:
    an executor loads only those exact bytes, so the signature holds on executors without the
    signing key ever leaving the driver. Every other check runs again here.
    """
    digest = hashlib.sha256(data).hexdigest()
    if digest != verified_sha256:
        raise BundleError("The model reaching this executor differs from the one the driver verified; refusing it.")
    if digest not in _PIPELINES:
        _PIPELINES[digest] = DetectionPipeline.from_bytes(data, key=None)
    return _PIPELINES[digest]


def _has_scheme(path: str) -> bool:
    return "://" in path and not path.startswith("file://")


def _local_matches(path: str) -> list[str]:
    local = path[len("file://"):] if path.startswith("file://") else path
    return glob.glob(local) if glob.has_magic(local) else ([local] if Path(local).exists() else [])


def _detect_format(path: str, matches: list[str]) -> str:
    candidates = [path, *matches]
    for candidate in candidates:
        if Path(candidate).is_dir():
            inner = [p for p in Path(candidate).rglob("*") if p.is_file() and not p.name.startswith(("_", "."))]
            candidates.extend(str(p) for p in inner[:5])
    names = [c.lower() for c in candidates if not Path(c).is_dir()]
    if names and all(n.endswith(_PARQUET_SUFFIXES) for n in names):
        return "parquet"
    if any(n.endswith(_PARQUET_SUFFIXES) for n in names):
        raise DataError(f"'{path}' mixes Parquet and other files; point at one kind.")
    return "csv"


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def read_input(spark, data_glob: str, *, input_format: str | None = None, header: bool | str = "auto",
               delimiter: str = ","):
    """Read CSV or Parquet files (a path, a folder or a glob) as a Spark DataFrame.

    Parameters
    ----------
    spark : SparkSession
    data_glob : str
        A file, a folder of files, or a glob such as ``data/part-*.csv``; any Hadoop URL
        (``hdfs://``, ``s3a://``) works when the cluster can reach it.
    input_format : {"csv", "parquet"}, optional
        Default: from the file names (``.parquet``/``.pq`` are Parquet, anything else CSV).
    header : bool or "auto"
        For CSV: ``"auto"`` treats a first line made only of numbers as data, as
        :func:`core.data.read_table` does; headerless columns are named ``"0", "1", ...``.
    delimiter : str
        CSV field separator.

    Raises
    ------
    DataError
        Nothing matches the path, or the files cannot be read.
    """
    data_glob = str(data_glob)
    matches: list[str] = []
    if not _has_scheme(data_glob):
        matches = _local_matches(data_glob)
        if not matches:
            raise DataError(f"No input found at '{data_glob}'. Check the path or the glob pattern.")
    fmt = (input_format or _detect_format(data_glob, matches)).lower()
    if fmt not in ("csv", "parquet"):
        raise DataError(f"Unknown input format {input_format!r}; use 'csv' or 'parquet'.")
    try:
        if fmt == "parquet":
            return spark.read.parquet(data_glob)
        if header == "auto":
            first = spark.read.text(data_glob).limit(1).collect()
            if not first:
                raise DataError(f"'{data_glob}' is empty: the files have no content.")
            fields = next(csv.reader(io.StringIO(first[0][0]), delimiter=delimiter))
            header = not all(_is_number(f) for f in fields)
        # Every column is read as text: inferring types would read all the data an extra time.
        frame = spark.read.option("header", bool(header)).option("sep", delimiter).csv(data_glob)
        if not header:
            frame = frame.toDF(*[str(i) for i in range(len(frame.columns))])
        return frame
    except DataError:
        raise
    except Exception as exc:  # AnalysisException (missing path, unreadable file) and friends
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"Spark cannot read '{data_glob}': {message}") from exc


def score_dataframe(frame, pipeline: DetectionPipeline, *, bundle_bytes: bytes | None = None,
                    score_column: str = SCORE_COLUMN, flag_column: str = FLAG_COLUMN):
    """Add the model's score and 0/1 flag to a Spark DataFrame (lazily; nothing runs until an action).

    Rows whose features are missing or not numbers get a null score and a null flag: they are
    kept and can be counted, never scored as if they were something else.

    ``bundle_bytes``, the bundle ``pipeline`` was read from, is sent to the executors instead of a
    new copy; it is verified here first (signature included, see :mod:`core.signing`).

    Raises
    ------
    DataError
        The model's scores depend on neighbouring steps (``step_context()``: window models), or
        the frame lacks a feature column.
    BundleError
        ``bundle_bytes`` is not a valid bundle, or not signed when a signing key is configured.
    """
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    context = pipeline.step_context()
    if context.past or context.future:
        raise DataError(f"The model '{pipeline.method}' scores each step from the {context.past} steps before it"
                        + (f" and the {context.future} after it" if context.future else "")
                        + "; Spark partitions would cut the series. Score it with the local engine instead.")
    features = list(pipeline.feature_names_)
    missing = [f for f in features if f not in frame.columns]
    if missing:
        shown = ", ".join(missing[:10]) + (" ..." if len(missing) > 10 else "")
        raise DataError(f"The data lacks {len(missing)} of the model's feature columns: {shown}. "
                        f"The file has: {', '.join(frame.columns[:20])}.")
    clash = [c for c in (score_column, flag_column) if c in frame.columns]
    if clash:
        raise DataError(f"The data already has a column named {clash[0]!r}; rename it or choose other output names.")

    # Features travel to Python as doubles (compact in Arrow); text that is not a number becomes null.
    for name in features:
        if not isinstance(frame.schema[name].dataType, T.DoubleType):
            frame = frame.withColumn(name, F.col(name).try_cast("double"))
    if bundle_bytes is None:
        bundle_bytes = pipeline.to_bytes(key=None)  # made here from a loaded pipeline: nothing to verify
    else:
        DetectionPipeline.from_bytes(bundle_bytes)
    verified_sha256 = hashlib.sha256(bundle_bytes).hexdigest()
    spark = frame.sparkSession
    broadcast = spark.sparkContext.broadcast(bundle_bytes)
    threshold = float(pipeline.threshold_)
    schema = T.StructType([*frame.schema.fields, T.StructField(score_column, T.DoubleType(), True),
                           T.StructField(flag_column, T.IntegerType(), True)])

    def score_batches(batches):
        model = _pipeline_from_bytes(broadcast.value, verified_sha256)
        for batch in batches:
            X = batch[features].to_numpy(dtype=float)
            valid = np.isfinite(X).all(axis=1)
            scores = np.full(len(batch), np.nan)
            if valid.any():
                scores[valid] = model.score(X[valid])
            score_values = pd.array(scores, dtype="Float64")
            score_values[~valid] = pd.NA
            flags = pd.array(apply_threshold(scores, threshold).astype("int32"), dtype="Int32")
            flags[~valid] = pd.NA
            yield batch.assign(**{score_column: score_values, flag_column: flags})

    return frame.mapInPandas(score_batches, schema)


def score_files(model_path, data_glob, out_path, master: str = "local[*]", *, spark=None,
                input_format: str | None = None, header: bool | str = "auto", delimiter: str = ",",
                mode: str = "overwrite", spark_conf: dict | None = None, summary: bool = True,
                key=signing.FROM_ENVIRONMENT) -> dict:
    """Score CSV or Parquet files with a saved bundle on Spark and write Parquet.

    Parameters
    ----------
    model_path : str or Path
        Bundle written by :meth:`core.pipeline.DetectionPipeline.save`.
    data_glob : str
        Input: a file, a folder or a glob (see :func:`read_input`), of any size.
    out_path : str
        Output Parquet folder: the input columns (the model's features as doubles) plus ``anomaly_score`` (float, null for rows
        whose features are missing or not numbers) and ``anomaly_flag`` (0/1, null likewise).
    master : str
        Spark master URL, used when this call starts the session.
    spark : SparkSession, optional
        An existing session (``master`` and ``spark_conf`` are then ignored).
    input_format, header, delimiter : see :func:`read_input`.
    mode : str
        Spark write mode: ``"overwrite"`` (default), ``"error"``, ``"append"``.
    spark_conf : dict, optional
        Extra Spark settings for a new session, e.g. ``{"spark.driver.memory": "4g"}``.
    summary : bool
        Count rows, flagged and unscored rows from the written output (a cheap second pass over
        two Parquet columns).
    key : bytes, None or FROM_ENVIRONMENT
        Signing key the bundle must be signed with (see :mod:`core.signing`); checked on the driver.

    Returns
    -------
    dict
        ``out_path``, ``seconds``, ``threshold`` and, with ``summary``, ``rows``, ``flagged``, ``unscored``.

    Raises
    ------
    DataError
        Missing or unreadable input, or input lacking the model's feature columns.
    BundleError
        The model file is not a valid bundle.
    """
    from .session import get_session

    started = time.perf_counter()
    pipeline = DetectionPipeline.load(model_path, key=key)  # clear BundleError for a missing, bad or unsigned file
    spark = spark or get_session(master, conf=spark_conf)
    frame = read_input(spark, data_glob, input_format=input_format, header=header, delimiter=delimiter)
    scored = score_dataframe(frame, pipeline)
    scored.write.mode(mode).parquet(str(out_path))
    result = {"out_path": str(out_path), "threshold": float(pipeline.threshold_)}
    if summary:
        from pyspark.sql import functions as F

        row = spark.read.parquet(str(out_path)).agg(
            F.count(F.lit(1)).alias("rows"),
            F.sum(F.col(FLAG_COLUMN)).alias("flagged"),
            F.sum(F.col(SCORE_COLUMN).isNull().cast("int")).alias("unscored")).collect()[0]
        result.update(rows=int(row["rows"]), flagged=int(row["flagged"] or 0), unscored=int(row["unscored"] or 0))
    result["seconds"] = time.perf_counter() - started
    return result
