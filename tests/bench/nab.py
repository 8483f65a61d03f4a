"""The product's methods on the Numenta Anomaly Benchmark, under NAB's own rules (run on demand)::

    python -m tests.bench.nab [--methods zscore knn ...] [--series realKnownCause nyc_taxi ...]
                              [--data-dir ../shared/data/nab] [--fast] [--max-buffer 20]
                              [--calibration past_rank|robust_z|likelihood[:key=value,...]]
                              [--param METHOD.KEY=VALUE ...] [--set context=centred ...]

Protocol, per series (all 58 by default): a :class:`~core.pipeline.DetectionPipeline` (the
method's default scaler and parameters) is fitted on NAB's probationary period, the first
``min(15%, 750)`` rows, which NAB leaves unscored for exactly this; those rows keep the scores
the fit gave them (PyOD's training scores) and every later row is scored. A
detector that declares itself adaptive (``step_context().adaptive``) scores the rows after the
probationary period in order with ``score_and_learn``, so it keeps learning as NAB's detectors do.

NAB wants an anomaly score in [0, 1] per row, and the conversion must not look ahead. The default
(``--calibration past_rank``) is each raw score's rank among all earlier raw scores of the series:
the share of them strictly below it. A step that beats everything seen so far gets nearly 1; a long
excursion stops ranking near the top once the past holds it, so one anomaly raises one burst of
alarms rather than hundreds (NAB charges every false alarm). ``--calibration robust_z`` is a fixed
squashing instead: ``z / (1 + z)`` for the robust z-score ``z > 0`` of the raw score against the
probationary scores (median and 1.4826 x MAD, or the standard deviation when the MAD is 0).
``--calibration likelihood`` is the product's own anomaly likelihood
(:class:`core.calibration.AnomalyLikelihood`, the pipeline's ``calibration="likelihood"``): the
pipeline is fitted with it, scores the rows after the probationary period with
``score_and_learn`` and its calibrated scores (already in [0, 1]) go to NAB as they are;
``likelihood:averaging_window=3,min_spread=0.2`` sets its parameters. PR-AUC and VUS-PR are
computed from the raw scores (with ``likelihood``, from the calibrated ones).
``--param sliding_knn.window=500`` sets a method's parameter (the defaults otherwise).

The anomaly scores are marked with NAB's scorer (:mod:`tests.bench.nab_scorer`): the threshold
that maximises the corpus total, per profile, normalised to 0 (null detector) .. 100 (perfect). Per group, the same corpus threshold is
used and the group is normalised by its own null and perfect scores.

Beside NAB's score, PR-AUC (average precision) and VUS-PR of the raw scores over the scored rows,
with the rows inside anomaly windows as positives, averaged over the series that have a window.

Eligibility: NAB's detectors see each row once, in order, and must score it before the next
arrives. A method whose ``step_context().future`` is above 0 looks ahead and is reported apart.
A window model that has not declared its context (it inherits the row methods' default) folds every
window covering a step, so a step's score depends on later steps: it is treated as looking ahead.

Results are printed and written to ``artifacts/nab_<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from core.detectors.base import BaseDetector
from core.calibration import make_calibration
from core.errors import CoreError
from core.metrics_ts import pr_auc, vus_pr
from core.pipeline import DetectionPipeline
from core.registry import get_method, list_methods
from tests.bench.nab_scorer import (
    best_threshold, corpus_score, load_layouts, load_profiles, normalised, probationary_length,
    read_detector_results,
)

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "nab"
PROFILES = ("standard", "reward_low_FP_rate", "reward_low_FN_rate")
SHORT = {"standard": "Standard", "reward_low_FP_rate": "Low FP", "reward_low_FN_rate": "Low FN"}
#: NAB's scoreboard rows printed beside the product's methods.
SCOREBOARD = ("ARTime", "numenta", "windowedGaussian", "random")
#: NAB's published detector outputs rescored here, as a check of the scorer.
RESCORED = ("numenta", "windowedGaussian", "random")
#: Reduced deep settings (``--fast``), to bound the run on a CPU.
FAST_PARAMS = {"lstm_ae": {"epochs": 10, "stride": 2}, "conv_ae": {"epochs": 20, "stride": 2},
               "dense_ae": {"epochs": 10}, "dense_ae_keras": {"epochs": 10}}


def default_methods() -> list[str]:
    """Every registered method that learns from normal data alone (NAB has no labels to train on)."""
    return [m.name for m in list_methods() if not m.supervised]


def available(method: str) -> str | None:
    """None when the method can be built here, else why not (a module not written or installed yet)."""
    try:
        get_method(method).load_class()
    except (ImportError, AttributeError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def looks_ahead(detector: BaseDetector) -> bool:
    """Whether a step's score depends on later steps (not eligible under NAB's rules)."""
    undeclared_window = (detector.input_kind == "windows"
                         and type(detector).step_context is BaseDetector.step_context)
    return undeclared_window or detector.step_context().future > 0


def robust_z_scores(raw: np.ndarray, n_reference: int) -> np.ndarray:
    """Raw scores to NAB's [0, 1], by a squashing fixed from the first ``n_reference`` scores only."""
    reference = raw[:n_reference]
    centre = np.median(reference)
    spread = 1.4826 * np.median(np.abs(reference - centre))
    if not spread > 1e-12:
        spread = reference.std()
    if not spread > 1e-12:
        spread = 1.0
    z = np.maximum((raw - centre) / spread, 0.0)
    return z / (1.0 + z)


def past_rank_scores(raw: np.ndarray, n_reference: int, block: int = 512) -> np.ndarray:
    """Raw scores to NAB's [0, 1] as each score's rank among all earlier ones: the share of earlier
    raw scores strictly below it (0 in the first ``n_reference`` rows, which NAB does not score)."""
    out = np.zeros(raw.size)
    later = np.triu(np.ones((block, block), dtype=bool), k=1)  # [i, j]: i comes before j
    for first in range(max(n_reference, 1), raw.size, block):
        chunk = raw[first:first + block]
        below = np.searchsorted(np.sort(raw[:first]), chunk, side="left")
        size = chunk.size
        below += ((chunk[:, None] < chunk[None, :]) & later[:size, :size]).sum(axis=0)
        out[first:first + size] = below / np.arange(first, first + size)
    return out


#: How raw scores become NAB's anomaly scores; both use only the past.
CALIBRATIONS = {"robust_z": robust_z_scores, "past_rank": past_rank_scores}


def select_series(all_names: list[str], wanted: list[str] | None) -> list[str]:
    """Series names (``group/file.csv``) matching a group, a file stem or a full name."""
    if not wanted:
        return all_names
    chosen = [n for n in all_names if any(w in (n, n.split("/")[0], Path(n).stem) for w in wanted)]
    if not chosen:
        raise SystemExit(f"no NAB series matches {wanted}")
    return chosen


def run_series(method: str, params: dict, values: np.ndarray, n_train: int, calibration=None) -> dict:
    """Fit on the probationary rows, score every row; raw scores and timings.

    With a ``calibration`` (the product's, inside the pipeline), the rows after the probationary
    period are scored in order with ``score_and_learn`` and the probationary rows get 0 (NAB does
    not score them)."""
    pipeline = DetectionPipeline(method, params, calibration=calibration)
    started = time.perf_counter()
    pipeline.fit(values[:n_train])
    fit_s = time.perf_counter() - started
    detector = pipeline.detector_
    started = time.perf_counter()
    # the probationary rows keep the scores the fit gave them (PyOD's convention): a method that
    # compares a row with its training rows would find each training row itself
    if calibration is not None:
        raw = np.concatenate([np.zeros(n_train), pipeline.score_and_learn(values[n_train:])])
    elif detector.step_context().adaptive:
        raw = np.concatenate([pipeline.train_scores_,
                              detector.score_and_learn(pipeline.scaler_.transform(values[n_train:]))])
    else:
        raw = np.concatenate([pipeline.train_scores_, pipeline.score(values)[n_train:]])
    score_s = time.perf_counter() - started
    return {"raw": raw, "fit_s": fit_s, "score_s": score_s, "looks_ahead": looks_ahead(detector),
            "adaptive": bool(detector.step_context().adaptive)}


def nab_scores(layouts, anomaly_scores: dict, profiles) -> dict:
    """Per profile: the corpus threshold, the normalised score overall and per group."""
    groups = sorted({layout.name.split("/")[0] for layout in layouts})
    out = {}
    for name in PROFILES:
        profile = profiles[name]
        threshold, raw = best_threshold(layouts, anomaly_scores, profile)
        per_series = corpus_score(layouts, anomaly_scores, profile, threshold)
        by_group = {}
        for group in groups:
            members = [layout for layout in layouts if layout.name.startswith(group + "/")]
            group_raw = sum(per_series[m.name] for m in members)
            # a group without windows (artificialNoAnomaly) has no 0..100 scale: report its false-alarm cost
            by_group[group] = {"raw": group_raw, "score": normalised(group_raw, members, profile)
                               if any(m.n_windows for m in members) else None}
        out[name] = {"threshold": threshold, "raw": raw, "score": normalised(raw, layouts, profile),
                     "groups": by_group}
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=None,
                        help="methods to run (default: every registered unsupervised method)")
    parser.add_argument("--series", nargs="+", default=None,
                        help="groups (realKnownCause), file stems (nyc_taxi) or group/file.csv; default all 58")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA, help="NAB folder (data/, labels/, config/)")
    parser.add_argument("--fast", action="store_true", help=f"reduced deep settings: {FAST_PARAMS}")
    parser.add_argument("--calibration", default="past_rank",
                        help="raw score to NAB's [0, 1]: past_rank (rank among past scores, default), robust_z "
                             "(robust z squashed) or likelihood[:key=value,...] (the product's anomaly likelihood)")
    parser.add_argument("--param", action="append", default=[], metavar="METHOD.KEY=VALUE",
                        help="a method parameter (repeatable), e.g. sliding_knn.window=500")
    parser.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE",
                        help="parameters for every method that declares them (e.g. context=centred window=64)")
    parser.add_argument("--max-buffer", type=int, default=20, help="largest VUS-PR buffer, in steps")
    parser.add_argument("--out", type=Path, default=None, help="JSON file (default artifacts/nab_<time>.json)")
    args = parser.parse_args(argv)
    product_calibration = None
    if args.calibration not in CALIBRATIONS:
        try:
            product_calibration = make_calibration(args.calibration)
        except CoreError as exc:
            parser.error(f"--calibration: {exc}")
        if product_calibration is None:
            parser.error("--calibration none gives no [0, 1] scores; use past_rank, robust_z or likelihood")
    overrides: dict[str, dict] = {}
    for item in args.param:
        target, _, value = item.partition("=")
        method_name, _, key = target.partition(".")
        if not key or not value:
            parser.error(f"--param wants METHOD.KEY=VALUE, got {item!r}")
        overrides.setdefault(method_name, {})[key] = value

    data_dir = args.data_dir if args.data_dir.is_absolute() else Path.cwd() / args.data_dir
    profiles = load_profiles(data_dir / "config" / "profiles.json")
    all_layouts = load_layouts(data_dir)
    names = select_series([layout.name for layout in all_layouts], args.series)
    layouts = [layout for layout in all_layouts if layout.name in names]

    methods, skipped = [], {}
    for method in args.methods or default_methods():
        reason = available(method)
        if reason is None:
            methods.append(method)
        else:
            skipped[method] = reason
            print(f"skipping {method}: {reason}")

    series = {layout.name: pd.read_csv(data_dir / "data" / layout.name, usecols=["value"])["value"]
              .to_numpy(dtype=float).reshape(-1, 1) for layout in layouts}
    results: dict[str, dict] = {}
    for method in methods:
        params = dict(FAST_PARAMS.get(method, {})) if args.fast else {}
        declared = get_method(method).defaults()
        params.update({key: value for key, _, value in (item.partition("=") for item in args.set) if key in declared})
        params.update(overrides.get(method, {}))
        anomaly, rows, errors = {}, [], {}
        lookahead = None
        for layout in layouts:
            values = series[layout.name]
            n_train = probationary_length(values.shape[0])
            try:
                row = run_series(method, params, values, n_train,
                                 None if product_calibration is None else args.calibration)
            except CoreError as exc:
                # a series the method cannot handle counts as flagging nothing there
                if str(exc) not in errors.values():  # say each distinct reason once
                    print(f"{method:16s} {layout.name:55s} error: {exc}", flush=True)
                errors[layout.name] = str(exc)
                anomaly[layout.name] = np.zeros(values.shape[0])
                continue
            lookahead = row["looks_ahead"]
            anomaly[layout.name] = (row["raw"] if product_calibration is not None
                                    else CALIBRATIONS[args.calibration](row["raw"], n_train))
            labels, scored = layout.in_window, layout.scored
            ranking = {}
            if labels[scored].any():
                ranking = {"pr_auc": pr_auc(labels[scored], row["raw"][scored]),
                           "vus_pr": vus_pr(labels[scored], row["raw"][scored], args.max_buffer)}
            rows.append({"series": layout.name, "fit_s": row["fit_s"], "score_s": row["score_s"],
                         "adaptive": row["adaptive"], **ranking})
        if not rows:
            results[method] = {"errors": errors}
            continue
        frame = pd.DataFrame(rows)
        results[method] = {
            "params": params, "looks_ahead": lookahead, "adaptive": bool(frame["adaptive"].any()),
            "nab": nab_scores(layouts, anomaly, profiles),
            **{key: float(frame[key].mean()) if key in frame else float("nan") for key in ("pr_auc", "vus_pr")},
            "fit_s": float(frame["fit_s"].sum()), "score_s": float(frame["score_s"].sum()),
            "n_series": len(rows), "errors": errors,
        }
        nab = results[method]["nab"]
        print(f"{method:16s} " + "  ".join(f"{SHORT[p]} {nab[p]['score']:6.2f}" for p in PROFILES)
              + f"  PR-AUC {results[method]['pr_auc']:.3f}  VUS-PR {results[method]['vus_pr']:.3f}"
              + f"  fit {results[method]['fit_s']:.1f}s  score {results[method]['score_s']:.1f}s", flush=True)

    rescored = {}
    if len(layouts) == len(all_layouts):  # NAB's published outputs cover the whole corpus
        for detector in RESCORED:
            if (data_dir / "results" / detector).is_dir():
                rescored[detector] = nab_scores(layouts, read_detector_results(data_dir / "results", detector, names),
                                                profiles)
    published = json.loads((data_dir / "results" / "published_scores.json").read_text())
    report(results, rescored, published, layouts, args)
    check_suggestion(series, results)

    out = args.out or ROOT / "artifacts" / f"nab_{time.strftime('%Y%m%d_%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "protocol": {"series": names, "fast": args.fast, "max_buffer": args.max_buffer, "data_dir": str(data_dir),
                     "training": "probationary period, min(15%, 750) rows",
                     "calibration": args.calibration},
        "skipped": skipped, "results": results, "rescored": rescored,
    }, indent=2, default=str))
    print(f"wrote {out}")
    return 0


def report(results: dict, rescored: dict, published: dict, layouts, args) -> None:
    groups = sorted({layout.name.split("/")[0] for layout in layouts})
    header = (f"{'method':18s} {'Standard':>8s} {'Low FP':>8s} {'Low FN':>8s} {'thr':>6s} {'PR-AUC':>7s}"
              f" {'VUS-PR':>7s} {'fit s':>7s} {'score s':>8s}")

    def line(name, scores, extra=""):
        return (f"{name:18s} " + " ".join(f"{scores[p]:8.2f}" for p in PROFILES) + extra)

    print(f"\nNAB, {len(layouts)} series, {sum(l.n_windows for l in layouts)} windows"
          f"{' [--fast: ' + str(FAST_PARAMS) + ']' if args.fast else ''}")
    sections = (("Eligible (causal: each step scored before the next arrives)", False),
                ("Not eligible (look ahead: a step's score uses later steps)", True))
    ranked = sorted((m for m in results if "nab" in results[m]),
                    key=lambda m: -results[m]["nab"]["standard"]["score"])
    for title, ahead in sections:
        print(f"\n{title}\n{header}")
        for method in (m for m in ranked if results[m]["looks_ahead"] == ahead):
            r = results[method]
            tag = method + (" (adaptive)" if r["adaptive"] else "")
            print(line(tag, {p: r["nab"][p]["score"] for p in PROFILES},
                       f" {r['nab']['standard']['threshold']:6.3f} {r['pr_auc']:7.3f} {r['vus_pr']:7.3f}"
                       f" {r['fit_s']:7.1f} {r['score_s']:8.1f}"
                       + (f"  ({len(r['errors'])} series failed)" if r["errors"] else "")))
    if len(layouts) == 58:
        print("\nNAB scoreboard (published_scores.json)")
        for detector in SCOREBOARD:
            if detector in published:
                print(line(detector, published[detector]))
    if rescored:
        print("\nNAB's published outputs rescored here (threshold optimised per profile; the standard one shown)")
        for detector, scores in rescored.items():
            print(line(detector, {p: scores[p]["score"] for p in PROFILES},
                       f" {scores['standard']['threshold']:6.3f}"))
    for profile in PROFILES:
        print(f"\nPer group, {SHORT[profile]} profile (corpus threshold; 'raw': no window, false-alarm cost)")
        print(f"{'method':18s} " + " ".join(f"{g[:12]:>12s}" for g in groups))
        for method in ranked:
            by_group = results[method]["nab"][profile]["groups"]
            print(f"{method:18s} " + " ".join(f"{by_group[g]['score']:12.2f}" if by_group[g]["score"] is not None
                                              else f"{by_group[g]['raw']:8.2f} raw" for g in groups))
    for method, reason in ((m, r["errors"]) for m, r in results.items() if "nab" not in r):
        print(f"{method}: failed on every series ({next(iter(reason.values()), '')})")


def check_suggestion(series: dict, results: dict) -> None:
    """What :mod:`core.suggest` suggests for each series, and its rank here by the standard score."""
    from core.suggest import DataProfile, suggest
    from core.windows import dominant_period

    scores = {m: r["nab"]["standard"]["score"] for m, r in results.items() if "nab" in r}
    suggested: dict[str, int] = {}
    for values in series.values():
        profile = DataProfile("series", values.shape[0], values.shape[1], dominant_period(values))
        method = suggest(profile).method
        suggested[method] = suggested.get(method, 0) + 1
    for method, count in suggested.items():
        if method not in scores:
            print(f"\nsuggested {method} for {count} series; this run did not include it")
            continue
        rank = 1 + sum(round(v, 2) > round(scores[method], 2) for v in scores.values())
        print(f"\nsuggested {method} for {count} of {len(series)} series: rank {rank} of {len(scores)} here by the "
              f"standard score ({'top three' if rank <= 3 else 'NOT in the top three'})")


if __name__ == "__main__":
    raise SystemExit(main())
