"""A scored run: one object for a trained model's scores on a dataset, and everything read from them.

:class:`ScoredRun` holds a score for every row, which rows were fitted on, held out for validation,
trained on and tested on, the labels and time stamps, the pipeline and its threshold policy. From it
come the threshold options (each strategy fitted on the rows it declares, see
:data:`core.thresholds.FITTED_ON`), the flags, metrics and events at any threshold, and
explanations. The command line, the dashboard, the report, the workspace, streaming and Spark all
read a run through it, so a strategy or a flag means the same thing everywhere.

The per-threshold work is a binary search on scores sorted once (:class:`ScoredPart`), so a
threshold slider stays fast on large runs.
"""

from __future__ import annotations

import time as _time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .errors import DataError
from .metrics import ThresholdSweep, counts_metrics, ranking_metrics
from .thresholds import FITTED_ON, PARAMETERS, STRATEGIES, apply_threshold, make_threshold

#: The parts of a run's rows, as masks over every row: see :meth:`ScoredRun.rows`.
PARTS = ("fit", "validation", "train", "test", "all")


#: a score no finite threshold is below: how a suppressed row enters the flag counts
_NEVER_ABOVE = -np.finfo(float).max


class ScoredPart:
    """Scores of some rows (and their labels, if any), sorted once: metrics at any threshold in O(log n)."""

    def __init__(self, scores, y=None, never_flagged=None):
        scores = np.asarray(scores, dtype=float).ravel()
        if scores.size == 0:
            raise DataError("There are no scored rows to show (the test part is empty).")
        if not np.all(np.isfinite(scores)):
            raise DataError("Some scores are NaN or infinite; the model produced invalid output.")
        labelled = y is not None and np.asarray(y).size == scores.size
        self.scores = scores
        self.y = np.asarray(y).astype(int).ravel() if labelled else None
        # rows a suppression rule drops count as flagged at no threshold; the ranking keeps their scores
        flagging = scores if never_flagged is None else np.where(never_flagged, _NEVER_ABOVE, scores)
        self.sweep = ThresholdSweep(self.y, flagging) if labelled else None
        self.ranking = ranking_metrics(self.y, scores) if labelled else {"roc_auc": None, "pr_auc": None}
        self._sorted = self.sweep.sorted_scores if self.sweep is not None else np.sort(flagging, kind="mergesort")

    @property
    def labelled(self) -> bool:
        return self.y is not None

    @property
    def n(self) -> int:
        return int(self.scores.size)

    def n_flagged(self, threshold: float) -> int:
        """How many scores :func:`~core.thresholds.apply_threshold` flags at ``threshold`` (by binary search)."""
        return int(self.n - np.searchsorted(self._sorted, threshold, side="right"))

    def at(self, threshold: float) -> dict:
        """Metrics at ``threshold``: counts, rates and the ranking AUCs (only the count without labels)."""
        if self.sweep is None:
            return {"n_flagged": self.n_flagged(threshold), "n": self.n, "threshold": float(threshold)}
        tn, fp, fn, tp = self.sweep.counts(threshold)
        result = counts_metrics(tn, fp, fn, tp)
        result.update(self.ranking, threshold=float(threshold), n=int(tn + fp + fn + tp),
                      fpr=float(fp / (fp + tn)) if fp + tn else 0.0)
        return result


@dataclass(eq=False)
class ScoredRun:
    """A trained pipeline's scores on every row of a dataset, and how its threshold was chosen.

    Masks cover every row: ``fit_mask`` the rows the model was fitted on, ``validation_mask`` the
    labelled training rows held out to choose a best-F1 threshold, ``train_mask`` the whole
    training part (both), ``test_mask`` the rest. ``threshold_policy`` is the strategy (as
    :meth:`~core.thresholds.ThresholdStrategy.to_dict`) that chose ``threshold``.
    """

    pipeline: Any  # core.pipeline.DetectionPipeline
    method: str
    params: dict[str, Any]
    scores: np.ndarray
    train_mask: np.ndarray
    test_mask: np.ndarray
    fit_mask: np.ndarray
    y: np.ndarray | None
    threshold: float
    threshold_description: str
    metrics: dict[str, Any] | None
    fit_seconds: float
    score_seconds: float
    device: str
    history: dict[str, list[float]]
    split: str
    notes: list[str] = field(default_factory=list)
    #: point-wise, event-wise, point-adjusted and VUS-PR metrics for a labelled series (see core.metrics_ts)
    series_metrics: dict[str, Any] | None = None
    validation_mask: np.ndarray | None = None
    threshold_policy: dict[str, Any] | None = None
    time: pd.Series | None = None
    #: the dataset the run was scored on (core.data.Dataset), for explanations; not saved with the run
    dataset: Any = None
    #: the file or table the dataset came from, as shown to people
    table_name: str = "data"
    #: how the run was trained (split, test size, seed, range, scaler), as given
    settings: dict[str, Any] = field(default_factory=dict)
    created: float = field(default_factory=_time.time)
    #: the run's id and name in a workspace, once saved there (see core.workspace)
    run_id: str | None = None
    name: str | None = None
    #: rules from the analyst's false alarms (see core.verdicts.rule_from_false_alarm): their flags are dropped
    suppression_rules: list = field(default_factory=list)
    #: views derived by whoever draws the run (figures, decimations), built on first use; never saved
    cache: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self):
        if self.validation_mask is None:
            self.validation_mask = np.zeros_like(self.test_mask, dtype=bool)
        if self.time is None and self.dataset is not None and getattr(self.dataset, "is_series", False):
            self.time = self.dataset.time
        self._parts: dict[tuple, ScoredPart] = {}

    # -- what the run is -----------------------------------------------------------------------
    @property
    def spec(self):
        return self.pipeline.spec

    @property
    def is_series(self) -> bool:
        return self.time is not None

    @property
    def n_rows(self) -> int:
        return int(self.scores.size)

    @property
    def test_scores(self) -> np.ndarray:
        return self.scores[self.test_mask]

    @property
    def y_test(self) -> np.ndarray | None:
        return None if self.y is None else self.y[self.test_mask]

    @property
    def display_name(self) -> str:
        return self.name or f"{self.method} on {self.table_name}"

    def rows(self, part: str) -> np.ndarray:
        """Boolean mask of one part of the rows: ``fit``, ``validation``, ``train``, ``test`` or ``all``."""
        masks = {"fit": self.fit_mask, "validation": self.validation_mask, "train": self.train_mask,
                 "test": self.test_mask}
        if part == "all":
            return np.ones(self.n_rows, dtype=bool)
        if part not in masks:
            raise DataError(f"Unknown part {part!r}; choose one of {', '.join(PARTS)}.")
        return masks[part]

    def part(self, name: str = "test") -> ScoredPart:
        """The scores (and labels) of one part, sorted once and kept for fast threshold moves."""
        key = (name, repr(self.suppression_rules))  # a rule added or removed changes what is flagged
        if key not in self._parts:
            mask = self.rows(name)
            dropped = self._suppressed()
            self._parts[key] = ScoredPart(self.scores[mask], None if self.y is None else self.y[mask],
                                          None if dropped is None else dropped[mask])
        return self._parts[key]

    def _suppressed(self) -> np.ndarray | None:
        """Rows the suppression rules drop from the flags (None without rules)."""
        if not self.suppression_rules or self.dataset is None:
            return None
        from .verdicts import suppressed

        return np.asarray(suppressed(self.suppression_rules, self.dataset), dtype=bool)

    # -- thresholds ----------------------------------------------------------------------------
    def threshold_at(self, strategy) -> float:
        """Where a strategy (a name, ``"name:key=value"``, a dict or an object) puts the threshold.

        It is fitted on the rows it declares (``fitted_on``): the label-free strategies on the
        normal training rows the model was fitted on, best F1 on the validation rows.
        """
        chosen = make_threshold(strategy)
        if chosen.fitted_on is None:
            return float(chosen.fit(self.scores[:1]).threshold_)
        mask = self.rows(chosen.fitted_on)
        if not mask.any():
            raise DataError(f"'{chosen.name}' is fitted on {FITTED_ON[chosen.fitted_on]}, and this run has none: "
                            "train with that threshold to hold a validation part out.")
        labels = None
        if chosen.needs_labels:
            if self.y is None:
                raise DataError(f"The '{chosen.name}' threshold needs a label column.")
            labels = self.y[mask]
        return float(chosen.fit(self.scores[mask], labels).threshold_)

    def threshold_options(self, params: dict[str, float] | None = None) -> dict[str, float]:
        """Every strategy's threshold on this run, with ``"trained"`` first; those that cannot apply are left out.

        ``params`` maps a strategy name to its parameter value (default: :data:`core.thresholds.DEFAULTS`).
        """
        params = params or {}
        options = {"trained": float(self.threshold)}
        for name in STRATEGIES:
            if name == "fixed":
                continue
            spec = {"strategy": name}
            if name in PARAMETERS and name in params:
                spec[PARAMETERS[name].name] = params[name]
            try:
                options[name] = self.threshold_at(spec)
            except DataError:
                continue
        return options

    def with_threshold(self, value: float, description: str | None = None) -> "ScoredRun":
        """Use ``value`` as the run's threshold from now on (in its pipeline, bundle and saved policy)."""
        value = float(value)
        if value != self.threshold:
            self.pipeline.set_threshold(value, description)
            self.threshold = value
            self.threshold_description = self.pipeline.threshold_description_
            self.threshold_policy = {"strategy": "fixed", "value": value}
        return self

    # -- flags, metrics, events ----------------------------------------------------------------
    def flags(self, threshold: float | None = None) -> np.ndarray:
        """0/1 flag of every row at ``threshold`` (default: the run's), less the rows its suppression rules drop."""
        flagged = apply_threshold(self.scores, self.threshold if threshold is None else threshold)
        dropped = self._suppressed()
        if dropped is not None:
            flagged[dropped] = 0
        return flagged

    def metrics_at(self, threshold: float | None = None, part: str = "test") -> dict:
        """Metrics of one part (default: the test part) at ``threshold``, in O(log n) once sorted."""
        return self.part(part).at(self.threshold if threshold is None else threshold)

    def events_at(self, threshold: float | None = None, min_gap: int = 0) -> pd.DataFrame:
        """Runs of flagged steps over the whole run at ``threshold`` (see :func:`core.events.find_events`)."""
        from .events import find_events

        return find_events(self.flags(threshold), self.scores, time=self.time, min_gap=min_gap)

    # -- explanations --------------------------------------------------------------------------
    def context_rows(self, row: int, pad: int = 0) -> tuple[int, int]:
        """``(lo, hi)``: the rows needed to explain ``row`` (its windows, for a window method), plus ``pad``."""
        context = self.pipeline.step_context()  # the steps a score depends on, as the model declares them
        lo = max(0, row - max(context.past, pad))
        hi = min(self.n_rows, row + max(context.future, pad) + 1)
        # near the start of a series a window model still needs a whole window to score anything
        return lo, max(hi, min(self.n_rows, lo + context.past + context.future + 1))

    def explain(self, row: int) -> dict[str, Any]:
        """Why ``row`` scored what it did: score, flag, part, label and each feature's contribution."""
        if self.dataset is None:
            raise DataError("This run has no dataset attached; open it with its dataset to explain rows.")
        if not 0 <= row < self.n_rows:
            raise DataError(f"Row {row} is outside the run's {self.n_rows} rows.")
        lo, hi = self.context_rows(row)
        contributions = np.asarray(self.pipeline.feature_contributions(self.dataset.X[lo:hi]))[row - lo]
        names = list(self.dataset.feature_names)
        order = np.argsort(-contributions, kind="stable")
        return {"row": int(row), "score": float(self.scores[row]), "flagged": bool(self.flags()[row]),
                "part": "test" if self.test_mask[row] else ("validation" if self.validation_mask[row] else "train"),
                "label": None if self.y is None else int(self.y[row]),
                "contributions": dict(zip(names, map(float, contributions))),
                "top_features": [names[i] for i in order[:5]]}

    # -- summaries -----------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """Flat JSON-able summary (the command line's ``evaluate --json`` output)."""
        metrics = self.metrics or {}
        return {
            "method": self.method,
            "roc_auc": metrics.get("roc_auc"),
            "pr_auc": metrics.get("pr_auc"),
            "precision": metrics.get("precision"),
            "recall": metrics.get("recall"),
            "f1": metrics.get("f1"),
            "accuracy": metrics.get("accuracy"),
            "threshold": self.threshold,
            "threshold_description": self.threshold_description,
            "n_train": int(self.fit_mask.sum()),
            "n_test": int(self.test_mask.sum()),
            "fit_seconds": round(self.fit_seconds, 4),
            "score_seconds": round(self.score_seconds, 4),
            "device": self.device,
            "split": self.split,
            **({f"series_{k}": v for k, v in self.series_metrics.items() if k != "point_adjusted_warning"}
               if self.series_metrics else {}),
        }

    def measure(self) -> None:
        """(Re)compute ``metrics`` and ``series_metrics`` on the test part at the run's threshold."""
        from .metrics import classification_metrics

        self.metrics = self.series_metrics = None
        if self.y is None:
            return
        test = self.test_mask
        self.metrics = classification_metrics(self.y[test], self.scores[test], self.threshold)
        if (self.is_series or self.spec.input_kind == "windows") and self.y[test].any():
            from .metrics_ts import timeseries_metrics

            self.series_metrics = timeseries_metrics(self.y[test], self.scores[test], self.threshold)
