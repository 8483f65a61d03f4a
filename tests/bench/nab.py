"""NAB realKnownCause benchmark of the time-series methods (run on demand, not by the test suite)::

    python -m tests.bench.nab [--methods rolling_median windowed_pca ...] [--series nyc_taxi ...]
                              [--data-dir ../shared/data/nab] [--fast] [--max-buffer 20]

Protocol, per series: the first 15% (NAB's probationary period) is the normal training part; a
standard scaler and the detector are fitted on it; the whole series is scored in one pass (window
methods see it as one sequence, row methods score each step alone); metrics are computed on the
remaining 85% with point labels from NAB's ``combined_windows.json``: PR-AUC (average precision),
VUS-PR, and point-wise and event-wise F1 at each method's default, label-free threshold.

Results are printed as a table and written to ``artifacts/nab_<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from core.errors import CoreError
from core.events import windows_to_labels
from core.metrics_ts import timeseries_metrics
from core.preprocessing import Scaler
from core.registry import create_detector, get_method, list_methods
from core.timeseries import chronological_train_mask, order_by_time

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "nab"
GROUP = "realKnownCause"
# row methods applied per time step (row PCA needs two or more features, and NAB series have one)
ROW_METHODS = ("zscore", "iqr", "isolation_forest", "knn")
#: Fewer epochs for a quick look at the deep models on CPU.
FAST_PARAMS = {"lstm_ae": {"epochs": 5, "stride": 2}, "conv_ae": {"epochs": 10, "stride": 2}}
REPORTED = ("pr_auc", "vus_pr", "event_f1", "point_f1", "fit_s", "score_s")


def default_methods() -> list[str]:
    return [m.name for m in list_methods(input_kind="windows")] + list(ROW_METHODS)


def load_series(data_dir: Path, name: str) -> tuple[pd.DataFrame, np.ndarray]:
    """One NAB series (sorted by time) and its 0/1 labels from the combined windows."""
    frame = pd.read_csv(data_dir / "data" / GROUP / f"{name}.csv")
    frame, _ = order_by_time(frame, "timestamp")
    windows = json.loads((data_dir / "labels" / "combined_windows.json").read_text())
    labels = windows_to_labels(frame["timestamp"], windows[f"{GROUP}/{name}.csv"])
    return frame, labels


def available(method: str) -> str | None:
    """None when the method can be built here, else why not (a module not written or installed yet)."""
    try:
        get_method(method).load_class()
    except (ImportError, AttributeError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def run_one(method: str, frame: pd.DataFrame, labels: np.ndarray, *, train_fraction: float,
            max_buffer: int, fast: bool) -> dict:
    values = frame[["value"]].to_numpy(dtype=float)
    train = chronological_train_mask(len(frame), train_fraction=train_fraction)
    scaler = Scaler("standard").fit(values[train])
    scaled = scaler.transform(values)
    params = dict(FAST_PARAMS.get(method, {})) if fast else {}
    detector = create_detector(method, **params)
    started = time.perf_counter()
    detector.fit(scaled[train])
    fit_s = time.perf_counter() - started
    started = time.perf_counter()
    scores = detector.score_samples(scaled)
    score_s = time.perf_counter() - started
    test = ~train
    metrics = timeseries_metrics(labels[test], scores[test], detector.threshold_, max_buffer=max_buffer)
    metrics.pop("point_adjusted_warning")
    return {**metrics, "fit_s": fit_s, "score_s": score_s, "params": params,
            "n_train": int(train.sum()), "n_test": int(test.sum())}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=None, help="methods to run (default: all series methods "
                        "plus zscore, iqr, isolation_forest, knn)")
    parser.add_argument("--series", nargs="+", default=None, help="series names (file stems), default all")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA, help="NAB folder with data/ and labels/")
    parser.add_argument("--fast", action="store_true", help="fewer epochs for the deep models")
    parser.add_argument("--train-fraction", type=float, default=0.15)
    parser.add_argument("--max-buffer", type=int, default=20, help="largest VUS-PR buffer, in steps")
    parser.add_argument("--out", type=Path, default=None, help="JSON file (default artifacts/nab_<time>.json)")
    args = parser.parse_args(argv)

    data_dir = args.data_dir if args.data_dir.is_absolute() else (Path.cwd() / args.data_dir)
    names = args.series or sorted(p.stem for p in (data_dir / "data" / GROUP).glob("*.csv"))
    if not names:
        parser.error(f"no series found under {data_dir / 'data' / GROUP}")
    methods, skipped = [], {}
    for method in args.methods or default_methods():
        reason = available(method)
        if reason is None:
            methods.append(method)
        else:
            skipped[method] = reason
            print(f"skipping {method}: {reason}")

    results: dict[str, dict[str, dict]] = {m: {} for m in methods}
    base_rates = {}
    for name in names:
        frame, labels = load_series(data_dir, name)
        test = ~chronological_train_mask(len(frame), train_fraction=args.train_fraction)
        base_rates[name] = float(labels[test].mean())  # the PR-AUC of random scores
        for method in methods:
            try:
                row = run_one(method, frame, labels, train_fraction=args.train_fraction,
                              max_buffer=args.max_buffer, fast=args.fast)
            except CoreError as exc:
                row = {"error": str(exc)}
            results[method][name] = row
            shown = "  ".join(f"{k}={row[k]:.3f}" for k in REPORTED if k in row) or row.get("error", "")
            print(f"{name:40s} {method:17s} {shown}", flush=True)

    averages = {}
    for method, per_series in results.items():
        ok = [r for r in per_series.values() if "error" not in r]
        averages[method] = {k: float(np.mean([r[k] for r in ok])) for k in REPORTED} if ok else {}
        averages[method]["n_series"] = len(ok)
        averages[method]["vus_pr_wins"] = 0
    for name in names:  # which method has the best VUS-PR on each series
        best = max(methods, key=lambda m: results[m][name].get("vus_pr", -1.0), default=None)
        if best is not None and "vus_pr" in results[best][name]:
            averages[best]["vus_pr_wins"] += 1

    print(f"\nNAB {GROUP}: {len(names)} series, train = first {args.train_fraction:.0%}, "
          f"metrics on the rest (VUS-PR buffers 0..{args.max_buffer}){' [--fast]' if args.fast else ''}; "
          f"labelled share of the evaluated steps {np.mean(list(base_rates.values())):.3f} (random PR-AUC)")
    print(f"{'method':17s} " + " ".join(f"{k:>9s}" for k in REPORTED) + "  series  wins")
    for method in sorted(averages, key=lambda m: -averages[m].get("vus_pr", -1)):
        avg = averages[method]
        print(f"{method:17s} " + " ".join(f"{avg.get(k, float('nan')):9.3f}" for k in REPORTED)
              + f"  {avg['n_series']:6d}  {avg['vus_pr_wins']:4d}")

    out = args.out or ROOT / "artifacts" / f"nab_{time.strftime('%Y%m%d_%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "protocol": {"group": GROUP, "train_fraction": args.train_fraction, "max_buffer": args.max_buffer,
                     "fast": args.fast, "scaler": "standard, fitted on the training part",
                     "data_dir": str(data_dir)},
        "series": names, "base_rates": base_rates, "skipped": skipped, "averages": averages, "results": results,
    }, indent=2, default=str))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
