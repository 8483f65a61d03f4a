"""Neighbour detectors (``knn``, ``lof``) against scikit-learn's exact brute-force search, side by side.

For each shape of reference set it times, in one process: the product's ``fit`` and
``score_samples`` (which pick the search by data size and dimension, see
:func:`core.detectors.classical.neighbour_algorithm`), scikit-learn's ``NearestNeighbors`` /
``LocalOutlierFactor`` with ``algorithm="brute"`` on the same rows, and scikit-learn's default
("auto"). Scores are checked to be the same as brute force (the search is exact). Goal: never
slower than brute force; 1M rows scored in under 10 s.

Run: ``.venv/bin/python -m tests.bench.neighbours [--train 5000] [--features 3 10 140] [--score 50000 1000000]``
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np


def _timed(function):
    start = time.perf_counter()
    value = function()
    return value, time.perf_counter() - start


def main(argv=None) -> None:
    from sklearn.neighbors import LocalOutlierFactor, NearestNeighbors

    from core.detectors.classical import KNNDetector, LOFDetector, neighbour_algorithm

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=5000)
    parser.add_argument("--features", type=int, nargs="+", default=[3, 10, 140])
    parser.add_argument("--score", type=int, nargs="+", default=[50_000, 1_000_000])
    args = parser.parse_args(argv)
    print(f"machine: {platform.machine()}, {len(os.sched_getaffinity(0))} cores; training rows {args.train}")
    rng = np.random.default_rng(0)
    for d in args.features:
        train = rng.normal(size=(args.train, d))
        print(f"\n{args.train} x {d} reference rows (product search: {neighbour_algorithm(args.train, d)})")
        knn, knn_fit = _timed(lambda: KNNDetector().fit(train))
        lof, lof_fit = _timed(lambda: LOFDetector().fit(train))
        brute_lof, brute_lof_fit = _timed(
            lambda: LocalOutlierFactor(n_neighbors=20, novelty=True, algorithm="brute").fit(train))
        print(f"  fit: knn {knn_fit:.3f}s  lof {lof_fit:.3f}s (brute-force LOF fit alone {brute_lof_fit:.3f}s; "
              "the product's fit also scores the training rows)")
        for n in args.score:
            rows = rng.normal(size=(n, d))
            for name, ours, brute in (
                ("knn", lambda: knn.score_samples(rows),
                 lambda: NearestNeighbors(n_neighbors=5, algorithm="brute").fit(train).kneighbors(rows)[0][:, -1]),
                ("lof", lambda: lof.score_samples(rows), lambda: -brute_lof.score_samples(rows)),
            ):
                mine, t_mine = _timed(ours)
                exact, t_brute = _timed(brute)
                same = np.allclose(mine, exact, rtol=1e-6, atol=1e-9)
                print(f"  {name} {n:>9,} rows: product {t_mine:6.2f}s ({n / t_mine:>9,.0f} rows/s)  "
                      f"brute force {t_brute:6.2f}s  ratio {t_brute / t_mine:4.2f}x  same scores: {same}")


if __name__ == "__main__":
    main()
