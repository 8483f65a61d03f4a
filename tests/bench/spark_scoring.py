"""Throughput of batch scoring: Spark local[N] versus the in-memory scorer, file to file.

Run on demand::

    .venv/bin/python -m tests.bench.spark_scoring [--sizes 100000,1000000,10000000] [--methods zscore,isolation_forest]

For each model and size it writes a Parquet file of generated sensor rows, then times
(a) in memory: read the file with pandas, ``pipeline.score``, write Parquet, and
(b) Spark: :func:`core.spark.batch.score_files` (session already started; its start is timed once).
Rows/second are printed and saved to ``artifacts/bench_spark_scoring.json``; the crossover is
estimated from a straight line ``seconds = fixed + rows / rate`` fitted to each engine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from core.pipeline import DetectionPipeline

FEATURES = ["temperature", "pressure", "humidity"]


def make_file(path: Path, rows: int, seed: int = 0, chunk: int = 1_000_000) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    writer = None
    for start in range(0, rows, chunk):
        n = min(chunk, rows - start)
        X = rng.normal([20.0, 1000.0, 50.0], [1.0, 5.0, 3.0], size=(n, 3))
        spikes = rng.random(n) < 0.005
        X[spikes, 0] += 8
        table = pa.table({"id": np.arange(start, start + n), **{f: X[:, j] for j, f in enumerate(FEATURES)}})
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    writer.close()


def in_memory(model_path: Path, data: Path, out: Path) -> float:
    started = time.perf_counter()
    pipeline = DetectionPipeline.load(model_path)
    frame = pd.read_parquet(data)
    scores = pipeline.score(frame)
    frame["anomaly_score"] = scores
    frame["anomaly_flag"] = (scores > pipeline.threshold_).astype("int32")
    frame.to_parquet(out)
    return time.perf_counter() - started


def fit_line(sizes, seconds):
    """seconds = fixed + rows / rate, least squares; returns (fixed, rate)."""
    slope, fixed = np.polyfit(np.asarray(sizes, float), np.asarray(seconds, float), 1)
    return float(fixed), (float(1 / slope) if slope > 0 else float("inf"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100000,1000000,10000000")
    parser.add_argument("--methods", default="zscore,isolation_forest")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    methods = args.methods.split(",")
    work = Path(tempfile.mkdtemp(prefix="bench-spark-"))

    from core.spark.batch import score_files
    from core.spark.session import get_session

    started = time.perf_counter()
    spark = get_session(args.master, conf={"spark.driver.memory": "2g", "spark.sql.shuffle.partitions": "2"})
    session_seconds = time.perf_counter() - started
    print(f"Spark session start ({args.master}): {session_seconds:.1f} s")

    rng = np.random.default_rng(1)
    train = rng.normal([20.0, 1000.0, 50.0], [1.0, 5.0, 3.0], size=(20_000, 3))
    results = []
    for method in methods:
        model = work / f"{method}.bundle"
        DetectionPipeline(method).fit(train, feature_names=FEATURES).save(model)
        # Warm the Spark Python workers once (imports, bundle load) so that sizes compare fairly.
        make_file(work / "warm.parquet", 1000)
        score_files(model, str(work / "warm.parquet"), str(work / "warm_out"), spark=spark)
        for rows in sizes:
            data = work / f"data_{rows}.parquet"
            if not data.exists():
                make_file(data, rows)
            memory = min(in_memory(model, data, work / "mem.parquet") for _ in range(args.repeats))
            spark_times = []
            for _ in range(args.repeats):
                t = time.perf_counter()
                summary = score_files(model, str(data), str(work / "spark_out"), spark=spark, summary=False)
                spark_times.append(time.perf_counter() - t)
            spark_seconds = min(spark_times)
            row = {"method": method, "rows": rows, "memory_s": memory, "spark_s": spark_seconds,
                   "memory_rows_per_s": rows / memory, "spark_rows_per_s": rows / spark_seconds}
            results.append(row)
            print(f"{method:>17} {rows:>11,} rows  in memory {memory:7.2f} s ({rows / memory:>12,.0f} rows/s)   "
                  f"spark {spark_seconds:7.2f} s ({rows / spark_seconds:>12,.0f} rows/s)", flush=True)
            del summary
    crossovers = {}
    for method in methods:
        mine = [r for r in results if r["method"] == method]
        if len(mine) < 2:
            continue
        m_fixed, m_rate = fit_line([r["rows"] for r in mine], [r["memory_s"] for r in mine])
        s_fixed, s_rate = fit_line([r["rows"] for r in mine], [r["spark_s"] for r in mine])
        if s_rate > m_rate and s_fixed > m_fixed:
            crossover = (s_fixed - m_fixed) / (1 / m_rate - 1 / s_rate)
            text = f"Spark is faster above about {crossover:,.0f} rows"
        elif s_rate > m_rate:
            crossover, text = 0.0, "Spark is faster at every measured size"
        else:
            crossover, text = None, "no crossover: in memory is faster per row too (until memory runs out)"
        crossovers[method] = {"memory_fixed_s": m_fixed, "memory_rate": m_rate, "spark_fixed_s": s_fixed,
                              "spark_rate": s_rate, "crossover_rows": crossover, "summary": text}
        print(f"{method}: in memory {m_fixed:.2f} s + rows/{m_rate:,.0f}; spark {s_fixed:.2f} s + rows/{s_rate:,.0f}; "
              f"{text}")
    spark.stop()
    shutil.rmtree(work, ignore_errors=True)
    report = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
              "master": args.master, "session_start_s": session_seconds, "results": results, "crossover": crossovers}
    Path("artifacts").mkdir(exist_ok=True)
    Path("artifacts/bench_spark_scoring.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
