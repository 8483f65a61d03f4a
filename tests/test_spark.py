"""Spark engine: batch scoring with bundles, SQL statistics and the Spark ML forest, in local mode."""

import json
import os

import numpy as np
import pandas as pd
import pytest

from core.errors import BundleError, DataError
from core.pipeline import DetectionPipeline

FEATURES = ["temperature", "pressure", "humidity"]
DRIVER_MEMORY = "512m"


@pytest.fixture(scope="module")
def spark():
    from core.spark.session import get_session

    session = get_session("local[2]", conf={"spark.driver.memory": DRIVER_MEMORY,
                                            "spark.sql.shuffle.partitions": "2",
                                            "spark.default.parallelism": "2"})
    yield session
    session.stop()


def sensor_frame(n=3000, seed=0, spike_share=0.02):
    """Readings with two-sided spikes and a 0/1 `anomaly` label, plus a text column to carry along."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"id": np.arange(n), "site": rng.choice(["north", "south"], n)})
    X = rng.normal([20.0, 1000.0, 50.0], [1.0, 5.0, 3.0], size=(n, 3))
    spikes = rng.random(n) < spike_share
    X[spikes, 0] += rng.choice([-8.0, 8.0], spikes.sum())
    frame[FEATURES] = X
    frame["anomaly"] = spikes.astype(int)
    return frame


def fitted(method, frame, **params):
    normal = frame[frame["anomaly"] == 0]
    if method == "isolation_forest":
        params.setdefault("n_estimators", 50)
    return DetectionPipeline(method, params).fit(normal[FEATURES].to_numpy(), feature_names=FEATURES)


@pytest.mark.parametrize("method", ["isolation_forest", "zscore", "pca"])
def test_spark_scores_equal_in_memory_scores(spark, tmp_path, method):
    from core.spark.batch import score_files

    frame = sensor_frame()
    pipeline = fitted(method, frame)
    pipeline.save(tmp_path / "model.bundle")
    # Two CSV files read through one glob.
    frame.iloc[:1500].to_csv(tmp_path / "part-1.csv", index=False)
    frame.iloc[1500:].to_csv(tmp_path / "part-2.csv", index=False)
    result = score_files(tmp_path / "model.bundle", str(tmp_path / "part-*.csv"), str(tmp_path / "out"), spark=spark)

    out = pd.read_parquet(tmp_path / "out").sort_values("id", key=lambda s: s.astype(int)).reset_index(drop=True)
    assert list(out.columns) == [*frame.columns, "anomaly_score", "anomaly_flag"]
    expected = pipeline.score(frame[FEATURES])
    np.testing.assert_allclose(out["anomaly_score"].to_numpy(), expected, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(out["anomaly_flag"].to_numpy(), (expected > pipeline.threshold_).astype(int))
    assert result["rows"] == len(frame) and result["unscored"] == 0
    assert result["flagged"] == int((expected > pipeline.threshold_).sum())


def test_parquet_input_and_unscorable_rows_are_kept_with_null_scores(spark, tmp_path):
    from core.spark.batch import score_files

    frame = sensor_frame(500)
    pipeline = fitted("zscore", frame)
    pipeline.save(tmp_path / "model.bundle")
    frame["humidity"] = frame["humidity"].astype(object)
    frame.loc[7, "humidity"] = "n/a"
    frame.loc[9, "humidity"] = None
    frame.astype({"humidity": "string"}).to_parquet(tmp_path / "data.parquet")
    result = score_files(tmp_path / "model.bundle", str(tmp_path / "data.parquet"), str(tmp_path / "out"),
                         spark=spark)
    out = pd.read_parquet(tmp_path / "out").set_index("id").sort_index()
    assert result["rows"] == 500 and result["unscored"] == 2
    assert out.loc[[7, 9], "anomaly_score"].isna().all() and out.loc[[7, 9], "anomaly_flag"].isna().all()
    assert out["anomaly_score"].notna().sum() == 498


def test_headerless_csv_gets_positional_column_names(spark, tmp_path):
    from core.spark.batch import score_files

    rng = np.random.default_rng(1)
    X = rng.normal(size=(400, 4))
    pipeline = DetectionPipeline("zscore").fit(X, feature_names=["0", "1", "2", "3"])
    pipeline.save(tmp_path / "model.bundle")
    pd.DataFrame(X).to_csv(tmp_path / "data.csv", index=False, header=False)
    score_files(tmp_path / "model.bundle", str(tmp_path / "data.csv"), str(tmp_path / "out"), spark=spark)
    out = pd.read_parquet(tmp_path / "out")
    assert len(out) == 400  # the first line is data, not a header
    np.testing.assert_allclose(np.sort(out["anomaly_score"].to_numpy()), np.sort(pipeline.score(X)), rtol=1e-9)


def test_file_larger_than_driver_memory_is_scored_through_partitions(spark, tmp_path):
    """CSV 15% larger than the 512 MB driver's whole heap: only works if rows stream through partitions."""
    from core.spark.batch import score_files

    rng = np.random.default_rng(2)
    X = rng.normal(size=(2000, 3))
    chunk = pd.DataFrame(X, columns=FEATURES)
    chunk["note"] = "x" * 250  # wide rows keep the row count (and the test's time) modest
    body = chunk.to_csv(index=False, header=False).encode()
    heap = spark.sparkContext._jvm.java.lang.Runtime.getRuntime().maxMemory()
    repeats = int(1.15 * heap) // len(body) + 1
    path = tmp_path / "big.csv"
    with open(path, "wb") as handle:
        handle.write((",".join([*FEATURES, "note"]) + "\n").encode())
        for _ in range(repeats):
            handle.write(body)
    assert os.path.getsize(path) > heap, "the test file must be larger than the driver's heap"

    pipeline = DetectionPipeline("zscore").fit(X, feature_names=FEATURES)
    pipeline.save(tmp_path / "model.bundle")
    result = score_files(tmp_path / "model.bundle", str(path), str(tmp_path / "out"), spark=spark)
    assert result["rows"] == repeats * 2000
    assert result["unscored"] == 0
    assert result["flagged"] == repeats * int((pipeline.score(X) > pipeline.threshold_).sum())
    path.unlink()


def test_bad_path_missing_features_window_model_and_bad_bundle_raise_clear_errors(spark, tmp_path):
    from core.spark.batch import score_files

    frame = sensor_frame(300)
    pipeline = fitted("zscore", frame)
    pipeline.save(tmp_path / "model.bundle")
    with pytest.raises(DataError, match="No input found"):
        score_files(tmp_path / "model.bundle", str(tmp_path / "nothing-*.csv"), str(tmp_path / "out"), spark=spark)

    frame.drop(columns=["pressure"]).to_csv(tmp_path / "data.csv", index=False)
    with pytest.raises(DataError, match="lacks 1 of the model's feature columns: pressure"):
        score_files(tmp_path / "model.bundle", str(tmp_path / "data.csv"), str(tmp_path / "out"), spark=spark)

    series = np.sin(np.linspace(0, 20, 300))[:, None]
    DetectionPipeline("rolling_median").fit(series, feature_names=["temperature"]).save(tmp_path / "series.bundle")
    frame.to_csv(tmp_path / "full.csv", index=False)
    with pytest.raises(DataError, match="local engine"):
        score_files(tmp_path / "series.bundle", str(tmp_path / "full.csv"), str(tmp_path / "out"), spark=spark)

    (tmp_path / "junk.bundle").write_bytes(b"not a bundle")
    with pytest.raises(BundleError):
        score_files(tmp_path / "junk.bundle", str(tmp_path / "full.csv"), str(tmp_path / "out"), spark=spark)


def test_sql_zscore_is_two_sided_and_matches_the_in_memory_detector(spark, tmp_path):
    from core.spark.stats import detect_files

    frame = sensor_frame(4000, seed=3)
    frame.to_csv(tmp_path / "data.csv", index=False)
    result = detect_files(str(tmp_path / "data.csv"), "zscore", columns=FEATURES, label="anomaly",
                          out_path=str(tmp_path / "out"), spark=spark)
    out = pd.read_parquet(tmp_path / "out").sort_values("id", key=lambda s: s.astype(int))
    expected = fitted("zscore", frame).score(frame[FEATURES])
    np.testing.assert_allclose(out["anomaly_score"].to_numpy(), expected, rtol=1e-9)
    low = frame["temperature"].to_numpy() < 12  # spikes below the mean are found too
    assert low.any() and out["anomaly_flag"].to_numpy()[low].all()
    # |z| > 3 on three Gaussian features also flags ~0.8% of normal rows: precision is modest by design.
    assert result["recall"] > 0.95 and result["precision"] > 0.6
    assert result["n_normal"] == int((frame["anomaly"] == 0).sum())


def test_sql_iqr_quartiles_respect_the_stated_rank_error(spark, tmp_path):
    from core.spark.stats import detect_files

    frame = sensor_frame(5000, seed=4)
    frame.to_parquet(tmp_path / "data.parquet")
    error = 0.01
    result = detect_files(str(tmp_path / "data.parquet"), "iqr", columns=FEATURES, label="anomaly",
                          relative_error=error, spark=spark)
    normal = np.sort(frame.loc[frame["anomaly"] == 0, FEATURES].to_numpy(), axis=0)
    n = normal.shape[0]
    for j in range(len(FEATURES)):
        for p, value in ((0.25, result["q1"][j]), (0.75, result["q3"][j])):
            rank = np.searchsorted(normal[:, j], value, side="right")
            assert (p - error) * n - 1 <= rank <= (p + error) * n + 1
    # Tukey's fences sit near 2.7 sigma: about 0.7% of Gaussian normal rows per feature fall outside.
    assert result["recall"] > 0.95 and result["fp"] < 0.03 * n


def test_spark_ml_random_forest_exports_scores_and_metrics(spark, tmp_path):
    from core.metrics import classification_metrics
    from core.spark.ml import train_random_forest

    frame = sensor_frame(3000, seed=5, spike_share=0.05)
    frame.to_csv(tmp_path / "data.csv", index=False)
    result = train_random_forest(str(tmp_path / "data.csv"), FEATURES, "anomaly", num_trees=20,
                                 out_path=str(tmp_path / "forest"), spark=spark)
    scores = result.scores
    assert {"row_id", "label", "anomaly_score", "anomaly_flag"} <= set(scores.columns)
    assert scores["anomaly_score"].between(0, 1).all()
    again = classification_metrics(scores["label"], scores["anomaly_score"], result.threshold)
    assert again["f1"] == pytest.approx(result.metrics["f1"])
    assert result.metrics["roc_auc"] > 0.95 and result.metrics["recall"] > 0.8
    assert max(result.feature_importances, key=result.feature_importances.get) == "temperature"
    exported = json.loads((tmp_path / "forest" / "metrics.json").read_text())
    assert exported["metrics"]["tp"] == result.metrics["tp"]
    assert len(pd.read_parquet(tmp_path / "forest" / "scores.parquet")) == len(scores)

    frame.assign(anomaly=0).to_csv(tmp_path / "one_class.csv", index=False)
    with pytest.raises(DataError, match="single class"):
        train_random_forest(str(tmp_path / "one_class.csv"), FEATURES, "anomaly", spark=spark)


def test_command_line_scores_with_the_spark_engine(spark, tmp_path, capsys):
    from core.cli import main

    frame = sensor_frame(300)
    fitted("zscore", frame).save(tmp_path / "model.bundle")
    frame.to_csv(tmp_path / "data.csv", index=False)
    status = main(["score", str(tmp_path / "model.bundle"), str(tmp_path / "data.csv"), "--engine", "spark",
                   "--master", "local[2]", "--out", str(tmp_path / "out")])
    assert status == 0, capsys.readouterr().err
    assert len(pd.read_parquet(tmp_path / "out")) == 300
    assert main(["score", str(tmp_path / "model.bundle"), str(tmp_path / "none.csv"), "--engine", "spark",
                 "--out", str(tmp_path / "out2")]) == 2
    assert "No input found" in capsys.readouterr().err
