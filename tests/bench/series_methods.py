"""Series methods, causal against centred, on labelled series in the style of TSB-AD (run on demand)::

    python -m tests.bench.series_methods [--methods windowed_knn ...] [--contexts causal centred]
                                         [--nab-groups realKnownCause ...] [--max-buffer 20]

TSB-AD ranks detectors by VUS-PR over many univariate series, each split into a training head
and a scored tail. Here, with no download: the bundled labelled samples (``data/sine_spikes.csv``,
``data/sensor.csv``) split chronologically by :func:`core.experiment.run_experiment` (its
defaults), and the NAB series of the chosen groups (the first ``min(15%, 750)`` rows for
training, NAB's anomaly windows as labels). Per method and context: PR-AUC and VUS-PR of the
scored part (mean over the series that hold an anomaly), the median automatic window, and the
fit and score time summed over the series. Every method runs with its default parameters, so the
window is the automatic one.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from core.data import infer_roles, prepare, read_table
from core.errors import CoreError
from core.experiment import run_experiment
from core.metrics_ts import pr_auc, vus_pr
from core.pipeline import DetectionPipeline
from core.registry import list_methods
from tests.bench.nab_scorer import load_layouts, probationary_length

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ("sine_spikes.csv", "sensor.csv")
DEFAULT_NAB = ROOT.parent / "shared" / "data" / "nab"
#: Reduced deep settings, as in the NAB benchmark's --fast.
FAST = {"lstm_ae": {"epochs": 10, "stride": 2}, "conv_ae": {"epochs": 20, "stride": 2}}


def sample_rows(method: str, params: dict, max_buffer: int) -> list[dict]:
    rows = []
    for name in SAMPLES:
        table = read_table(ROOT / "data" / name)
        dataset = prepare(table, infer_roles(table))
        result = run_experiment(dataset, method, params)
        metrics = result.series_metrics or {}
        test = result.test_mask
        rows.append({"series": f"data/{name}", "pr_auc": metrics.get("pr_auc"),
                     "vus_pr": vus_pr(dataset.y[test], result.scores[test], max_buffer),
                     "window": getattr(result.pipeline.detector_, "window_", None),
                     "fit_s": result.fit_seconds, "score_s": result.score_seconds})
    return rows


def nab_rows(method: str, params: dict, data_dir: Path, groups: list[str], max_buffer: int) -> list[dict]:
    rows = []
    for layout in load_layouts(data_dir):
        if layout.name.split("/")[0] not in groups or not layout.n_windows:
            continue
        values = pd.read_csv(data_dir / "data" / layout.name, usecols=["value"])["value"].to_numpy(float)[:, None]
        n_train = probationary_length(values.shape[0])
        started = time.perf_counter()
        try:
            pipeline = DetectionPipeline(method, params).fit(values[:n_train])
        except CoreError as exc:
            print(f"{method} {layout.name}: {exc}")
            continue
        fit_s = time.perf_counter() - started
        started = time.perf_counter()
        scores = pipeline.score(values)
        score_s = time.perf_counter() - started
        labels, scored = layout.in_window, layout.scored
        rows.append({"series": layout.name, "pr_auc": pr_auc(labels[scored], scores[scored]),
                     "vus_pr": vus_pr(labels[scored], scores[scored], max_buffer),
                     "window": getattr(pipeline.detector_, "window_", None), "fit_s": fit_s, "score_s": score_s})
    return rows


def main(argv=None) -> int:
    series_methods = [m.name for m in list_methods(input_kind="windows")]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=series_methods)
    parser.add_argument("--contexts", nargs="+", default=["causal", "centred"], choices=["causal", "centred"])
    parser.add_argument("--nab-groups", nargs="*", default=["realKnownCause", "artificialWithAnomaly"])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_NAB)
    parser.add_argument("--max-buffer", type=int, default=20, help="largest VUS-PR buffer, in steps")
    args = parser.parse_args(argv)

    print(f"{'method':16s} {'context':8s} {'part':8s} {'PR-AUC':>7s} {'VUS-PR':>7s} {'window':>7s} "
          f"{'fit s':>7s} {'score s':>8s}  series")
    for method in args.methods:
        for context in args.contexts:
            params = {**FAST.get(method, {}), "context": context}
            parts = {"samples": sample_rows(method, params, args.max_buffer)}
            if args.nab_groups:
                parts["NAB"] = nab_rows(method, params, args.data_dir, args.nab_groups, args.max_buffer)
            for part, rows in parts.items():
                frame = pd.DataFrame(rows)
                if frame.empty:
                    continue
                windows = frame["window"].dropna()
                print(f"{method:16s} {context:8s} {part:8s} {frame['pr_auc'].mean():7.3f} {frame['vus_pr'].mean():7.3f}"
                      f" {int(np.median(windows)) if len(windows) else 0:7d} {frame['fit_s'].sum():7.1f}"
                      f" {frame['score_s'].sum():8.1f}  {len(frame)}", flush=True)
                if part == "samples":
                    for row in rows:
                        print(f"{'':34s}{row['pr_auc']:7.3f} {row['vus_pr']:7.3f} {row['window'] or 0:7d}"
                              f"{'':17s}  {row['series']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
