"""The supervised Spark ML path: VectorAssembler + RandomForestClassifier on labelled rows.

Spark has no isolation forest; with labels, a random forest classifier learns what anomalies look
like. The score of a row is the forest's probability of "anomaly", so results feed
:func:`core.metrics.classification_metrics` and the dashboard like any other method's scores.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..errors import DataError
from ..thresholds import apply_threshold


@dataclass
class SparkForestResult:
    """What :func:`train_random_forest` returns.

    Attributes
    ----------
    model : pyspark.ml.PipelineModel
        The fitted assembler + forest (save it with ``model.write().overwrite().save(path)``).
    scores : pandas.DataFrame
        Rows of the test part (up to ``max_collect_rows``): ``row_id``, ``label`` (1 = anomaly),
        ``anomaly_score`` (probability of anomaly), ``anomaly_flag``.
    metrics : dict
        :func:`core.metrics.classification_metrics` on the test part at ``threshold``.
    threshold : float
    feature_importances : dict
        Feature name -> importance (sums to 1).
    """

    model: object
    scores: pd.DataFrame
    metrics: dict
    threshold: float
    feature_importances: dict
    counts: dict = field(default_factory=dict)
    seconds: float = 0.0


def train_random_forest(data, features: list[str], label: str, *, normal_value=None, num_trees: int = 50,
                        max_depth: int = 5, test_fraction: float = 0.2, seed: int = 21, threshold: float = 0.5,
                        out_path: str | None = None, max_collect_rows: int = 1_000_000,
                        master: str = "local[*]", spark=None) -> SparkForestResult:
    """Train a Spark ML random forest on labelled rows and score the held-out part.

    Parameters
    ----------
    data : str or pyspark.sql.DataFrame
        CSV/Parquet path or glob (see :func:`core.spark.batch.read_input`), or a DataFrame.
    features : list of str
        Numeric feature columns.
    label : str
        Label column. Anomaly = label differs from ``normal_value``; with ``normal_value=None``
        the label must be 0/1 with 1 = anomaly.
    num_trees, max_depth, seed : forest settings (S0 uses 50 trees).
    test_fraction : float
        Share of rows held out (random split with ``seed``) for the metrics.
    threshold : float
        Probability above which a row is flagged.
    out_path : str, optional
        Folder to export ``scores.parquet`` (every test row) and ``metrics.json``.
    max_collect_rows : int
        At most this many test rows are brought back as a pandas frame (all are in the export).

    Raises
    ------
    DataError
        Missing columns, a label with a single class, or too few rows.
    """
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import RandomForestClassifier
    from pyspark.ml.feature import VectorAssembler
    from pyspark.ml.functions import vector_to_array
    from pyspark.sql import functions as F

    from ..metrics import classification_metrics
    from .batch import read_input
    from .session import get_session

    started = time.perf_counter()
    if not 0 < test_fraction < 1:
        raise DataError(f"test_fraction must be between 0 and 1, got {test_fraction}.")
    if isinstance(data, (str, Path)):
        spark = spark or get_session(master)
        data = read_input(spark, str(data))
    missing = [c for c in [*features, label] if c not in data.columns]
    if missing:
        raise DataError(f"The data has no column {missing[0]!r}; it has: {', '.join(data.columns[:20])}.")
    if normal_value is None:
        truth = F.col(label).try_cast("double")
        bad = data.where(truth.isNull() | ~truth.isin(0.0, 1.0)).limit(1).count()
        if bad:
            raise DataError(f"The label column {label!r} must hold 0 (normal) and 1 (anomaly); "
                            "or give the value that means normal.")
        truth = truth.cast("int")
    else:
        truth = (F.col(label).cast("string") != str(normal_value)).cast("int")
    frame = (data.select(*[F.col(c).try_cast("double").alias(c) for c in features], truth.alias("label"))
             .dropna().withColumn("row_id", F.monotonically_increasing_id()))
    train, test = frame.randomSplit([1.0 - test_fraction, test_fraction], seed=seed)
    train = train.cache()
    classes = {r["label"]: r["count"] for r in train.groupBy("label").count().collect()}
    if len(classes) < 2:
        raise DataError("The training part has a single class; a classifier needs normal and anomalous rows.")

    assembler = VectorAssembler(inputCols=list(features), outputCol="features", handleInvalid="error")
    forest = RandomForestClassifier(featuresCol="features", labelCol="label", numTrees=int(num_trees),
                                    maxDepth=int(max_depth), seed=int(seed))
    model = Pipeline(stages=[assembler, forest]).fit(train)
    train.unpersist()
    scored = (model.transform(test)
              .select("row_id", "label", vector_to_array("probability")[1].alias("anomaly_score"))
              .withColumn("anomaly_flag", apply_threshold(F.col("anomaly_score"), threshold)))
    if out_path is not None:
        scored.write.mode("overwrite").parquet(str(Path(out_path) / "scores.parquet"))
        scored = scored.sparkSession.read.parquet(str(Path(out_path) / "scores.parquet"))
    scores = scored.limit(int(max_collect_rows)).toPandas()
    if scores.empty:
        raise DataError("The test part is empty; use more rows or a larger test_fraction.")
    metrics = classification_metrics(scores["label"].to_numpy(), scores["anomaly_score"].to_numpy(), float(threshold))
    importances = dict(zip(features, (float(v) for v in model.stages[-1].featureImportances.toArray())))
    result = SparkForestResult(model=model, scores=scores, metrics=metrics, threshold=float(threshold),
                               feature_importances=importances,
                               counts={"train_rows": int(sum(classes.values())), "test_rows_collected": len(scores)},
                               seconds=time.perf_counter() - started)
    if out_path is not None:
        report = {"metrics": metrics, "threshold": result.threshold, "features": list(features),
                  "feature_importances": importances, "num_trees": int(num_trees), "max_depth": int(max_depth),
                  **result.counts}
        (Path(out_path) / "metrics.json").write_text(json.dumps(report, indent=1, default=float))
    return result
