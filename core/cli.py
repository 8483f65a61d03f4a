"""Command line: ``python -m core {methods,evaluate,train,score,stream,runs}``.

Errors are printed to stderr as one line and give a non-zero exit status (2 for bad input).
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from .errors import CoreError, DataError


def _add_data_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", help="CSV or Parquet file")
    parser.add_argument("--method", required=True, help="registered method name (see `methods`)")
    parser.add_argument("--feature-columns", help="comma-separated names or 0-based positions (default: all numeric)")
    parser.add_argument("--label-column", help="name or 0-based position of the label column")
    parser.add_argument("--normal-value", help="label value that means normal (default: the majority value)")
    parser.add_argument("--time-column", help="name or position of a time column (makes the data a series)")
    parser.add_argument("--test-size", type=float, default=0.2,
                        help="share of rows held out for testing (train: 0 fits on every normal row)")
    parser.add_argument("--seed", type=int, default=21, help="seed of the random split")
    parser.add_argument("--split", choices=("auto", "random", "chronological"), default="auto")
    parser.add_argument("--train-fraction", type=float, help="series: share of the series used for training")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="method parameter")
    parser.add_argument("--threshold", help="threshold strategy, e.g. mean_std:k=1, percentile:q=95, best_f1")
    parser.add_argument("--scaler", default="auto", help="auto, standard, minmax, global_minmax, robust, none")
    parser.add_argument("--calibration", default=None,
                        help="calibrate the scores after the method: likelihood (the anomaly likelihood, "
                             "e.g. likelihood:averaging_window=5) or none (default)")
    parser.add_argument("--missing", choices=("error", "drop", "median", "previous"),
                        help="missing or not-a-number feature values: stop (default), drop their rows, "
                             "or fill with the column median or the previous value")
    parser.add_argument("--drop-missing", action="store_true", help="the same as --missing drop")
    parser.add_argument("--keep-constant", action="store_true",
                        help="refuse constant feature columns instead of leaving them out with a note")
    parser.add_argument("--drop-constant", action="store_true", help=argparse.SUPPRESS)  # the default now
    order = parser.add_mutually_exclusive_group()
    order.add_argument("--dayfirst", dest="dayfirst", action="store_const", const=True,
                       help="numeric dates such as 02/01/2024 are day first (2 January) when the values do not say")
    order.add_argument("--monthfirst", dest="dayfirst", action="store_const", const=False,
                       help="numeric dates such as 02/01/2024 are month first (1 February)")


def _add_workspace_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workspace", help="workspace folder or database URL (default: $ANOMALY_WORKSPACE, "
                                            "else ./workspace)")


def _add_save_run_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--save-run", nargs="?", const="", metavar="NAME",
                        help="record the run in the workspace (optionally under NAME)")
    _add_workspace_option(parser)


def _add_key_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--key-file", help="file holding the bundle signing key: bundles are signed on save and "
                                           "must carry a valid signature to load (default: $ANOMALY_BUNDLE_KEY "
                                           "or $ANOMALY_BUNDLE_KEY_FILE; none = unsigned bundles)")


def _bundle_key(args):
    """The signing key the command uses: ``--key-file`` if given, else the environment's."""
    from . import signing

    return signing.read_key_file(args.key_file) if args.key_file else signing.FROM_ENVIRONMENT


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core", description="Anomaly detection from the command line.")
    commands = parser.add_subparsers(dest="command", required=True)

    commands.add_parser("methods", help="list the registered methods and their parameters")

    evaluate = commands.add_parser("evaluate", help="train on the normal training rows and evaluate on the test part")
    _add_data_options(evaluate)
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    _add_save_run_option(evaluate)

    train = commands.add_parser("train", help="train and save a model bundle")
    _add_data_options(train)
    train.add_argument("--out", required=True, help="where to write the model bundle")
    train.add_argument("--json", action="store_true", help="print the evaluation as JSON")
    _add_save_run_option(train)
    _add_key_option(train)

    score = commands.add_parser("score", help="score a file with a saved model bundle")
    score.add_argument("model", help="model bundle written by `train`")
    score.add_argument("data", help="CSV or Parquet file (a path or, with --engine spark, a glob)")
    score.add_argument("--out", required=True, help="output file (CSV; Parquet folder with --engine spark)")
    score.add_argument("--time-column", help="sort by this column before scoring (series models)")
    score.add_argument("--engine", choices=("local", "spark"), default="local")
    score.add_argument("--master", default="local[*]", help="Spark master URL (with --engine spark)")
    _add_key_option(score)

    stream = commands.add_parser("stream", help="score records as they arrive")
    stream.add_argument("model", help="model bundle written by `train`")
    stream.add_argument("--source", required=True,
                        help="replay:FILE[?rate=N], mqtt://HOST:PORT/TOPIC, kafka://HOST:PORT/TOPIC, folder:DIR")
    stream.add_argument("--sink", default="stdout", help="stdout, csv:FILE, mqtt://HOST:PORT/TOPIC, kafka://...")
    stream.add_argument("--max-records", type=int, help="stop after this many records")
    stream.add_argument("--timeout", type=float, help="stop after this many seconds")
    stream.add_argument("--time-field", help="record field holding the timestamp (kept in the output)")
    stream.add_argument("--only-anomalies", action="store_true", help="emit flagged records only")
    stream.add_argument("--rate", type=float, help="replay speed in records per second")
    stream.add_argument("--id-field", help="record field holding a unique id: records delivered again are "
                        "counted as duplicates instead of being scored twice")
    stream.add_argument("--checkpoint", help="for a model that keeps learning (an online method or a "
                        "calibration): file where its state is saved after every batch and resumed from "
                        "(default: MODEL.checkpoint beside the bundle; 'none' to keep nothing)")
    _add_key_option(stream)

    runs = commands.add_parser("runs", help="the runs recorded in the workspace")
    runs_commands = runs.add_subparsers(dest="runs_command", required=True)
    listing = runs_commands.add_parser("list", help="every run, newest first")
    listing.add_argument("--dataset", help="only the runs of this dataset id (see `runs show`)")
    listing.add_argument("--json", action="store_true", help="print one JSON object per line")
    _add_workspace_option(listing)
    show = runs_commands.add_parser("show", help="one run: method, parameters, settings, metrics, threshold policy")
    show.add_argument("run", help="run id (an unambiguous prefix will do)")
    show.add_argument("--json", action="store_true", help="print one JSON object")
    _add_workspace_option(show)
    compare = runs_commands.add_parser("compare", help="runs side by side; on the same data, how their scores agree")
    compare.add_argument("run", nargs="+", help="two or more run ids (prefixes will do)")
    compare.add_argument("--json", action="store_true", help="print one JSON object")
    _add_workspace_option(compare)
    return parser


def _parse_params(pairs: Sequence[str]) -> dict:
    params = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise DataError(f"--param expects KEY=VALUE, got {pair!r}.")
        params[key.strip()] = value.strip()
    return params


def _load_dataset(args):
    from .data import Roles, majority_value, prepare, read_table, resolve_column

    # explicit options only: a guessed role must not silently change what is evaluated
    frame = read_table(args.data)
    features = [f.strip() for f in args.feature_columns.split(",")] if args.feature_columns else None
    label = args.label_column
    normal = args.normal_value
    if label is not None and normal is None:
        normal = majority_value(frame[resolve_column(frame, label)])
    roles = Roles(features=features, time=args.time_column, label=label, normal_value=normal)
    dataset = prepare(frame, roles, missing=args.missing, drop_missing=args.drop_missing,
                      drop_constant=not args.keep_constant, dayfirst=args.dayfirst)
    args.notes = frame.attrs.get("read_notes", []) + dataset.warnings + dataset.doubts
    return dataset


def _experiment(args):
    dataset = _load_dataset(args)  # first: a bad file is reported before the modelling libraries load
    from .experiment import run_experiment
    from .registry import get_method

    spec = get_method(args.method)
    params = {k: spec.param(k).coerce(v) for k, v in _parse_params(args.param).items()}
    return run_experiment(dataset, args.method, params, threshold=args.threshold, test_size=args.test_size,
                          seed=args.seed, split=args.split, train_fraction=args.train_fraction,
                          scaler=args.scaler, calibration=args.calibration)


def _print_summary(summary: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(summary))
        return
    for key, value in summary.items():
        print(f"{key:>22}: {value:.4f}" if isinstance(value, float) else f"{key:>22}: {value}")


def _cmd_methods(args) -> int:
    from .registry import list_methods

    for spec in list_methods():
        print(f"{spec.name:<18} {spec.family:<12} {spec.input_kind:<8} {spec.description}")
        for p in spec.params:
            print(f"{'':<20}{p.name}={p.default!r} ({p.kind}) {p.help}")
    return 0


def _save_run(args, run, summary: dict) -> None:
    """With ``--save-run``, record the run in the workspace and add its id to the summary."""
    if args.save_run is None:
        return
    from pathlib import Path

    from .workspace import Workspace

    run.table_name = Path(args.data).name
    with Workspace(args.workspace) as workspace:
        summary["run_id"] = workspace.save_run(run, name=args.save_run or None)


def _cmd_evaluate(args) -> int:
    run = _experiment(args)
    args.notes += [n for n in [run.pipeline.window_note()] if n]
    summary = run.summary()
    _save_run(args, run, summary)
    _print_summary(summary, args.json)
    return 0


def _cmd_train(args) -> int:
    if args.test_size == 0:  # no evaluation: fit on every normal row
        if args.save_run is not None:
            raise DataError("--save-run records an evaluated run: use a test size above 0.")
        from .pipeline import DetectionPipeline
        from .registry import get_method

        spec = get_method(args.method)
        params = {k: spec.param(k).coerce(v) for k, v in _parse_params(args.param).items()}
        dataset = _load_dataset(args)
        rows = slice(None) if (dataset.y is None or spec.supervised or spec.input_kind == "windows") else dataset.y == 0
        pipeline = DetectionPipeline(args.method, params, args.threshold, args.scaler, args.calibration).fit(
            dataset.X[rows], dataset.y if spec.supervised else None, feature_names=dataset.feature_names)
        path = pipeline.save(args.out, key=_bundle_key(args))
        args.notes += [n for n in [pipeline.window_note()] if n]
        _print_summary({**pipeline.describe(), "model": str(path)}, args.json)
        return 0
    key = _bundle_key(args)  # a bad key file is reported before training, not after
    result = _experiment(args)
    args.notes += [n for n in [result.pipeline.window_note()] if n]
    path = result.pipeline.save(args.out, key=key)
    summary = {**result.summary(), "model": str(path)}
    _save_run(args, result, summary)
    _print_summary(summary, args.json)
    return 0


def _cmd_score(args) -> int:
    from .pipeline import DetectionPipeline

    if args.engine == "spark":
        from .spark.batch import score_files

        score_files(args.model, args.data, args.out, master=args.master, key=_bundle_key(args))
        print(f"wrote {args.out}")
        return 0
    from .data import read_table, resolve_column
    from .thresholds import apply_threshold

    pipeline = DetectionPipeline.load(args.model, key=_bundle_key(args))
    frame = read_table(args.data)
    if args.time_column is not None:
        from .timeseries import parse_time

        column = resolve_column(frame, args.time_column)
        frame = frame.iloc[parse_time(frame[column]).argsort(kind="stable")].reset_index(drop=True)
    scores = pipeline.score(frame)
    out = frame.copy()
    out["anomaly_score"] = scores
    out["anomaly_flag"] = apply_threshold(scores, pipeline.threshold_).astype(int)
    from .export import csv_text

    csv_text(out, args.out)
    print(f"scored {len(out)} rows, flagged {int(out['anomaly_flag'].sum())}; wrote {args.out}")
    return 0


def _cmd_stream(args) -> int:
    from .pipeline import DetectionPipeline
    from .streaming import run_stream

    from .streaming.checkpoint import default_checkpoint_path

    key = _bundle_key(args)
    pipeline = DetectionPipeline.load(args.model, key=key)
    checkpoint = None
    if pipeline.adaptive and args.checkpoint != "none":
        checkpoint = args.checkpoint or default_checkpoint_path(args.model)
        if Path(checkpoint).exists():
            print(f"note: continuing from the checkpoint {checkpoint}", file=sys.stderr)
    run_stream(pipeline, args.source, args.sink, max_records=args.max_records, timeout=args.timeout,
               time_field=args.time_field, only_anomalies=args.only_anomalies, rate=args.rate,
               id_field=args.id_field, checkpoint=checkpoint, key=key)
    return 0


def _cmd_runs(args) -> int:
    from .workspace import Workspace

    with Workspace(args.workspace) as workspace:
        if args.runs_command == "list":
            records = workspace.runs(args.dataset)
            if args.json:
                for record in records:
                    print(json.dumps(record.summary()))
                return 0
            if not records:
                print(f"no runs in the workspace at {workspace.where}")
                return 0
            print(f"{'id':<10} {'name':<28} {'method':<16} {'dataset':<20} {'ROC-AUC':>7} {'F1':>6} {'created':<19}")
            for record in records:
                row = record.summary()
                print(f"{row['id'][:8]:<10} {_cut(row['name'], 28):<28} {row['method']:<16} "
                      f"{_cut(row['dataset'], 20):<20} {_number(row['roc_auc']):>7} {_number(row['f1']):>6} "
                      f"{row['created']:<19}")
            return 0
        if args.runs_command == "show":
            record = workspace.run_record(args.run)
            shown = {"id": record.id, "name": record.name, "method": record.method, "dataset": record.dataset_name,
                     "dataset_id": record.dataset_id, "params": record.params, "settings": record.settings,
                     "threshold": record.threshold, "threshold_description": record.threshold_description,
                     "threshold_policy": record.threshold_policy, "metrics": _flat_metrics(record.metrics),
                     "series_metrics": record.series_metrics, "split": record.split,
                     "fit_seconds": record.fit_seconds, "score_seconds": record.score_seconds,
                     "device": record.device, "author": record.author, "created": record.summary()["created"],
                     "notes": record.details.get("notes", []), "verdicts": len(workspace.annotations(record.id))}
            if args.json:
                print(json.dumps(shown))
            else:
                for key, value in shown.items():
                    text = json.dumps(value) if isinstance(value, (dict, list)) else value
                    print(f"{key:>22}: {text}")
            return 0
        return _compare(workspace, args)


def _compare(workspace, args) -> int:
    if len(args.run) < 2:
        raise DataError("Compare needs two or more runs.")
    records = [workspace.run_record(r) for r in args.run]
    keys = ("roc_auc", "pr_auc", "precision", "recall", "f1", "accuracy", "n_flagged")
    table = {r.id[:8]: {"name": r.name, "method": r.method, "dataset": r.dataset_name,
                        **{k: (r.metrics or {}).get(k) for k in keys}, "threshold": r.threshold,
                        "fit_seconds": round(r.fit_seconds, 4)} for r in records}
    agreement = {}
    if len({r.dataset_id for r in records}) == 1:
        from .compare import spearman

        first = workspace.load_run(records[0].id)
        runs = [first] + [workspace.load_run(r.id, dataset=first.dataset) for r in records[1:]]
        for i in range(len(runs)):
            for j in range(i + 1, len(runs)):
                a, b = runs[i], runs[j]
                flags_a, flags_b = a.flags().astype(bool), b.flags().astype(bool)
                either = int((flags_a | flags_b).sum())
                agreement[f"{records[i].id[:8]}~{records[j].id[:8]}"] = {
                    "score_rank_correlation": spearman(a.scores, b.scores),
                    "flag_overlap": float((flags_a & flags_b).sum() / either) if either else 1.0}
    if args.json:
        print(json.dumps({"runs": table, "agreement": agreement}))
        return 0
    ids = list(table)
    print(f"{'':>14} " + " ".join(f"{i:>12}" for i in ids))
    for key in ("name", "method", "dataset", *keys, "threshold", "fit_seconds"):
        print(f"{key:>14} " + " ".join(f"{_cut(_number(table[i][key]), 12):>12}" for i in ids))
    if agreement:
        print("same data: agreement between runs (Spearman rank correlation of the scores; flagged rows "
              "in both / flagged in either)")
        for pair, values in agreement.items():
            print(f"{pair:>19}: {values['score_rank_correlation']:.3f} rank correlation, "
                  f"{values['flag_overlap']:.3f} flag overlap")
    else:
        print("the runs were made on different data: their scores are not compared")
    return 0


def _cut(text, width: int) -> str:
    text = str(text)
    return text if len(text) <= width else text[:width - 1] + "…"


def _number(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _flat_metrics(metrics):
    return None if metrics is None else {k: v for k, v in metrics.items() if not isinstance(v, dict)}


COMMANDS = {"methods": _cmd_methods, "evaluate": _cmd_evaluate, "train": _cmd_train,
            "score": _cmd_score, "stream": _cmd_stream, "runs": _cmd_runs}


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    Notes on the data (columns left out, rows dropped, the encoding read) go to stderr, one
    ``note:`` line each, after a successful run; a failed run prints its one ``error:`` line only.
    Library warnings (numpy, pandas) are kept off stderr: what matters in them is in those lines.
    """
    args = _build_parser().parse_args(argv)
    args.notes = []
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            status = COMMANDS[args.command](args)
        for note in args.notes:
            print(f"note: {note}", file=sys.stderr)
        return status
    except CoreError as exc:
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # keep the promise of one clear line, never a traceback
        print(f"error: unexpected {type(exc).__name__}: {_one_line(exc)}", file=sys.stderr)
        return 1
