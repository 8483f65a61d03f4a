"""What the data checks cost when reading a CSV: ``read_table`` against a bare ``pandas.read_csv``.

Four files of the same numbers (rows x 10 columns plus an ISO time column): plain, one cell that is
not a number in every column (each column then goes through the number parser), decimal commas
with semicolons, and Windows-1252 (re-encoded before parsing). Prints the best of ``--repeats``
timings and rows per second.

Run: ``.venv/bin/python -m tests.bench.read_table [--rows 500000] [--repeats 3]``
"""

from __future__ import annotations

import argparse
import io
import platform
import time

import numpy as np
import pandas as pd

from core.data import read_table


def make_files(rows: int, seed: int = 0) -> dict[str, bytes]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(100.0, 10.0, size=(rows, 10)).round(3), columns=[f"f{j}" for j in range(10)])
    frame.insert(0, "time", pd.date_range("2024-01-01", periods=rows, freq="s").strftime("%Y-%m-%d %H:%M:%S"))
    plain = frame.to_csv(index=False)
    bad = frame.astype({f"f{j}": object for j in range(10)})
    for j in range(10):
        bad.iloc[rows // 2 + j, j + 1] = "?"
    comma = frame.to_csv(index=False, sep=";", decimal=",")
    return {"plain": plain.encode(), "one bad cell per column": bad.to_csv(index=False).encode(),
            "decimal comma; semicolons": comma.encode(),
            "Windows-1252": plain.replace("time", "Zeit (\u20ac)", 1).encode("cp1252")}


def best_of(repeats: int, action) -> float:
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        timings.append(time.perf_counter() - started)
    return min(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    files = make_files(args.rows)
    print(f"{platform.processor() or platform.machine()}, {args.rows:,} rows x 11 columns, best of {args.repeats}")
    baseline = best_of(args.repeats, lambda: pd.read_csv(io.BytesIO(files["plain"]), engine="pyarrow"))
    print(f"{'pandas.read_csv (pyarrow), plain':<40} {baseline:7.3f} s  {args.rows / baseline / 1e6:5.2f}M rows/s  "
          f"({len(files['plain']) / 1e6:.0f} MB)")
    for kind, content in files.items():
        seconds = best_of(args.repeats, lambda: read_table(content, filename=f"{kind}.csv"))
        print(f"{'read_table, ' + kind:<40} {seconds:7.3f} s  {args.rows / seconds / 1e6:5.2f}M rows/s  "
              f"x{seconds / baseline:.2f}")


if __name__ == "__main__":
    main()
