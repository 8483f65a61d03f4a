"""Hostile bundles (see tests/hostile_bundles.py) are refused with a plain BundleError, or load and
score finitely where the change is harmless; nothing runs, memory stays bounded, nothing crashes.

Loads run in child processes with an address-space cap (RLIMIT_AS) a few hundred MB above what
the imports need, and a time limit; the payloads try to create a canary file, which must never
appear."""

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from tests import hostile_bundles as hostile

ROOT = Path(__file__).resolve().parent.parent
CAP_MB = 384  # above the address space after imports: what one load may allocate
CHILD_ENV = {**os.environ, "MALLOC_ARENA_MAX": "2", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
for _name in ("ANOMALY_BUNDLE_KEY", "ANOMALY_BUNDLE_KEY_FILE"):
    CHILD_ENV.pop(_name, None)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    canary = root / "canary"
    index = hostile.write_cases(root / "cases", canary)
    return root / "cases", canary, index


def _run_child(directory: Path, *only: str, cap_mb: int = CAP_MB, timeout: int = 300) -> dict:
    command = [sys.executable, "-m", "tests.hostile_bundles", "run", str(directory), "--cap-mb", str(cap_mb)]
    for name in only:
        command += ["--only", name]
    done = subprocess.run(command, cwd=ROOT, env=CHILD_ENV, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _check(report: dict, canary: Path) -> None:
    wrong = {name: result for name, result in report["results"].items()
             if result["outcome"] == "crashed" or (result["expect"] == hostile.REFUSE and result["outcome"] != "refused")}
    assert not wrong, json.dumps(wrong, indent=1)[:4000]
    for name, result in report["results"].items():
        if result["outcome"] == "refused":
            assert "Traceback" not in result["message"] and 10 < len(result["message"]) < 400, (name, result)
    assert not canary.exists(), "a payload ran"


def test_the_corpus_is_large_varied_and_its_payloads_are_live(corpus, tmp_path):
    _, _, index = corpus
    assert len(index) >= 80
    names = {item["name"] for item in index}
    for family in ("skops_", "pickle_", "npy_", "manifest_", "truncated_", "bit_flip_", "tree_", "duplicate_", "ensemble_"):
        assert sum(name.startswith(family) for name in names) >= 2, family
    assert set(hostile.RISKY) <= names
    # the payloads are real: unpickling one (what an unsafe loader does) creates its canary
    control = tmp_path / "control-canary"
    subprocess.run([sys.executable, "-c", "import pickle, sys; pickle.loads(sys.stdin.buffer.read())"],
                   input=pickle.dumps(hostile._Payload(control)), cwd=ROOT, env=CHILD_ENV, timeout=60, check=True)
    assert control.exists()


def test_every_hostile_bundle_is_refused_or_harmless_in_a_capped_process(corpus):
    directory, canary, index = corpus
    report = _run_child(directory)
    assert len(report["results"]) == len(index)
    _check(report, canary)
    # no load of a file of at most a few MB grew the process by more than a few hundred MB
    assert max(result["bytes"] for result in report["results"].values()) < 4 * 1024**2
    peak = max(result["peak_rss_mb"] for result in report["results"].values())
    assert peak - report["baseline_rss_mb"] < 256, (peak, report["baseline_rss_mb"])


@pytest.mark.parametrize("name", ["zip_bomb_member_1gib", "tree_child_index_out_of_range"])
def test_the_riskiest_bundles_alone_under_a_tight_cap(corpus, name):
    directory, canary, _ = corpus
    report = _run_child(directory, name, cap_mb=128, timeout=120)
    assert list(report["results"]) == [name]
    _check(report, canary)
