"""How PyTorch's thread count changes ``dense_ae``'s training time when other work keeps a core busy.

Run on demand (not part of the test suite)::

    python -m tests.bench.torch_threads [--busy 1] [--repeats 2]

Starts ``--busy`` CPU-bound processes (a spinning loop each), then trains ``dense_ae`` on ECG5000
(S1's split, seed 21) in a fresh process per setting: torch's default (one thread per available
core, forced with ``AD_TORCH_THREADS``), one thread, and the count :func:`core.device.load_torch`
chooses by itself. The thread count is process-wide, so every setting gets its own process.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "ecg5000.csv"


def _child(data: str) -> None:
    from core.data import Roles, prepare, read_table
    from core.experiment import run_experiment

    dataset = prepare(read_table(data), Roles(label="140", normal_value=1))
    run_experiment(dataset, "dense_ae", {"epochs": 1}, seed=21)  # start-up and warm-up, untimed
    import torch

    result = run_experiment(dataset, "dense_ae", {"random_state": 21}, seed=21)
    print(json.dumps({"threads": torch.get_num_threads(), "fit_s": result.fit_seconds,
                      "roc_auc": result.metrics["roc_auc"]}))


def _run(data: str, threads: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("AD_TORCH_THREADS", "OMP_NUM_THREADS")}
    if threads is not None:
        env["AD_TORCH_THREADS"] = threads
    done = subprocess.run([sys.executable, "-m", "tests.bench.torch_threads", "--child", "--data", data],
                          cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--busy", type=int, default=1, help="CPU-bound processes running meanwhile")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.data)
        return
    from core.device import available_cores

    cores = available_cores()
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
    try:
        time.sleep(5)  # let the load average see the spinners
        settings = {"default (one per core)": str(cores), "one thread": "1", "chosen at start": None}
        print(f"{cores} cores available, {args.busy} busy process(es), load {os.getloadavg()[0]:.2f}")
        for label, threads in settings.items():
            runs = [_run(args.data, threads) for _ in range(args.repeats)]
            times = ", ".join(f"{r['fit_s']:.2f}" for r in runs)
            print(f"{label:<24} threads={runs[0]['threads']}  fit s: {times}  "
                  f"(best {min(r['fit_s'] for r in runs):.2f})  ROC-AUC {runs[0]['roc_auc']:.3f}", flush=True)
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


if __name__ == "__main__":
    main()
