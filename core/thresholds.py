"""Threshold strategies, kept apart from the models (a model scores, a threshold decides).

Each strategy is a small object: ``fit(scores, y=None)`` sets ``threshold_`` and returns ``self``;
``describe()`` says in words how the value was chosen, and ``fitted_on`` which rows of a run it is
fitted on, the same wherever it is picked (training, the Results page, the command line): the
label-free strategies on the normal training rows the model was fitted on, best F1 on the labelled
validation rows held out from fitting. A point is flagged as anomalous when its score is strictly
above the threshold (:func:`apply_threshold`), everywhere in the product. :data:`DEFAULTS` holds the
one set of default parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field, asdict
from typing import Any

import numpy as np

from .errors import DataError


#: The default parameter of each strategy, used by the strategies themselves, the dashboard and the CLI.
DEFAULTS: dict[str, dict[str, float]] = {"mean_std": {"k": 3.0}, "percentile": {"q": 99.0},
                                         "contamination": {"fraction": 0.05}}

#: What each ``fitted_on`` value means, in words.
FITTED_ON = {"fit": "the normal training rows the model was fitted on",
             "validation": "the labelled training rows held out from fitting (a validation part)",
             None: "nothing (a value set by hand)"}


def apply_threshold(scores, threshold: float):
    """Return 0/1 labels: 1 where ``scores > threshold`` (higher score = more anomalous).

    The one flagging rule. ``scores`` is anything array-like; a Spark column gives an integer column.
    """
    if type(scores).__name__ == "Column" and hasattr(scores, "cast"):  # pyspark.sql.Column, without importing it
        return (scores > float(threshold)).cast("int")
    return (np.asarray(scores, dtype=float) > threshold).astype(np.int8)


def _finite_scores(scores) -> np.ndarray:
    values = np.asarray(scores, dtype=float).ravel()
    if values.size == 0:
        raise DataError("Cannot choose a threshold from an empty set of scores.")
    if not np.all(np.isfinite(values)):
        raise DataError("Scores contain NaN or infinite values; cannot choose a threshold.")
    return values


@dataclass
class ThresholdStrategy:
    """Base class: subclasses implement ``_choose`` and ``_explain``."""

    name = "base"
    needs_labels = False
    #: which rows of a run the strategy is fitted on: a key of :data:`FITTED_ON`
    fitted_on = "fit"
    threshold_: float | None = field(default=None, init=False, repr=False)
    n_scores_: int = field(default=0, init=False, repr=False)

    def fit(self, scores, y=None) -> "ThresholdStrategy":
        values = _finite_scores(scores)
        if self.needs_labels:
            if y is None:
                raise DataError(f"The '{self.name}' threshold needs labelled validation data.")
            y = np.asarray(y).ravel()
            if y.shape != values.shape:
                raise DataError("Scores and labels for the threshold have different lengths.")
        self.threshold_ = float(self._choose(values, y))
        self.n_scores_ = int(values.size)
        return self

    def describe(self) -> str:
        if self.threshold_ is None:
            return self._explain()
        return f"{self._explain()} of {self.n_scores_} scores = {self.threshold_:.6g}"

    def to_dict(self) -> dict[str, Any]:
        params = {k: v for k, v in asdict(self).items() if not k.endswith("_")}
        return {"strategy": self.name, **params}

    def _choose(self, values: np.ndarray, y) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def _explain(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError


@dataclass
class MeanStd(ThresholdStrategy):
    """``mean + k * std`` of the scores (S1 uses k = 1 on the training errors)."""

    k: float = DEFAULTS["mean_std"]["k"]
    name = "mean_std"

    def _choose(self, values, y):
        return values.mean() + self.k * values.std()

    def _explain(self):
        return f"mean + {self.k:g}·std"


@dataclass
class Percentile(ThresholdStrategy):
    """The ``q``-th percentile of the scores (S2 uses 95 on the training windows)."""

    q: float = DEFAULTS["percentile"]["q"]
    name = "percentile"

    def __post_init__(self):
        if not 0.0 <= float(self.q) <= 100.0:
            raise DataError(f"Percentile must be between 0 and 100, got {self.q}.")

    def _choose(self, values, y):
        return np.percentile(values, self.q)

    def _explain(self):
        return f"{self.q:g}th percentile"


@dataclass
class Contamination(ThresholdStrategy):
    """Flag the top ``fraction`` of the scores it is fitted on (an expected anomaly rate)."""

    fraction: float = DEFAULTS["contamination"]["fraction"]
    name = "contamination"

    def __post_init__(self):
        if not 0.0 < float(self.fraction) < 1.0:
            raise DataError(f"Contamination must be between 0 and 1 (exclusive), got {self.fraction}.")

    def _choose(self, values, y):
        return np.quantile(values, 1.0 - self.fraction)

    def _explain(self):
        return f"top {100 * self.fraction:g}% (contamination)"


@dataclass
class BestF1(ThresholdStrategy):
    """The threshold that maximises F1 (anomaly positive) on labelled validation scores."""

    name = "best_f1"
    needs_labels = True
    fitted_on = "validation"

    def _choose(self, values, y):
        y = (np.asarray(y).ravel() > 0).astype(int)
        if y.sum() == 0 or y.sum() == y.size:
            raise DataError("The best-F1 threshold needs both normal and anomalous labelled rows.")
        order = np.argsort(-values, kind="mergesort")
        sorted_scores, sorted_y = values[order], y[order]
        true_pos = np.cumsum(sorted_y)
        flagged = np.arange(1, values.size + 1)
        f1 = 2 * true_pos / (flagged + y.sum())
        # Only cut between distinct scores: flagging index i means threshold just below it.
        distinct = np.r_[sorted_scores[1:] != sorted_scores[:-1], True]
        best = int(np.argmax(np.where(distinct, f1, -1.0)))
        if best + 1 < values.size:
            return (sorted_scores[best] + sorted_scores[best + 1]) / 2.0
        return sorted_scores[best] - 1e-12 * max(1.0, abs(sorted_scores[best]))

    def _explain(self):
        return "best F1 on labelled validation data"


@dataclass
class Fixed(ThresholdStrategy):
    """A value set by hand."""

    value: float = 0.0
    name = "fixed"
    fitted_on = None

    def _choose(self, values, y):
        return float(self.value)

    def _explain(self):
        return "fixed value"

    def describe(self) -> str:
        return f"fixed value = {float(self.value):.6g}"


STRATEGIES: dict[str, type[ThresholdStrategy]] = {
    cls.name: cls for cls in (MeanStd, Percentile, Contamination, BestF1, Fixed)
}


def make_threshold(spec: "str | dict | ThresholdStrategy | None", default=None) -> ThresholdStrategy:
    """Build a fresh (unfitted) strategy from a name, ``"name:key=value"``, a dict or an object.

    ``None`` gives a copy of ``default`` (or ``MeanStd()`` with the default ``k`` when no default is given).
    """
    if spec is None:
        spec = default if default is not None else MeanStd()
    if isinstance(spec, ThresholdStrategy):
        return make_threshold(spec.to_dict())
    if isinstance(spec, str):
        name, _, rest = spec.partition(":")
        params = {}
        for item in filter(None, rest.split(",")):
            key, _, value = item.partition("=")
            try:
                params[key.strip()] = float(value)
            except ValueError as exc:
                raise DataError(f"Threshold parameter {item!r} is not key=number.") from exc
        spec = {"strategy": name.strip(), **params}
    if isinstance(spec, dict):
        spec = dict(spec)
        name = spec.pop("strategy", None)
        if name not in STRATEGIES:
            raise DataError(f"Unknown threshold strategy {name!r}; choose one of {', '.join(STRATEGIES)}.")
        try:
            return STRATEGIES[name](**spec)
        except TypeError as exc:
            raise DataError(f"Bad parameters for threshold '{name}': {exc}") from exc
    raise DataError(f"Cannot make a threshold from {spec!r}.")


@dataclass(frozen=True)
class StrategyParameter:
    """The one parameter a strategy takes, for forms and sliders: its name, a label and its range."""

    strategy: str
    name: str
    label: str
    low: float
    high: float
    step: float

    @property
    def default(self) -> float:
        return DEFAULTS[self.strategy][self.name]


#: The parameter of each strategy that has one (its default is in :data:`DEFAULTS`).
PARAMETERS: dict[str, StrategyParameter] = {p.strategy: p for p in (
    StrategyParameter("mean_std", "k", "k", 0.0, 50.0, 0.5),
    StrategyParameter("percentile", "q", "Percentile", 50.0, 100.0, 0.1),
    StrategyParameter("contamination", "fraction", "Expected share of anomalies", 0.001, 0.5, 0.005),
)}
