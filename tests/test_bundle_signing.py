"""Signed bundles: signed on save when a key is configured, refused on load when unsigned or wrongly
signed, in Python, the command line, Spark (executors included) and the dashboard."""

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core import signing
from core.errors import BundleError
from core.pipeline import DetectionPipeline

ROOT = Path(__file__).resolve().parent.parent
KEY = "correct horse battery staple 42"
OTHER_KEY = "another key of enough length"
FEATURES = ["a", "b"]


@pytest.fixture(autouse=True)
def no_configured_key(monkeypatch):
    monkeypatch.delenv(signing.KEY_ENV, raising=False)
    monkeypatch.delenv(signing.KEY_FILE_ENV, raising=False)


def _pipeline() -> DetectionPipeline:
    rows = np.random.default_rng(1).normal(size=(100, 2))
    return DetectionPipeline("zscore").fit(rows, feature_names=FEATURES)


def _members(data: bytes) -> dict[str, bytes]:
    archive = zipfile.ZipFile(io.BytesIO(data))
    return {name: archive.read(name) for name in archive.namelist()}


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, blob in members.items():
            archive.writestr(name, blob)
    return out.getvalue()


def test_configured_key_signs_on_save_and_is_required_on_load(monkeypatch):
    unsigned = _pipeline().to_bytes()
    assert "signature" not in _members(unsigned)
    monkeypatch.setenv(signing.KEY_ENV, KEY)
    signed = _pipeline().to_bytes()
    assert json.loads(_members(signed)["signature"])["algorithm"] == "HMAC-SHA256"
    assert DetectionPipeline.from_bytes(signed).feature_names_ == FEATURES
    with pytest.raises(BundleError, match="not signed"):
        DetectionPipeline.from_bytes(unsigned)
    monkeypatch.setenv(signing.KEY_ENV, OTHER_KEY)
    with pytest.raises(BundleError, match="signature does not match"):
        DetectionPipeline.from_bytes(signed)


def test_without_a_key_signed_bundles_load_and_explicit_keys_override_the_environment(monkeypatch):
    signed = _pipeline().to_bytes(key=KEY.encode())
    assert DetectionPipeline.from_bytes(signed).method == "zscore"
    monkeypatch.setenv(signing.KEY_ENV, OTHER_KEY)
    assert DetectionPipeline.from_bytes(signed, key=KEY.encode()).method == "zscore"
    with pytest.raises(BundleError, match="does not match"):
        DetectionPipeline.from_bytes(signed)


def test_any_change_to_a_signed_bundle_is_refused(monkeypatch):
    monkeypatch.setenv(signing.KEY_ENV, KEY)
    members = _members(_pipeline().to_bytes())
    manifest = json.loads(members["manifest.json"])
    manifest["threshold"] = manifest["threshold"] * 10  # a forger keeps the file otherwise valid
    forged = {**members, "manifest.json": json.dumps(manifest).encode()}
    with pytest.raises(BundleError, match="does not match"):
        DetectionPipeline.from_bytes(_zip(forged))
    stripped = {k: v for k, v in members.items() if k != "signature"}
    with pytest.raises(BundleError, match="not signed"):
        DetectionPipeline.from_bytes(_zip(stripped))
    garbled = {**members, "signature": b"{\"algorithm\": 1}"}
    with pytest.raises(BundleError, match="malformed"):
        DetectionPipeline.from_bytes(_zip(garbled))
    # arrays are covered through their checksum in the signed manifest
    arrays = dict(np.load(io.BytesIO(members["arrays.npz"])))
    arrays["scaler.center"] = arrays["scaler.center"] + 1
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    with pytest.raises(BundleError, match="checksum"):
        DetectionPipeline.from_bytes(_zip({**members, "arrays.npz": buffer.getvalue()}))


def test_key_file_and_bad_key_settings(monkeypatch, tmp_path):
    key_file = tmp_path / "bundle.key"
    key_file.write_text(KEY + "\n")
    monkeypatch.setenv(signing.KEY_FILE_ENV, str(key_file))
    signed = _pipeline().to_bytes()
    assert DetectionPipeline.from_bytes(signed, key=KEY.encode()).method == "zscore"  # newline ignored
    monkeypatch.setenv(signing.KEY_ENV, KEY)
    with pytest.raises(BundleError, match="only one"):
        DetectionPipeline.from_bytes(signed)
    monkeypatch.delenv(signing.KEY_ENV)
    monkeypatch.setenv(signing.KEY_FILE_ENV, str(tmp_path / "missing.key"))
    with pytest.raises(BundleError, match="Cannot read"):
        DetectionPipeline.from_bytes(signed)
    monkeypatch.delenv(signing.KEY_FILE_ENV)
    monkeypatch.setenv(signing.KEY_ENV, "short")
    with pytest.raises(BundleError, match="too short"):
        _pipeline().to_bytes()


def _cli(*args, env_key=None):
    env = {k: v for k, v in os.environ.items() if k not in (signing.KEY_ENV, signing.KEY_FILE_ENV)}
    if env_key:
        env[signing.KEY_ENV] = env_key
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


def test_command_line_refuses_unsigned_bundles_when_a_key_is_set(tmp_path):
    unsigned = _pipeline().save(tmp_path / "unsigned.bundle")
    pd.DataFrame({"a": [0.1, 9.0], "b": [0.2, -9.0]}).to_csv(tmp_path / "new.csv", index=False)
    refused = _cli("score", str(unsigned), str(tmp_path / "new.csv"), "--out", str(tmp_path / "out.csv"), env_key=KEY)
    assert refused.returncode == 2
    assert refused.stderr.startswith("error: This bundle is not signed") and "Traceback" not in refused.stderr
    signed = _pipeline().save(tmp_path / "signed.bundle", key=KEY.encode())
    accepted = _cli("score", str(signed), str(tmp_path / "new.csv"), "--out", str(tmp_path / "out.csv"), env_key=KEY)
    assert accepted.returncode == 0, accepted.stderr
    assert pd.read_csv(tmp_path / "out.csv")["anomaly_flag"].tolist() == [0, 1]


def test_spark_executor_loads_only_the_bytes_the_driver_verified():
    from core.spark.batch import _pipeline_from_bytes

    data = _pipeline().to_bytes()
    with pytest.raises(BundleError, match="differs from the one the driver verified"):
        _pipeline_from_bytes(data, "0" * 64)


def test_spark_refuses_unsigned_bundles_and_scores_signed_ones_without_the_key_on_executors(monkeypatch, tmp_path):
    from core.spark.batch import score_files
    from core.spark.session import get_session

    spark = get_session("local[2]", conf={"spark.sql.shuffle.partitions": "2", "spark.default.parallelism": "2"})
    pd.DataFrame({"a": [0.1, 9.0, 0.0], "b": [0.2, -9.0, 0.1]}).to_csv(tmp_path / "new.csv", index=False)
    unsigned = _pipeline().save(tmp_path / "unsigned.bundle")
    signed = _pipeline().save(tmp_path / "signed.bundle", key=KEY.encode())
    # set after the session started: the executors' environment has no key, and need none
    monkeypatch.setenv(signing.KEY_ENV, KEY)
    with pytest.raises(BundleError, match="not signed"):
        score_files(unsigned, str(tmp_path / "new.csv"), str(tmp_path / "out"), spark=spark)
    result = score_files(signed, str(tmp_path / "new.csv"), str(tmp_path / "out"), spark=spark)
    assert (result["rows"], result["flagged"]) == (3, 1)


def test_command_line_key_file_signs_on_train_and_is_required_on_score(tmp_path):
    key_file = tmp_path / "bundle.key"
    key_file.write_text(KEY)
    rows = pd.DataFrame(np.random.default_rng(2).normal(size=(80, 2)), columns=FEATURES)
    rows.to_csv(tmp_path / "train.csv", index=False)
    trained = _cli("train", str(tmp_path / "train.csv"), "--method", "zscore", "--test-size", "0",
                   "--out", str(tmp_path / "model.bundle"), "--key-file", str(key_file))
    assert trained.returncode == 0, trained.stderr
    assert "signature" in _members((tmp_path / "model.bundle").read_bytes())
    score = ["score", str(tmp_path / "model.bundle"), str(tmp_path / "train.csv"), "--out", str(tmp_path / "out.csv")]
    assert _cli(*score, "--key-file", str(key_file)).returncode == 0
    wrong_key = tmp_path / "other.key"
    wrong_key.write_text(OTHER_KEY)
    refused = _cli(*score, "--key-file", str(wrong_key))
    assert refused.returncode == 2 and "signature does not match" in refused.stderr
    missing = _cli(*score, "--key-file", str(tmp_path / "missing.key"))
    assert missing.returncode == 2 and missing.stderr.startswith("error: Cannot read the bundle signing key file")
