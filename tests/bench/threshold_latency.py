"""Server time from a threshold change to re-rendered results, at 10k, 100k and 1M scored rows.

What a slider move costs on the server: metrics at the new threshold, events (series), every
figure of the Results page's threshold fragment (including the explained row), and their JSON
serialisation (what Streamlit sends to the browser). Threshold-independent work (sorting, curves, histograms) is built once per
result and timed separately. Goal: < 100 ms at 100k rows.

Run: ``.venv/bin/python -m tests.bench.threshold_latency [--sizes 10000,100000,1000000] [--repeats 5]``
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import numpy as np
import pandas as pd
import plotly.io as pio

from core.data import Roles, prepare
from core.experiment import run_experiment
from dashboard import charts
from dashboard.results_model import ResultContext, threshold_figures


def make_dataset(n: int, series: bool, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    y = (rng.uniform(size=n) < 0.01).astype(int)
    X[y == 1] += rng.choice([-5.0, 5.0], size=(int(y.sum()), 2))
    frame = pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "label": y})
    roles = Roles(features=["a", "b"], label="label", normal_value=0)
    if series:
        frame.insert(0, "time", pd.date_range("2024-01-01", periods=n, freq="s"))
        roles.time = "time"
    return prepare(frame, roles)


def explanation_figures(ctx) -> list:
    """The row explanation the fragment also redraws: the top row against the normal profile."""
    row = int(ctx.test_index[ctx.view.order[0]])
    pipeline, dataset = ctx.result.pipeline, ctx.dataset
    pair = np.repeat(dataset.X[row:row + 1], 2, axis=0)
    mean, std = pipeline.normal_profile()
    return [charts.profile(pair[0], mean, std, dataset.feature_names),
            charts.contributions(pipeline.feature_contributions(pair)[0], dataset.feature_names)]


def measure(n: int, series: bool, repeats: int) -> dict:
    dataset = make_dataset(n, series)
    result = run_experiment(dataset, "zscore", train_fraction=0.5 if series else None)
    started = time.perf_counter()
    ctx = ResultContext.build(result, dataset)
    build_seconds = time.perf_counter() - started
    thresholds = np.quantile(ctx.view.scores, np.linspace(0.95, 0.999, repeats + 1))
    threshold_figures(ctx, float(thresholds[0]))  # warm-up
    compute, serialise = [], []
    for threshold in thresholds[1:]:
        started = time.perf_counter()
        out = threshold_figures(ctx, float(threshold))
        figures = list(out["figures"].values()) + explanation_figures(ctx)
        middle = time.perf_counter()
        # what st.plotly_chart does with a figure: to_dict, then JSON without validation
        payload = sum(len(pio.to_json(fig.to_dict(), validate=False)) for fig in figures)
        compute.append(middle - started)
        serialise.append(time.perf_counter() - middle)
    total = [a + b for a, b in zip(compute, serialise)]
    return {"rows": n, "kind": "series" if series else "rows", "figures": len(figures),
            "context_build_ms": round(1000 * build_seconds, 1),
            "metrics_and_figures_ms": round(1000 * statistics.median(compute), 1),
            "json_ms": round(1000 * statistics.median(serialise), 1),
            "total_ms": round(1000 * statistics.median(total), 1), "payload_kb": round(payload / 1024)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rows = []
    print(f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}")
    print(f"{'rows':>9} {'kind':>7} {'figs':>4} {'build once':>11} {'per change':>11} {'json':>8} {'total':>8} {'payload':>9}")
    for n in (int(s) for s in args.sizes.split(",")):
        for series in (False, True):
            r = measure(n, series, args.repeats)
            rows.append(r)
            print(f"{r['rows']:>9,} {r['kind']:>7} {r['figures']:>4} {r['context_build_ms']:>9.1f}ms "
                  f"{r['metrics_and_figures_ms']:>9.1f}ms {r['json_ms']:>6.1f}ms {r['total_ms']:>6.1f}ms "
                  f"{r['payload_kb']:>7}kB", flush=True)
    goal = [r for r in rows if r["rows"] == 100_000]
    if goal:
        worst = max(r["total_ms"] for r in goal)
        print(f"goal < 100 ms at 100k rows: worst {worst:.1f} ms -> {'met' if worst < 100 else 'NOT met'}")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
