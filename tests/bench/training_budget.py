"""Deep sequence models under a training-time budget: time and score, with and without it.

A synthetic multivariate server-metrics-like series (daily and weekly cycles per feature, noise,
and labelled anomalies: spikes, level shifts and a frozen sensor) is split in time: the first 60%
trains (anomalies there are left in, as in real data), the rest is scored. For each model, in one
process and in turn:

- ``budget``: the default parameters (``time_budget`` 40 s), on the full-size series
  (``--steps`` x ``--features``, by default the 23,700 x 34 of a long metrics export);
- ``without`` and ``budget``: on the first ``--short-steps`` of the same series, where training
  every window of every epoch is affordable, the same model with ``time_budget=0`` and with a budget small
  enough to force sampling (``--short-budget``), so the scores can be compared.

Reports fit and score seconds, the epochs run, the windows per epoch against all training
windows, and ROC-AUC / PR-AUC of the test steps, with the estimate the Train page shows.

Run: ``.venv/bin/python -m tests.bench.training_budget [--methods conv_ae lstm_ae] [--steps 23700]``
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def make_series(steps: int, features: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Cyclic metrics with noise and labelled anomalies (about 2% of steps)."""
    rng = np.random.default_rng(seed)
    t = np.arange(steps)[:, None]
    phase = rng.uniform(0, 2 * np.pi, size=(1, features))
    X = (np.sin(2 * np.pi * t / 288 + phase) + 0.3 * np.sin(2 * np.pi * t / 2016 + 2 * phase)
         + 0.15 * rng.normal(size=(steps, features)))
    y = np.zeros(steps, dtype=int)
    for _ in range(max(3, steps // 1500)):
        start = int(rng.integers(50, steps - 80))
        kind = rng.integers(3)
        columns = rng.choice(features, size=max(1, features // 6), replace=False)
        length = int(rng.integers(5, 40))
        if kind == 0:  # spikes
            X[start:start + 3, columns] += rng.choice([-4.0, 4.0], size=(3, columns.size))
            length = 3
        elif kind == 1:  # level shift
            X[start:start + length, columns] += 2.5
        else:  # frozen sensor
            X[start:start + length, columns] = X[start, columns]
        y[start:start + length] = 1
    return X, y


def run_one(method: str, X: np.ndarray, y: np.ndarray, **params) -> dict:
    from core.detectors.deep_common import estimate_training_seconds
    from core.metrics import ranking_metrics
    from core.registry import create_detector, get_method

    split = int(0.6 * len(X))
    mean, std = X[:split].mean(axis=0), X[:split].std(axis=0) + 1e-9
    scaled = (X - mean) / std
    detector = create_detector(method, **params)
    estimate = estimate_training_seconds(method, {**get_method(method).defaults(), **params}, split, X.shape[1],
                                         len(X) - split)
    start = time.perf_counter()
    detector.fit(scaled[:split])
    fit = time.perf_counter() - start
    start = time.perf_counter()
    scores = detector.score_samples(scaled[split:])
    score = time.perf_counter() - start
    metrics = ranking_metrics(y[split:], scores)
    return {"fit": fit, "score": score, "estimate": estimate, **detector.budget_report_, **metrics}


def show(label: str, result: dict) -> None:
    print(f"  {label:<28} fit {result['fit']:6.1f} s  score {result['score']:5.1f} s  total {result['fit'] + result['score']:6.1f} s "
          f"(estimate {result['estimate']:5.1f} s)  epochs {result['epochs']:>3}  windows/epoch "
          f"{result['samples_per_epoch']:>6,} of {result['training_samples']:>6,}  "
          f"ROC-AUC {result['roc_auc']:.3f}  PR-AUC {result['pr_auc']:.3f}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=["conv_ae", "lstm_ae"])
    parser.add_argument("--steps", type=int, default=23_700)
    parser.add_argument("--features", type=int, default=34)
    parser.add_argument("--short-steps", type=int, default=4_000)
    parser.add_argument("--short-epochs", type=int, default=10)
    parser.add_argument("--short-budget", type=float, default=8.0)
    parser.add_argument("--skip-full", action="store_true")
    args = parser.parse_args(argv)
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start")
    X, y = make_series(args.steps, args.features)
    short_X, short_y = X[:args.short_steps], y[:args.short_steps]  # the same series, its first part
    for method in args.methods:
        print(method)
        if not args.skip_full:
            show(f"{args.steps:,} x {args.features}, defaults", run_one(method, X, y))
        common = {"epochs": args.short_epochs, "patience": 0}
        show(f"{args.short_steps:,} steps, no budget", run_one(method, short_X, short_y, time_budget=0.0, **common))
        show(f"{args.short_steps:,} steps, budget {args.short_budget:g} s",
             run_one(method, short_X, short_y, time_budget=args.short_budget, **common))
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
