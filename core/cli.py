"""Command line: ``python -m core {methods,evaluate,train,score,stream}``.

Errors are printed to stderr as one line and give a non-zero exit status (2 for bad input).
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
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

    train = commands.add_parser("train", help="train and save a model bundle")
    _add_data_options(train)
    train.add_argument("--out", required=True, help="where to write the model bundle")
    train.add_argument("--json", action="store_true", help="print the evaluation as JSON")
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
    _add_key_option(stream)
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
                          scaler=args.scaler)


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


def _cmd_evaluate(args) -> int:
    _print_summary(_experiment(args).summary(), args.json)
    return 0


def _cmd_train(args) -> int:
    if args.test_size == 0:  # no evaluation: fit on every normal row
        from .pipeline import DetectionPipeline
        from .registry import get_method

        spec = get_method(args.method)
        params = {k: spec.param(k).coerce(v) for k, v in _parse_params(args.param).items()}
        dataset = _load_dataset(args)
        rows = slice(None) if (dataset.y is None or spec.supervised or spec.input_kind == "windows") else dataset.y == 0
        pipeline = DetectionPipeline(args.method, params, args.threshold, args.scaler).fit(
            dataset.X[rows], dataset.y if spec.supervised else None, feature_names=dataset.feature_names)
        path = pipeline.save(args.out, key=_bundle_key(args))
        _print_summary({**pipeline.describe(), "model": str(path)}, args.json)
        return 0
    key = _bundle_key(args)  # a bad key file is reported before training, not after
    result = _experiment(args)
    path = result.pipeline.save(args.out, key=key)
    summary = {**result.summary(), "model": str(path)}
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

    pipeline = DetectionPipeline.load(args.model, key=_bundle_key(args))
    run_stream(pipeline, args.source, args.sink, max_records=args.max_records, timeout=args.timeout,
               time_field=args.time_field, only_anomalies=args.only_anomalies, rate=args.rate,
               id_field=args.id_field)
    return 0


COMMANDS = {"methods": _cmd_methods, "evaluate": _cmd_evaluate, "train": _cmd_train,
            "score": _cmd_score, "stream": _cmd_stream}


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
