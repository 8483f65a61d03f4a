"""The command line: evaluate, train, score and error handling, run as a real subprocess."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(*args):
    return subprocess.run([sys.executable, "-m", "core", *map(str, args)], capture_output=True, text=True, cwd=ROOT)


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    rng = np.random.default_rng(0)
    normal = rng.normal(size=(400, 3))
    anomalies = rng.normal(size=(40, 3)) + 5
    frame = pd.DataFrame(np.vstack([normal, anomalies]), columns=["a", "b", "c"])
    frame["label"] = ["ok"] * 400 + ["bad"] * 40
    path = tmp_path_factory.mktemp("cli") / "rows.csv"
    frame.to_csv(path, index=False)
    return path


def test_evaluate_json(table):
    out = run("evaluate", table, "--method", "knn", "--label-column", "label", "--normal-value", "ok",
              "--param", "n_neighbors=3", "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    expected = {"method", "roc_auc", "pr_auc", "precision", "recall", "f1", "accuracy", "threshold",
                "n_train", "n_test", "fit_seconds", "score_seconds", "device"}
    assert expected <= set(result)
    assert result["n_test"] == 88 and result["roc_auc"] > 0.95
    assert result["n_train"] < 352  # only the normal rows of the training part


def test_train_then_score(table, tmp_path):
    model, scored = tmp_path / "m.bundle", tmp_path / "scored.csv"
    out = run("train", table, "--method", "zscore", "--label-column", "label", "--normal-value", "ok", "--out", model)
    assert out.returncode == 0, out.stderr
    out = run("score", model, table, "--out", scored)
    assert out.returncode == 0, out.stderr
    frame = pd.read_csv(scored)
    assert {"a", "b", "c", "label", "anomaly_score", "anomaly_flag"} <= set(frame.columns)
    assert frame.loc[frame.label == "bad", "anomaly_flag"].mean() > 0.9
    assert frame.loc[frame.label == "ok", "anomaly_flag"].mean() < 0.05


@pytest.mark.parametrize("args, message", [
    (("evaluate", "missing.csv", "--method", "knn"), "File not found"),
    (("evaluate", "{table}", "--method", "nope"), "Unknown method"),
    (("evaluate", "{table}", "--method", "knn", "--param", "n_neighbors=x"), "must be of type int"),
    (("evaluate", "{table}", "--method", "knn", "--param", "bogus=1"), "no parameter 'bogus'"),
    (("evaluate", "{table}", "--method", "knn", "--label-column", "label", "--normal-value", "fine"), "does not occur"),
    (("score", "missing.bundle", "{table}", "--out", "x.csv"), "not found"),
])
def test_errors_are_one_line_on_stderr(table, args, message):
    out = run(*[str(a).format(table=table) for a in args])
    assert out.returncode == 2
    assert message in out.stderr
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr


def test_methods_lists_every_registered_method():
    from core.registry import METHODS

    out = run("methods")
    assert out.returncode == 0
    for name in METHODS:
        assert name in out.stdout


def test_train_on_every_normal_row(table, tmp_path):
    model = tmp_path / "all.bundle"
    out = run("train", table, "--method", "iqr", "--label-column", "label", "--normal-value", "ok",
              "--test-size", "0", "--out", model, "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["method"] == "iqr" and model.stat().st_size > 0
