"""Neighbour detectors (``knn``, ``lof``): exact and approximate search against scikit-learn's brute force.

For each shape of reference set (Gaussian rows, ``--train`` x each of ``--features``) it times,
in one process and taking turns (so a busy spell of the machine hits each): the product's
``score_samples`` with ``search="exact"`` (SciPy's kd-tree in low dimension, scikit-learn's brute
force above, see :func:`core.detectors.neighbour_search.exact_search`) and with
``search="approximate"`` (faiss's HNSW graph, candidates ranked by exact distances), and
scikit-learn's ``NearestNeighbors`` / ``LocalOutlierFactor`` with ``algorithm="brute"`` on the
same rows. Each search is warmed up untimed on a few rows; the fastest of ``--repeats`` rounds is
kept (one round for the largest sizes). Printed: seconds, rows per second, the ratio to brute
force (> 1 = faster), whether the exact scores equal brute force's, and the approximate search's
recall@k (share of the true k nearest training rows it finds, on the first 20,000 rows).

The effect on ROC-AUC: scored rows are 5% anomalies (Gaussian rows shifted by 3 standard
deviations along a random direction) among normal rows; the ROC-AUC of exact and approximate
scores is printed side by side, and the same for ECG5000 (140 features; trained on 1,000 normal
beats, scored on the other 3,998 beats, abnormal ones positive; the graph forced, although the
product searches so few reference rows exactly) when ``--ecg`` names its file.
Goal: the exact search never slower than brute force; 1M rows (5,000 x 10 reference rows,
default k) scored in under 10 s.

Run: ``.venv/bin/python -m tests.bench.neighbours [--train 5000] [--features 3 10 140]
[--score 50000] [--million-at 10] [--repeats 3] [--ecg ../shared/data/ecg5000.csv]``
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np

RECALL_ROWS = 20_000


def _best_of(repeats: int, *functions):
    """Each function's value and its fastest time, the functions taking turns in every round."""
    values, best = [None] * len(functions), [float("inf")] * len(functions)
    for _ in range(repeats):
        for i, function in enumerate(functions):
            start = time.perf_counter()
            values[i] = function()
            best[i] = min(best[i], time.perf_counter() - start)
    return values, best


def _recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) / truth.shape[1] for a, b in zip(found, truth)]))


def _with_anomalies(rng, n: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    rows, labels = rng.normal(size=(n, d)), rng.random(n) < 0.05
    direction = rng.normal(size=d)
    rows[labels] += 3.0 * direction / np.linalg.norm(direction)
    return rows, labels


def _compare(name, n, ours_exact, ours_approximate, brute, repeats, index_pair=None, labels=None):
    from sklearn.metrics import roc_auc_score

    (exact, approximate, reference), (t_exact, t_approximate, t_brute) = _best_of(
        repeats, ours_exact, ours_approximate, brute)
    same = np.allclose(exact, reference, rtol=1e-9, atol=1e-12)
    line = (f"  {name} {n:>9,} rows: brute force {t_brute:6.2f}s ({n / t_brute:>9,.0f} rows/s) | "
            f"exact {t_exact:6.2f}s ({t_brute / t_exact:4.2f}x, same scores: {same}) | "
            f"approximate {t_approximate:6.2f}s ({n / t_approximate:>9,.0f} rows/s, {t_brute / t_approximate:4.2f}x)")
    if index_pair is not None:
        line += f" recall@k {_recall(*index_pair):.4f}"
    if labels is not None:
        line += (f" ROC-AUC exact {roc_auc_score(labels, exact):.4f} "
                 f"approximate {roc_auc_score(labels, approximate):.4f}")
    print(line, flush=True)


def _shape(args, rng, d):
    from sklearn.neighbors import LocalOutlierFactor, NearestNeighbors

    from core.detectors.classical import KNNDetector, LOFDetector
    from core.detectors.neighbour_search import NeighbourIndex

    train = rng.normal(size=(args.train, d))
    exact_index, approximate_index = NeighbourIndex(train), NeighbourIndex(train, "approximate")
    print(f"\n{args.train} x {d} reference rows (exact: {exact_index.method}, approximate: "
          f"{approximate_index.method})", flush=True)
    (knn, knn_a, lof, lof_a), fits = _best_of(
        1, lambda: KNNDetector().fit(train), lambda: KNNDetector(search="approximate").fit(train),
        lambda: LOFDetector().fit(train), lambda: LOFDetector(search="approximate").fit(train))
    print("  fit with training scores: knn exact {:.2f}s approximate {:.2f}s; lof exact {:.2f}s approximate "
          "{:.2f}s (the approximate fit builds the graph)".format(*fits), flush=True)
    brute_knn = NearestNeighbors(n_neighbors=5, algorithm="brute").fit(train)
    brute_lof = LocalOutlierFactor(n_neighbors=20, novelty=True, algorithm="brute").fit(train)
    sizes = list(args.score) + ([1_000_000] if d in args.million_at else [])
    for n in sizes:
        rows, labels = _with_anomalies(rng, n, d)
        warm = rows[:2000]
        for model in (knn, knn_a, lof, lof_a):
            model.score_samples(warm)
        brute_knn.kneighbors(warm), brute_lof.score_samples(warm)
        few = rows[:RECALL_ROWS]
        truth = [brute_knn.kneighbors(few)[1], brute_lof.kneighbors(few)[1]]
        found = [knn_a._index().kneighbors(few, 5)[1], lof_a._index().kneighbors(few, 20)[1]]
        repeats = args.repeats if n <= 100_000 else 1
        _compare("knn", n, lambda: knn.score_samples(rows), lambda: knn_a.score_samples(rows),
                 lambda: brute_knn.kneighbors(rows)[0][:, -1], repeats, (found[0], truth[0]), labels)
        _compare("lof", n, lambda: lof.score_samples(rows), lambda: lof_a.score_samples(rows),
                 lambda: -brute_lof.score_samples(rows), repeats, (found[1], truth[1]), labels)
    del exact_index, approximate_index


def _ecg(path: Path, repeats: int) -> None:
    from sklearn.metrics import roc_auc_score
    from sklearn.neighbors import NearestNeighbors

    from core.detectors import neighbour_search
    from core.detectors.classical import KNNDetector, LOFDetector

    # 1,000 reference rows are fewer than the graph is used for: forced here, to see its recall on
    # real 140-feature rows (structured, unlike Gaussian ones)
    neighbour_search.APPROXIMATE_FROM_ROWS = 0
    table = np.loadtxt(path, delimiter=",")
    beats, normal = table[:, :140], table[:, 140] == 1.0
    order = np.random.default_rng(0).permutation(np.flatnonzero(normal))
    train_rows = order[:1000]
    rest = np.setdiff1d(np.arange(len(beats)), train_rows)
    mean, std = beats[train_rows].mean(axis=0), beats[train_rows].std(axis=0) + 1e-12
    train, rows, abnormal = (beats[train_rows] - mean) / std, (beats[rest] - mean) / std, ~normal[rest]
    print(f"\nECG5000: 1,000 normal beats x 140 features as reference, {len(rest):,} beats scored "
          f"({int(abnormal.sum()):,} abnormal)", flush=True)
    for name, detector, k in (("knn", KNNDetector, 5), ("lof", LOFDetector, 20)):
        exact, approximate = detector().fit(train), detector(search="approximate").fit(train)
        (s_exact, s_approximate), (t_exact, t_approximate) = _best_of(
            repeats, lambda: exact.score_samples(rows), lambda: approximate.score_samples(rows))
        truth = NearestNeighbors(n_neighbors=k).fit(train).kneighbors(rows)[1]
        recall = _recall(approximate._index().kneighbors(rows, k)[1], truth)
        print(f"  {name}: exact {t_exact:.3f}s ROC-AUC {roc_auc_score(abnormal, s_exact):.4f} | approximate "
              f"{t_approximate:.3f}s ROC-AUC {roc_auc_score(abnormal, s_approximate):.4f} recall@{k} {recall:.4f}",
              flush=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=5000)
    parser.add_argument("--features", type=int, nargs="+", default=[3, 10, 140])
    parser.add_argument("--score", type=int, nargs="+", default=[50_000])
    parser.add_argument("--million-at", type=int, nargs="*", default=[10],
                        help="feature counts at which 1,000,000 rows are scored too")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ecg", type=Path, default=Path("../shared/data/ecg5000.csv"))
    args = parser.parse_args(argv)
    print(f"machine: {platform.machine()}, {len(os.sched_getaffinity(0))} cores, load average "
          f"{os.getloadavg()[0]:.1f}; training rows {args.train}; k = 5 (knn), 20 (lof); best of "
          f"{args.repeats}, in turns; ratio = brute-force time / product time", flush=True)
    rng = np.random.default_rng(0)
    for d in args.features:
        _shape(args, rng, d)
    if args.ecg.is_file():
        _ecg(args.ecg, args.repeats)
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
