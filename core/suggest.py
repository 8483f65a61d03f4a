"""Which method? A suggestion for the data in front of you, without labels.

The suggestion comes from the product's own benchmark results, kept below as data in one place
(:data:`BENCHMARKS`, the figures of the README's ECG5000 and NAB tables, and
:data:`SCORING_ROWS_PER_S`, the README's scoring throughput). A table of rows is matched with
ECG5000, a series (data with a time column) with NAB's corpus. Among that benchmark's methods,
ranked by its metric, the first one that can train on the data without labels is suggested, unless
scoring every row would take longer than :data:`SCORING_BUDGET_S` at its measured throughput: then
the next of the benchmark's top three that would not. A method with a window length gets the
data's dominant period when one is found.

To refresh the suggestion after a benchmark run, update the rows of :data:`BENCHMARKS` (and the
README's "Which method?" table, which :func:`table_markdown` prints and a test compares).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


from .registry import METHODS, format_method_list, get_method, parse_method_list
from .windows import dominant_period


@dataclass(frozen=True)
class BenchmarkResult:
    """One method's figure in one benchmark run (as the README's table reports it)."""

    method: str
    score: float  # the benchmark's metric (higher is better)
    params: dict[str, Any] = field(default_factory=dict)
    note: str = ""
    #: the calibration the run used after the method (core.calibration: "likelihood"), or none
    calibration: str | None = None


@dataclass(frozen=True)
class Benchmark:
    """A benchmark run of the product: what data, which metric, the command, and every method's figure."""

    name: str
    kind: str  # "rows" or "series": which data it stands for
    data: str
    metric: str
    command: str
    results: tuple[BenchmarkResult, ...]

    def ranked(self) -> list[BenchmarkResult]:
        """Results best first; ties keep the table's order."""
        return sorted(self.results, key=lambda r: -r.score)

    def rank_of(self, method: str) -> int:
        """1-based rank of ``method`` (its best row) by the metric; ties share the better rank."""
        scores = [r.score for r in self.results]
        best = max(r.score for r in self.results if r.method == method)
        return 1 + sum(s > best for s in scores)


# ------------------------------------------------------------------------------------------------
# The benchmark table: the one place to update after a benchmark run (and the README with it)
# ------------------------------------------------------------------------------------------------
BENCHMARKS: dict[str, Benchmark] = {
    "ECG5000": Benchmark(
        "ECG5000", "rows", "4,998 heartbeats x 140 samples, no time column",
        "ROC-AUC", "python -m tests.bench.ecg5000",
        (BenchmarkResult("random_forest", 0.998, note="supervised, uses labels"),
         BenchmarkResult("ensemble", 0.996, {"members": "lof + knn + one_class_svm"}),
         BenchmarkResult("lof", 0.994),
         BenchmarkResult("knn", 0.994),
         BenchmarkResult("one_class_svm", 0.992),
         BenchmarkResult("pca", 0.982),
         BenchmarkResult("zscore", 0.977),
         BenchmarkResult("iqr", 0.961),
         BenchmarkResult("dense_ae", 0.955),
         BenchmarkResult("dense_ae_keras", 0.955),
         BenchmarkResult("isolation_forest", 0.943))),
    "NAB": Benchmark(
        "NAB", "series", "58 one-value series of 1,000-22,000 steps",
        "standard score", "python -m tests.bench.nab --fast",
        (BenchmarkResult("knn", 70.14, {"n_neighbors": 20}, calibration="likelihood"),
         BenchmarkResult("one_class_svm", 69.62, calibration="likelihood"),
         BenchmarkResult("zscore", 69.52, calibration="likelihood"),
         BenchmarkResult("sliding_knn", 69.15, calibration="likelihood"),
         BenchmarkResult("knn", 68.32, calibration="likelihood"),
         BenchmarkResult("iqr", 68.13, calibration="likelihood"),
         BenchmarkResult("sliding_zscore", 67.86, calibration="likelihood"),
         BenchmarkResult("online_forecast", 54.31, calibration="likelihood"),
         BenchmarkResult("knn", 59.16),
         BenchmarkResult("ensemble", 58.34, {"members": "lof + knn + one_class_svm"}),
         BenchmarkResult("zscore", 57.86),
         BenchmarkResult("dense_ae_keras", 56.88),
         BenchmarkResult("iqr", 56.84),
         BenchmarkResult("dense_ae", 56.46),
         BenchmarkResult("lstm_ae", 55.78),
         BenchmarkResult("sliding_knn", 55.53),
         BenchmarkResult("conv_ae", 53.42),
         BenchmarkResult("one_class_svm", 53.80),
         BenchmarkResult("rolling_median", 49.61),
         BenchmarkResult("windowed_pca", 48.20),
         BenchmarkResult("sliding_zscore", 41.40),
         BenchmarkResult("windowed_knn", 33.79),
         BenchmarkResult("windowed_lof", 31.02),
         BenchmarkResult("online_forecast", 34.27),
         BenchmarkResult("lof", 28.18),
         BenchmarkResult("isolation_forest", 24.08),
         BenchmarkResult("matrix_profile", 5.60))),
}

#: ``score_samples`` throughput (rows or steps per second, README's benchmarks, 10 features, CPU).
SCORING_ROWS_PER_S: dict[str, float] = {
    "zscore": 2.4e6, "iqr": 3.5e6, "pca": 3.5e6, "random_forest": 5.5e6, "dense_ae": 2.9e6, "dense_ae_keras": 1.1e6,
    "isolation_forest": 165e3, "one_class_svm": 176e3, "lof": 28e3, "knn": 28e3,
    "rolling_median": 450e3, "windowed_pca": 53e3, "conv_ae": 55e3, "lstm_ae": 20e3,
}
#: Longest scoring of every row (estimated from the throughput) a suggestion accepts, in seconds.
SCORING_BUDGET_S = 60.0
#: Fewer rows than this are too few for neighbour and kernel methods: the statistical z-score is suggested.
MIN_ROWS_FOR_LEARNED = 50
#: The first steps of a series its period is read from (enough for any period a window would use).
PERIOD_STEPS = 20_000


@dataclass(frozen=True)
class DataProfile:
    """What the suggestion looks at: rows or series, size, features, period, missing values."""

    kind: str  # "rows" or "series"
    n_rows: int
    n_features: int
    period: int | None = None
    missing_share: float = 0.0


@dataclass(frozen=True)
class Suggestion:
    method: str
    params: dict[str, Any]
    why: str
    benchmark: str
    rank: int  # the method's rank in that benchmark by its metric
    calibration: str | None = None  # to use after the method, as in the benchmark run

    @property
    def label(self) -> str:
        return get_method(self.method).label


def profile_of(dataset, table=None) -> DataProfile:
    """The :class:`DataProfile` of a :class:`core.data.Dataset` (and its table, for missing values)."""
    X = dataset.X
    series = bool(dataset.is_series)
    missing = 0.0
    frame = table if table is not None else getattr(dataset, "frame", None)
    if frame is not None:
        columns = [c for c in dataset.feature_names if c in frame.columns]
        if columns:
            missing = float(frame[columns].isna().to_numpy().mean())
    return DataProfile("series" if series else "rows", int(X.shape[0]), int(X.shape[1]),
                       dominant_period(X[:PERIOD_STEPS]) if series else None, missing)


def _usable(result: BenchmarkResult, profile: DataProfile) -> bool:
    spec = METHODS.get(result.method)
    if spec is None or spec.supervised:
        return False
    if spec.input_kind == "windows" and profile.kind != "series":
        return False
    if result.method == "pca" and profile.n_features < 2:
        return False
    return True


def _rows_per_s(method: str, params: dict) -> float | None:
    if method == "ensemble":  # its members score one after another
        members = parse_method_list(params.get("members", get_method("ensemble").defaults()["members"]))
        speeds = [SCORING_ROWS_PER_S.get(name) for name, _ in members]
        return None if None in speeds else 1.0 / sum(1.0 / s for s in speeds)
    return SCORING_ROWS_PER_S.get(method)


def _seconds(method: str, params: dict, n_rows: int) -> float:
    speed = _rows_per_s(method, params)
    return 0.0 if speed is None else n_rows / speed


def suggest(profile: DataProfile) -> Suggestion:
    """The method suggested for data with this profile, its parameters and one line on why."""
    benchmark = BENCHMARKS["NAB" if profile.kind == "series" else "ECG5000"]
    ranked = [r for r in benchmark.ranked() if _usable(r, profile)]
    if profile.n_rows < MIN_ROWS_FOR_LEARNED:
        chosen = next(r for r in ranked if r.method == "zscore")
        reason = f"only {profile.n_rows} rows, too few for neighbours or kernels"
    else:
        top_three = [r for r in ranked if benchmark.rank_of(r.method) <= 3] or ranked[:1]
        fast = [r for r in top_three if _seconds(r.method, r.params, profile.n_rows) <= SCORING_BUDGET_S]
        if fast:
            chosen = fast[0]
        else:  # nothing in the top three scores this much data quickly: the fastest of them
            chosen = min(top_three, key=lambda r: _seconds(r.method, r.params, profile.n_rows))
        reason = _ranking_words(benchmark, chosen, ranked)
        if chosen is not ranked[0]:
            best = ranked[0]
            reason += (f"; {best.method} ranks higher but would take about "
                       f"{_seconds(best.method, best.params, profile.n_rows):.0f} s to score {profile.n_rows:,} rows")
    params = dict(chosen.params)
    if "members" in params:
        params["members"] = format_method_list(parse_method_list(params["members"]))
    spec = get_method(chosen.method)
    notes = []
    if profile.period and any(p.name == "window" for p in spec.params):
        params["window"] = int(max(spec.param("window").low or 2, profile.period))
        notes.append(f"window set to the period found, {profile.period} steps")
    if profile.missing_share > 0:
        notes.append(f"{100 * profile.missing_share:.1f}% of the feature cells are missing: fill or drop them first")
    why = reason + ("; " + "; ".join(notes) if notes else "") + "."
    return Suggestion(chosen.method, params, why[0].upper() + why[1:], benchmark.name, benchmark.rank_of(chosen.method),
                      chosen.calibration)


def _ranking_words(benchmark: Benchmark, chosen: BenchmarkResult, usable: list[BenchmarkResult]) -> str:
    where = f"on {benchmark.name} ({benchmark.data})"
    if chosen.calibration:
        where += f", with the anomaly {chosen.calibration}"
    if chosen is usable[0]:
        others = usable[1:2]
        versus = f", next {others[0].method} {_figure(others[0].score)}" if others else ""
        return f"best {benchmark.metric} without labels {where}: {_figure(chosen.score)}{versus}"
    return (f"{benchmark.metric} {_figure(chosen.score)} {where}, rank {benchmark.rank_of(chosen.method)} "
            f"of {len(benchmark.results)}")


def _figure(value: float) -> str:
    return f"{value:.3f}" if value <= 1 else f"{value:.1f}"


def table_markdown() -> str:
    """The README's "Which method?" table: every benchmark row the suggestion reads."""
    lines = ["| benchmark | data | method | parameters | calibration | metric | value | note |",
             "|---|---|---|---|---|---|---|---|"]
    for benchmark in BENCHMARKS.values():
        for result in benchmark.ranked():
            params = ", ".join(f"{k} = {v}" for k, v in result.params.items())
            value = f"{result.score:.3f}" if result.score <= 1 else f"{result.score:.2f}"
            lines.append(f"| {benchmark.name} | {benchmark.kind} | `{result.method}` | {params} "
                         f"| {result.calibration or ''} | {benchmark.metric} "
                         f"| {value} | {result.note} |")
    return "\n".join(lines)
