"""``dense_ae`` scoring per row at 1M and 10M rows, side by side in one process.

Fits ``dense_ae`` (2 epochs) on 5,000 x 10 rows, then scores 1M rows, 10M rows and 1M rows again
(``score_samples``; 10 float features), reporting rows per second and the process's peak resident
memory after each. A super-linear step in scoring shows as fewer rows per second at 10M.

Run: ``.venv/bin/python -m tests.bench.dense_scoring [--rows 1000000 10000000 1000000]``
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from tests.bench.upload_memory import peak_rss_bytes


def main(argv=None) -> None:
    from core.registry import create_detector

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000, 1_000_000])
    args = parser.parse_args(argv)
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    rng = np.random.default_rng(0)
    detector = create_detector("dense_ae", epochs=2).fit(rng.normal(size=(5000, 10)))
    detector.score_samples(rng.normal(size=(10_000, 10)))  # warm-up
    for n in args.rows:
        data = rng.normal(size=(n, 10))
        start = time.perf_counter()
        detector.score_samples(data)
        seconds = time.perf_counter() - start
        print(f"  {n:>11,} rows: {seconds:6.2f} s, {n / seconds:>10,.0f} rows/s; peak memory so far "
              f"{peak_rss_bytes() / 1e9:.2f} GB (the data alone {data.nbytes / 1e9:.2f} GB)", flush=True)
        del data
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
