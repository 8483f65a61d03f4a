"""`python -m core runs list|show|compare` and `--save-run`, as real subprocesses on a real workspace."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def setting(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli_runs")
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(np.vstack([rng.normal(size=(300, 2)), rng.normal(size=(30, 2)) + 5]), columns=["a", "b"])
    frame["label"] = [0] * 300 + [1] * 30
    frame.to_csv(folder / "rows.csv", index=False)
    return folder


def run(setting, *args):
    return subprocess.run([sys.executable, "-m", "core", *map(str, args), "--workspace", setting / "ws"],
                          capture_output=True, text=True, cwd=ROOT)


def test_save_list_show_compare(setting):
    data = setting / "rows.csv"
    first = run(setting, "evaluate", data, "--method", "zscore", "--label-column", "label", "--json",
                "--save-run", "baseline")
    assert first.returncode == 0, first.stderr
    first_id = json.loads(first.stdout)["run_id"]
    second = run(setting, "train", data, "--method", "knn", "--label-column", "label", "--out",
                 setting / "knn.bundle", "--json", "--save-run")
    assert second.returncode == 0, second.stderr
    second_id = json.loads(second.stdout)["run_id"]

    listing = run(setting, "runs", "list", "--json")
    rows = [json.loads(line) for line in listing.stdout.splitlines()]
    assert [r["id"] for r in rows] == [second_id, first_id]
    assert rows[1]["name"] == "baseline" and rows[0]["name"] == "knn on rows.csv" and rows[0]["roc_auc"] > 0.9
    table = run(setting, "runs", "list").stdout
    assert "baseline" in table and first_id[:8] in table

    shown = json.loads(run(setting, "runs", "show", first_id[:6], "--json").stdout)
    assert shown["method"] == "zscore" and shown["threshold_policy"]["strategy"] == "fixed"
    assert shown["settings"]["seed"] == 21 and shown["metrics"]["f1"] == pytest.approx(rows[1]["f1"])

    compared = run(setting, "runs", "compare", first_id[:6], second_id[:6], "--json")
    assert compared.returncode == 0, compared.stderr
    result = json.loads(compared.stdout)
    assert set(result["runs"]) == {first_id[:8], second_id[:8]}
    agreement = result["agreement"][f"{first_id[:8]}~{second_id[:8]}"]
    assert 0.5 < agreement["score_rank_correlation"] <= 1.0 and 0.0 <= agreement["flag_overlap"] <= 1.0
    assert "rank correlation" in run(setting, "runs", "compare", first_id[:6], second_id[:6]).stdout


def test_errors_are_one_line(setting):
    missing = run(setting, "runs", "show", "nosuchrun")
    assert missing.returncode == 2 and missing.stderr.strip() == "error: The workspace holds no run 'nosuchrun'."
    alone = run(setting, "runs", "compare", "abc")
    assert alone.returncode == 2 and "two or more" in alone.stderr
    no_eval = run(setting, "train", setting / "rows.csv", "--method", "zscore", "--test-size", "0", "--out",
                  setting / "z.bundle", "--save-run")
    assert no_eval.returncode == 2 and "--save-run" in no_eval.stderr
