"""How much each method flags at its default threshold, and what the alternatives would flag (on demand)::

    python -m tests.bench.default_flags [--methods zscore knn ...] [--datasets sensor ecg5000 ...]
                                        [--candidates mean_std:k=3 percentile:q=99 ...] [--epochs 10]

A default threshold must not bury a series in flags, and on data with labels it should find what
is labelled. For every method and dataset the method is trained once as the dashboard trains it
(its default parameters and scaler; the first 60% of a series, or 80% of the rows drawn with seed
21; fitted on the rows labelled normal), then the threshold each candidate strategy would choose
from the training scores is applied to the test part. Printed per method, dataset and strategy:
the share of test rows flagged, the share of *normal* test rows flagged (false alarms), the
number of events (runs of flagged steps) on a series, and F1 where there are labels. The
method's current default is marked with ``*``.

Datasets (each skipped with a note when its file is missing):

- ``sensor``, ``sine_spikes``, ``heartbeats``: the bundled samples in ``data/``;
- ``ecg5000``: ``../shared/data/ecg5000.csv`` (S1's layout, label 1 = normal);
- ``synthetic``: 50,000 steps x 8 sensors with a daily cycle, correlated noise and 0.6% labelled
  anomalies (spikes, level shifts, a sensor that stops following the others), made here;
- ``nab``: a few NAB series (``../shared/data/nab``), trained on NAB's probationary period, with
  the rows inside NAB's anomaly windows as labels.

Deep models train ``--epochs`` epochs (default 10) to keep a run short.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from core.data import Roles, infer_roles, prepare, read_table
from core.events import find_events
from core.experiment import run_experiment
from core.metrics import classification_metrics
from core.registry import get_method, list_methods
from core.thresholds import make_threshold

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data"
CANDIDATES = ("mean_std:k=1", "mean_std:k=3", "percentile:q=99", "percentile:q=99.9")
NAB_SERIES = ("realKnownCause/machine_temperature_system_failure.csv", "realKnownCause/nyc_taxi.csv",
              "realAWSCloudwatch/ec2_cpu_utilization_5f5533.csv", "artificialNoAnomaly/art_daily_small_noise.csv")


def synthetic_series(n: int = 50_000, sensors: int = 8, seed: int = 3) -> pd.DataFrame:
    """A plant's 8 sensors, one reading a minute: a shared daily cycle, noise, and labelled faults."""
    rng = np.random.default_rng(seed)
    minutes = np.arange(n)
    daily = np.sin(2 * np.pi * minutes / 1440.0)
    load = np.convolve(rng.normal(0, 1, n + 59), np.ones(60) / 60, mode="valid")  # slow shared load
    values = np.empty((n, sensors))
    for k in range(sensors):
        values[:, k] = (10 * (k + 1) + (1 + 0.3 * k) * daily + 0.8 * load * (1 + 0.1 * k)
                        + rng.normal(0, 0.2 + 0.05 * k, n))
    label = np.zeros(n, dtype=int)
    for i in rng.choice(np.arange(1000, n - 10), size=40, replace=False):  # spikes
        k = rng.integers(sensors)
        values[i, k] += rng.choice([-1, 1]) * rng.uniform(2.0, 4.0)
        label[i] = 1
    for start in rng.choice(np.arange(31_000, n - 200, 200), size=4, replace=False):  # level shifts
        k = rng.integers(sensors)
        values[start:start + 60, k] += 2.5
        label[start:start + 60] = 1
    stuck = slice(44_000, 44_040)  # one sensor stops following the load and the cycle
    values[stuck, 5] = values[stuck.start, 5]
    label[stuck] = 1
    time_index = pd.date_range("2024-01-01", periods=n, freq="min")
    frame = pd.DataFrame(values.round(4), columns=[f"sensor_{k + 1}" for k in range(sensors)])
    frame.insert(0, "timestamp", time_index)
    frame["fault"] = label
    return frame


def load_datasets(names):
    """``(name, dataset, split options)`` for every dataset that can be found."""
    out = []
    for name in names:
        if name in ("sensor", "sine_spikes", "heartbeats"):
            table = read_table(ROOT / "data" / f"{name}.csv")
            dataset = prepare(table, infer_roles(table))
        elif name == "ecg5000":
            path = SHARED / "ecg5000.csv"
            if not path.exists():
                print(f"skipped ecg5000: {path} not found")
                continue
            table = read_table(path)
            dataset = prepare(table, infer_roles(table))
        elif name == "synthetic":
            frame = synthetic_series()
            features = [c for c in frame.columns if c.startswith("sensor_")]
            dataset = prepare(frame, Roles(features=features, time="timestamp", label="fault", normal_value=0))
        elif name == "nab":
            out.extend(_nab_datasets())
            continue
        else:
            raise SystemExit(f"unknown dataset {name!r}")
        options = {"train_fraction": 0.6} if dataset.is_series else {"test_size": 0.2, "seed": 21}
        out.append((name, dataset, options))
    return out


def _nab_datasets():
    from core.events import windows_to_labels
    from tests.bench.nab_scorer import probationary_length

    base = SHARED / "nab"
    if not base.exists():
        print(f"skipped nab: {base} not found")
        return []
    windows = json.loads((base / "labels" / "combined_windows.json").read_text())
    out = []
    for name in NAB_SERIES:
        frame = pd.read_csv(base / "data" / name)
        frame["timestamp"] = pd.to_datetime(frame["timestamp"])
        frame["label"] = windows_to_labels(frame["timestamp"], windows[name]).astype(int)
        dataset = prepare(frame, Roles(features=["value"], time="timestamp", label="label", normal_value=0))
        fraction = probationary_length(len(frame)) / len(frame)
        out.append((f"nab:{Path(name).stem}", dataset, {"train_fraction": fraction}))
    return out


def measure(method: str, dataset, options: dict, candidates, epochs: int) -> list[dict]:
    spec = get_method(method)
    params = {"epochs": epochs} if "epochs" in spec.defaults() else {}
    if spec.supervised and dataset.y is None:
        return []
    result = run_experiment(dataset, method, params, **options)
    default = spec.load_class().default_threshold
    train_scores = result.pipeline.train_scores_
    test = result.test_mask
    scores, y = result.scores[test], None if result.y is None else result.y[test]
    rows = []
    for strategy in dict.fromkeys([default, *candidates]):
        threshold = make_threshold(strategy).fit(train_scores).threshold_
        flags = scores > threshold
        row = {"method": method, "strategy": strategy, "default": strategy == default,
               "flagged": float(flags.mean()), "fit_s": result.fit_seconds}
        if y is not None:
            row["false_alarms"] = float(flags[y == 0].mean()) if (y == 0).any() else None
            row["f1"] = classification_metrics(y, scores, threshold)["f1"] if 0 < y.sum() < y.size else None
        if dataset.is_series:
            row["events"] = int(len(find_events(result.scores > threshold, result.scores)))
        rows.append(row)
    return rows


def _format(row) -> str:
    mark = "*" if row["default"] else " "
    parts = [f"{mark}{row['strategy']:<18}", f"flagged {row['flagged']:7.2%}"]
    if row.get("false_alarms") is not None:
        parts.append(f"false alarms {row['false_alarms']:7.2%}")
    if row.get("f1") is not None:
        parts.append(f"F1 {row['f1']:.3f}")
    if "events" in row:
        parts.append(f"events {row['events']:,}")
    return "  ".join(parts)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--methods", nargs="*", default=None)
    parser.add_argument("--datasets", nargs="*", default=["sensor", "sine_spikes", "heartbeats", "ecg5000",
                                                         "synthetic", "nab"])
    parser.add_argument("--candidates", nargs="*", default=list(CANDIDATES))
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    methods = args.methods or [m.name for m in list_methods()]
    datasets = load_datasets(args.datasets)
    summary = {}
    for method in methods:
        spec = get_method(method)
        for name, dataset, options in datasets:
            if spec.input_kind == "windows" and not dataset.is_series:
                continue
            if method == "pca" and len(dataset.feature_names) < 2:
                continue
            started = time.perf_counter()
            try:
                rows = measure(method, dataset, options, args.candidates, args.epochs)
            except Exception as error:  # a benchmark reports what failed and goes on
                print(f"{method} on {name}: failed: {error}")
                continue
            for row in rows:
                print(f"{method:<16} {name:<30} {_format(row)}", flush=True)
                if row["default"]:
                    summary.setdefault(method, {})[name] = row
            print(f"{method:<16} {name:<30} ({time.perf_counter() - started:.1f} s)", flush=True)
    print("\nShare of test rows flagged at each method's default threshold (F1 in brackets):")
    names = [name for name, _, _ in datasets]
    print("| method | default | " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(names))
    for method, per in summary.items():
        default = get_method(method).load_class().default_threshold
        cells = []
        for name in names:
            row = per.get(name)
            if row is None:
                cells.append("")
                continue
            cell = f"{row['flagged']:.1%}"
            if row.get("f1") is not None:
                cell += f" ({row['f1']:.2f})"
            cells.append(cell)
        print(f"| `{method}` | {default} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
