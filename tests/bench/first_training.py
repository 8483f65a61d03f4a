"""What a first training costs: ``dense_ae`` and ``dense_ae_keras`` on ECG5000, each in a fresh process.

The ECG5000 benchmark times training after one warm-up run of each framework. A user's first
training in a new dashboard or command-line process also pays for loading the framework and
building its kernels. Here each method runs in its own new Python process: the time to import
the framework (``import torch`` / ``import tensorflow``), then three trainings in a row with S1's
split (seed 21), each timed as ``run_experiment`` reports it (``fit_seconds``).

Run: ``.venv/bin/python -m tests.bench.first_training``
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from tests.bench.ecg5000 import DEFAULT_DATA, ROOT

FRAMEWORK = {"dense_ae": "torch", "dense_ae_keras": "tensorflow"}


def _child(method: str) -> None:
    from core.data import Roles, prepare, read_table
    from core.experiment import run_experiment

    dataset = prepare(read_table(str(DEFAULT_DATA)), Roles(label="140", normal_value=1))
    start = time.perf_counter()
    __import__(FRAMEWORK[method])
    imported = time.perf_counter() - start
    fits = [run_experiment(dataset, method, seed=21).fit_seconds for _ in range(3)]
    print("RESULT " + json.dumps({"import": imported, "fits": fits}))


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        _child(sys.argv[2])
        return
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    results = {}
    for method in FRAMEWORK:
        child = subprocess.run([sys.executable, "-m", "tests.bench.first_training", "--child", method], cwd=ROOT,
                               capture_output=True, text=True)
        line = next((l for l in child.stdout.splitlines() if l.startswith("RESULT ")), None)
        if line is None:
            print(f"{method}: failed\n{child.stderr[-1500:]}")
            continue
        results[method] = json.loads(line[len("RESULT "):])
        r = results[method]
        print(f"  {method:<15} import {FRAMEWORK[method]} {r['import']:5.2f} s; trainings "
              + ", ".join(f"{s:.3f} s" for s in r["fits"]))
    if len(results) == 2:
        torch_run, keras_run = results["dense_ae"], results["dense_ae_keras"]
        print(f"first training (framework loaded): dense_ae {torch_run['fits'][0]:.2f} s, dense_ae_keras "
              f"{keras_run['fits'][0]:.2f} s ({keras_run['fits'][0] / torch_run['fits'][0]:.1f}x); with the import "
              f"{torch_run['import'] + torch_run['fits'][0]:.1f} s against {keras_run['import'] + keras_run['fits'][0]:.1f} s; "
              f"warm (third run) {keras_run['fits'][2] / torch_run['fits'][2]:.1f}x")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
