"""Peak memory of loading hostile bundles (zip and array bombs), each in a fresh process.

Run on demand::

    .venv/bin/python -m tests.bench.bundle_bombs [--cap-mb 384]

Each case of ``tests.hostile_bundles.RISKY`` (plus the largest legitimate-looking array the unpack
budget admits) is loaded alone in a child process under an address-space cap; the child reports
its peak RSS (VmHWM) before and after the load, so the growth is what the load cost.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from tests import hostile_bundles as hostile

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cap-mb", type=int, default=384)
    args = parser.parse_args()
    env = {**os.environ, "MALLOC_ARENA_MAX": "2", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryDirectory() as folder:
        directory, canary = Path(folder) / "cases", Path(folder) / "canary"
        index = {item["name"]: item for item in hostile.write_cases(directory, canary)}
        print(f"{'case':<36} {'bundle':>10} {'declares':>12} {'outcome':>8} {'RSS before':>11} {'peak RSS':>9} "
              f"{'growth':>7} {'s':>6}")
        for name in hostile.RISKY:
            done = subprocess.run([sys.executable, "-m", "tests.hostile_bundles", "run", str(directory), "--only",
                                   name, "--cap-mb", str(args.cap_mb)], cwd=ROOT, env=env, capture_output=True,
                                  text=True, timeout=300)
            report = json.loads(done.stdout.strip().splitlines()[-1])
            result = report["results"][name]
            growth = result["peak_rss_mb"] - report["baseline_rss_mb"]
            print(f"{name:<36} {index[name]['bytes'] / 1024:>8.0f}KB {_declared(name):>12} {result['outcome']:>8} "
                  f"{report['baseline_rss_mb']:>9.0f}MB {result['peak_rss_mb']:>7.0f}MB {growth:>5.0f}MB "
                  f"{result['seconds']:>6.3f}")
        print(f"canary created: {canary.exists()}")


def _declared(name: str) -> str:
    return {"zip_bomb_member_1gib": "1 GiB", "npz_bomb_nested_1gib": "1 GiB", "manifest_bomb_1gib": "1 GiB",
            "npy_declares_1e12_elements": "8 TB", "skops_npy_bomb": "800 GB", "honest_200mb_zero_array": "200 MiB",
            "huge_manifest_20mb": "20 MiB", "lstm_params_describe_4gb_network": "~4 GB net",
            "zero_array_within_budget_24mb": "24 MiB"}.get(name, "")


if __name__ == "__main__":
    main()
