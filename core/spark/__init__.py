"""Scale-out scoring and statistics on Apache Spark.

Everything here imports :mod:`pyspark` inside functions, so ``import core.spark`` stays light and
the rest of :mod:`core` never needs Spark. Modules:

- :mod:`core.spark.session`: a local or cluster :class:`~pyspark.sql.SparkSession` set up for Arrow.
- :mod:`core.spark.batch`: :func:`~core.spark.batch.score_files` applies a saved model bundle to CSV
  or Parquet files of any size (the bundle is broadcast once, rows are scored per partition).
- :mod:`core.spark.stats`: two-sided z-score and IQR in pure Spark SQL, for data larger than memory.
- :mod:`core.spark.ml`: the supervised Spark ML path (VectorAssembler + RandomForestClassifier).
"""
