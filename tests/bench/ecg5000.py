"""ECG5000 benchmark of every registered method with S1's protocol, plus scoring throughput.

Run on demand (not part of the test suite)::

    python -m tests.bench.ecg5000 [--seeds 21 22 23] [--methods lof knn ...] [--throughput-rows 1000000]

S1's protocol: ``train_test_split(test_size=0.2, random_state=seed)``, fit on the normal training
rows, threshold from the training scores (each method's default, chosen without test labels),
metrics on the test part with abnormal as the positive class. ``dense_ae`` and ``dense_ae_keras``
are also reported at S1's own threshold (mean + 1 std of the training errors) with S1's accuracy.
Ensembles are compared with the best single unsupervised method of the same run, and the method
:mod:`core.suggest` suggests for ECG5000 is ranked among the methods run.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from core.data import Roles, prepare, read_table
from core.experiment import run_experiment
from core.metrics import classification_metrics
from core.registry import METHODS, create_detector, get_method
from core.thresholds import MeanStd

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "ecg5000.csv"


#: Rows of the table that run a registered method with other parameters: label -> (method, params).
VARIANTS = {"ensemble_max": ("ensemble", {"combine": "max"})}


def evaluate_methods(dataset, methods, seeds):
    rows = []
    for label in methods:
        name, variant = VARIANTS.get(label, (label, {}))
        spec = get_method(name)
        if spec.input_kind != "rows":
            continue
        runs = []
        if spec.family == "deep":  # one untimed run: framework start-up and kernel warm-up are not training
            run_experiment(dataset, name, {"epochs": 1}, seed=seeds[0])
        for seed in seeds:
            params = {"random_state": seed} if "random_state" in spec.defaults() else {}
            params.update(variant)
            result = run_experiment(dataset, name, params, seed=seed)
            s1 = None
            if name in ("dense_ae", "dense_ae_keras"):
                train_errors = result.pipeline.train_scores_
                s1_threshold = MeanStd(k=1).fit(train_errors).threshold_
                s1 = classification_metrics(result.y_test, result.test_scores, s1_threshold)
            runs.append((result, s1))
        metrics = [r.metrics for r, _ in runs]
        row = {
            "method": label,
            "roc_auc": np.mean([m["roc_auc"] for m in metrics]),
            "per_seed": {seed: (round(m["roc_auc"], 4), round(m["f1"], 3)) for seed, m in zip(seeds, metrics)},
            "pr_auc": np.mean([m["pr_auc"] for m in metrics]),
            "f1": np.mean([m["f1"] for m in metrics]),
            "precision": np.mean([m["precision"] for m in metrics]),
            "recall": np.mean([m["recall"] for m in metrics]),
            "fit_s": np.mean([r.fit_seconds for r, _ in runs]),
            "score_s": np.mean([r.score_seconds for r, _ in runs]),
            "threshold": runs[0][0].threshold_description.split(" of ")[0],
        }
        if runs[0][1] is not None:
            row["s1_accuracy"] = np.mean([s["accuracy"] for _, s in runs])
            row["s1_accuracy_per_seed"] = {seed: round(s["accuracy"], 3) for seed, (_, s) in zip(seeds, runs)}
            row["s1_f1_normal_pos"] = np.mean([s["normal_positive"]["f1"] for _, s in runs])
        rows.append(row)
        print(_format_row(row), flush=True)
    return rows


def _format_row(row):
    extra = ""
    if "s1_accuracy" in row:
        extra = (f"  S1 view (mean+1std): accuracy {row['s1_accuracy']:.3f} {row['s1_accuracy_per_seed']}, "
                 f"F1 normal+ {row['s1_f1_normal_pos']:.3f}")
    return (f"{row['method']:<16} ROC-AUC {row['roc_auc']:.4f}  PR-AUC {row['pr_auc']:.4f}  F1 {row['f1']:.3f} "
            f"(P {row['precision']:.3f} R {row['recall']:.3f})  fit {row['fit_s']:.3f}s  score {row['score_s']:.4f}s"
            f"  [{row['threshold']}]  per seed (ROC-AUC, F1): {row['per_seed']}{extra}")


def compare_ensembles(rows):
    """Each ensemble against the best single unsupervised method of the same run (by mean ROC-AUC)."""
    singles = [r for r in rows if not r["method"].startswith("ensemble")
               and not get_method(VARIANTS.get(r["method"], (r["method"],))[0]).supervised]
    if not singles:
        return
    best = max(singles, key=lambda r: r["roc_auc"])
    for row in rows:
        if row["method"].startswith("ensemble"):
            print(f"\n{row['method']} against the best single method, {best['method']}: ROC-AUC "
                  f"{row['roc_auc']:.4f} vs {best['roc_auc']:.4f}, PR-AUC {row['pr_auc']:.4f} vs {best['pr_auc']:.4f}, "
                  f"F1 {row['f1']:.3f} vs {best['f1']:.3f} (each at its default threshold)")


def check_suggestion(dataset, rows):
    """Rank of the suggested method among the methods of this run, by mean ROC-AUC (ties share the better rank)."""
    from core.suggest import profile_of, suggest

    suggestion = suggest(profile_of(dataset))
    scores = {r["method"]: r["roc_auc"] for r in rows}
    if suggestion.method not in scores:
        print(f"\nsuggested {suggestion.method}, which this run did not include")
        return
    rank = 1 + sum(round(v, 3) > round(scores[suggestion.method], 3) for v in scores.values())
    print(f"\nsuggested for ECG5000: {suggestion.method} {suggestion.params} - rank {rank} of {len(scores)} here "
          f"by ROC-AUC ({'top three' if rank <= 3 else 'NOT in the top three'}); {suggestion.why}")


def throughput(methods, n_rows, n_features=10, seed=0):
    """Rows per second of ``score_samples`` on ``n_rows`` x ``n_features`` (fit on 5,000 rows)."""
    rng = np.random.default_rng(seed)
    train = rng.normal(size=(5000, n_features))
    data = rng.normal(size=(n_rows, n_features))
    results = {}
    for name in methods:
        spec = get_method(name)
        params = {"epochs": 2} if spec.family == "deep" else {}
        if spec.input_kind == "windows":
            params["window"] = 32 if "window" in spec.defaults() else None
            params = {k: v for k, v in params.items() if v is not None}
        if spec.supervised:
            detector = create_detector(name, **params).fit(
                np.vstack([train, train[:200] + 4]), np.r_[np.zeros(5000), np.ones(200)].astype(int))
        else:
            detector = create_detector(name, **params).fit(train)
        started = time.perf_counter()
        detector.score_samples(data)
        seconds = time.perf_counter() - started
        results[name] = n_rows / seconds
        print(f"{name:<16} {n_rows / seconds:>14,.0f} rows/s  ({seconds:.2f} s for {n_rows:,} x {n_features})", flush=True)
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--seeds", type=int, nargs="+", default=[21, 22, 23])
    parser.add_argument("--methods", nargs="+", default=[*METHODS, *VARIANTS])
    parser.add_argument("--throughput-rows", type=int, default=1_000_000, help="0 skips the throughput run")
    parser.add_argument("--out", default=str(ROOT / "artifacts" / "bench_ecg5000.json"))
    args = parser.parse_args(argv)

    dataset = prepare(read_table(args.data), Roles(label="140", normal_value=1))
    print(f"ECG5000: {dataset.n_rows} rows x {dataset.X.shape[1]} features; seeds {args.seeds}\n")
    rows = evaluate_methods(dataset, args.methods, args.seeds)
    keras = next((r for r in rows if r["method"] == "dense_ae_keras"), None)
    torch_row = next((r for r in rows if r["method"] == "dense_ae"), None)
    if keras and torch_row:
        print(f"\ndense_ae trains {keras['fit_s'] / torch_row['fit_s']:.1f}x faster than dense_ae_keras "
              f"({torch_row['fit_s']:.3f}s vs {keras['fit_s']:.3f}s, same run)")
    compare_ensembles(rows)
    check_suggestion(dataset, rows)
    speeds = {}
    if args.throughput_rows:
        print(f"\nscore_samples throughput, {args.throughput_rows:,} rows x 10 features:")
        speeds = throughput([m for m in args.methods if m not in VARIANTS], args.throughput_rows)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"rows": rows, "throughput_rows_per_s": speeds}, indent=1, default=float))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
