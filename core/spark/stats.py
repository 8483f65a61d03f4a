"""Two-sided z-score and IQR detection in pure Spark SQL, for data larger than memory.

Statistics come from the normal rows only (all rows when there is no label), as in
:mod:`core.detectors.statistical`, and every feature is judged on both sides, so low outliers are
caught as well as high ones. Scores match the in-memory detectors: the z-score is
``max_j |x_j - mean_j| / std_j`` (population std) and the IQR score is the largest distance outside
Tukey's fences ``[Q1 - k IQR, Q3 + k IQR]`` in IQRs (0 inside).

Quartiles are computed with Spark's ``approxQuantile`` (Greenwald-Khanna): with relative error
``e`` and ``N`` normal rows, the value returned for probability ``p`` is a data value whose rank lies
within ``[(p - e) N, (p + e) N]``. The default ``e = 0.001`` places the quartiles within 0.1% of the
rows of the exact ones in one pass over the data; ``e = 0`` computes them exactly (much slower).
"""

from __future__ import annotations

import time

from ..errors import DataError
from ..thresholds import apply_threshold

METHODS = ("zscore", "iqr")
_MIN_SPREAD = 1e-12  # a constant feature: any change from it is infinitely unusual (as in core)


def _label_expression(label: str, normal_value):
    from pyspark.sql import functions as F

    if normal_value is None:
        # 0/1 labels with 1 = anomaly (the convention of S0's `anomaly` column).
        return F.col(label).try_cast("double") != 0
    return F.col(label).cast("string") != str(normal_value)


def numeric_columns(frame, *, exclude=(), sample_rows: int = 200) -> list[str]:
    """Columns whose sampled non-empty values are all numbers (works on text columns read from CSV)."""
    from pyspark.sql import functions as F

    candidates = [c for c in frame.columns if c not in exclude]
    if not candidates:
        return []
    sample = frame.select(*candidates).limit(sample_rows)
    checks = [F.sum((F.col(c).isNotNull() & F.col(c).try_cast("double").isNull()).cast("int")).alias(c)
              for c in candidates]
    counts = sample.agg(*checks).collect()[0].asDict()
    return [c for c in candidates if not counts[c]]


def fit_statistics(frame, columns: list[str], method: str = "zscore", *, label: str | None = None,
                   normal_value=None, k: float | None = None, relative_error: float = 0.001) -> dict:
    """Per-feature statistics from the normal rows of a Spark DataFrame.

    Returns
    -------
    dict
        ``method``, ``columns``, ``n_normal`` and, for ``zscore``: ``mean``, ``std`` (population),
        ``threshold`` (k, default 3); for ``iqr``: ``q1``, ``q3``, ``lower``, ``upper``, ``iqr``,
        ``k`` (default 1.5), ``relative_error``, ``threshold`` (0).
    """
    from pyspark.sql import functions as F

    if method not in METHODS:
        raise DataError(f"Unknown Spark statistical method {method!r}; choose one of {', '.join(METHODS)}.")
    if not columns:
        raise DataError("Choose at least one numeric feature column.")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"The data has no column {missing[0]!r}; it has: {', '.join(frame.columns[:20])}.")
    if not 0 <= relative_error < 1:
        raise DataError(f"relative_error must be in [0, 1), got {relative_error}.")
    normal = frame.select(*[F.col(c).try_cast("double").alias(c) for c in columns],
                          *([_label_expression(label, normal_value).alias("__anomaly")] if label else []))
    if label:
        normal = normal.where(~F.col("__anomaly")).drop("__anomaly")
    normal = normal.dropna()
    stats: dict = {"method": method, "columns": list(columns)}
    if method == "zscore":
        aggregates = [F.count(F.lit(1)).alias("__n")]
        for c in columns:
            aggregates += [F.mean(c).alias(f"m_{c}"), F.stddev_pop(c).alias(f"s_{c}")]
        row = normal.agg(*aggregates).collect()[0]
        stats["n_normal"] = int(row["__n"])
        if stats["n_normal"] == 0:
            raise DataError("There are no normal rows with numbers in every feature column to learn from.")
        stats["mean"] = [float(row[f"m_{c}"]) for c in columns]
        stats["std"] = [max(float(row[f"s_{c}"]), _MIN_SPREAD) for c in columns]
        stats["threshold"] = float(3.0 if k is None else k)
        return stats
    stats["n_normal"] = int(normal.count())
    if stats["n_normal"] == 0:
        raise DataError("There are no normal rows with numbers in every feature column to learn from.")
    k = 1.5 if k is None else float(k)
    quartiles = normal.approxQuantile(list(columns), [0.25, 0.75], float(relative_error))
    q1 = [float(q[0]) for q in quartiles]
    q3 = [float(q[1]) for q in quartiles]
    iqr = [b - a for a, b in zip(q1, q3)]
    stats.update(q1=q1, q3=q3, k=k, relative_error=float(relative_error), threshold=0.0,
                 lower=[a - k * r for a, r in zip(q1, iqr)], upper=[b + k * r for b, r in zip(q3, iqr)],
                 iqr=[max(r, _MIN_SPREAD) for r in iqr])
    return stats


def apply_statistics(frame, stats: dict, *, score_column: str = "anomaly_score", flag_column: str = "anomaly_flag"):
    """Add the score and the 0/1 flag (lazily). Rows with a missing or non-numeric feature get nulls."""
    from pyspark.sql import functions as F

    columns = stats["columns"]
    values = {c: F.col(c).try_cast("double") for c in columns}
    if stats["method"] == "zscore":
        parts = [F.abs(values[c] - F.lit(m)) / F.lit(s) for c, m, s in zip(columns, stats["mean"], stats["std"])]
    else:
        parts = [(F.greatest(F.lit(lo) - values[c], F.lit(0.0)) + F.greatest(values[c] - F.lit(hi), F.lit(0.0)))
                 / F.lit(r) for c, lo, hi, r in zip(columns, stats["lower"], stats["upper"], stats["iqr"])]
    combined = parts[0] if len(parts) == 1 else F.greatest(*parts)
    incomplete = None
    for c in columns:  # greatest() skips nulls; a row with a missing feature must not get a score
        test = values[c].isNull() | F.isnan(values[c])
        incomplete = test if incomplete is None else incomplete | test
    score = F.when(incomplete, F.lit(None).cast("double")).otherwise(combined)
    frame = frame.withColumn(score_column, score)
    return frame.withColumn(flag_column, apply_threshold(F.col(score_column), stats["threshold"]))


def detect_files(data_glob: str, method: str = "zscore", *, columns: list[str] | None = None,
                 out_path: str | None = None, label: str | None = None, normal_value=None, k: float | None = None,
                 relative_error: float = 0.001, master: str = "local[*]", spark=None,
                 spark_conf: dict | None = None) -> dict:
    """Fit z-score or IQR statistics on files of any size and (optionally) write scored Parquet.

    Parameters
    ----------
    data_glob : str
        CSV or Parquet input (see :func:`core.spark.batch.read_input`).
    method : {"zscore", "iqr"}
    columns : list of str, optional
        Feature columns; default: every numeric column except the label.
    out_path : str, optional
        Where to write the input plus ``anomaly_score`` and ``anomaly_flag`` (Parquet).
    label, normal_value : optional
        A label column; statistics then come from the rows whose label equals ``normal_value``
        (or is 0 when ``normal_value`` is None), and precision/recall are reported.
    k : float, optional
        z-score threshold (default 3) or IQR fence width (default 1.5).
    relative_error : float
        Rank error bound of the IQR quartiles (see the module notes).

    Returns
    -------
    dict
        The statistics, plus ``rows``, ``flagged``, ``seconds`` and, with a label, ``precision`` and
        ``recall`` (anomaly = positive) computed in Spark.
    """
    from pyspark.sql import functions as F

    from .batch import read_input
    from .session import get_session

    started = time.perf_counter()
    spark = spark or get_session(master, conf=spark_conf)
    frame = read_input(spark, data_glob)
    if label is not None and label not in frame.columns:
        raise DataError(f"The data has no label column {label!r}.")
    columns = list(columns) if columns else numeric_columns(frame, exclude=(label,) if label else ())
    stats = fit_statistics(frame, columns, method, label=label, normal_value=normal_value, k=k,
                           relative_error=relative_error)
    scored = apply_statistics(frame, stats)
    if out_path is not None:
        scored.write.mode("overwrite").parquet(str(out_path))
        scored = spark.read.parquet(str(out_path))
    aggregates = [F.count(F.lit(1)).alias("rows"), F.sum("anomaly_flag").alias("flagged")]
    if label is not None:
        truth = _label_expression(label, normal_value).cast("int")
        flag = F.coalesce(F.col("anomaly_flag"), F.lit(0))
        aggregates += [F.sum(truth * flag).alias("tp"), F.sum((1 - truth) * flag).alias("fp"),
                       F.sum(truth * (1 - flag)).alias("fn")]
    row = scored.agg(*aggregates).collect()[0].asDict()
    result = {**stats, "rows": int(row["rows"]), "flagged": int(row["flagged"] or 0)}
    if label is not None:
        tp, fp, fn = (int(row[key] or 0) for key in ("tp", "fp", "fn"))
        result.update(tp=tp, fp=fp, fn=fn, precision=tp / (tp + fp) if tp + fp else 0.0,
                      recall=tp / (tp + fn) if tp + fn else 0.0)
    if out_path is not None:
        result["out_path"] = str(out_path)
    result["seconds"] = time.perf_counter() - started
    return result
