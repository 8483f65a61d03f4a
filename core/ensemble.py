"""Ensembles: several methods fitted on the same normal rows, their scores combined into one.

Each member is a whole :class:`~core.pipeline.DetectionPipeline` (its own scaler and detector).
Members' scores live on different scales, so each is first measured against that member's own
training scores, and only then combined:

- ``rank`` (default): a score's mid-rank among the member's training scores, in [0, 1]; a score
  beyond every training score ranks 1 plus its distance past the largest one, in training spreads,
  so the strongest anomalies stay ordered instead of tying at 1. The ensemble score is the mean
  over members.
- ``max``: the member's score minus its training median, divided by its training spread (the
  interquartile range); the ensemble score is the largest over members.

Both use the training scores only, so a row's ensemble score never depends on the other rows
being scored: it is the same alone, in a batch or in a stream. The ensemble then behaves like any
detector: its threshold is chosen from its own training scores (the combined members' training
scores) by a strategy from :mod:`core.thresholds`, it explains rows, and it is saved as one
bundle with every member's state under ``detector.member<i>.`` (see
:func:`core.pipeline.check_manifest`, which validates each member as strictly as a lone model).

From Python, either train one like any method
(``DetectionPipeline("ensemble", {"members": "lof + knn + one_class_svm"})``) or combine pipelines
already fitted on the same rows with :func:`combine_pipelines`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.utils.validation import check_is_fitted

from .detectors.base import BaseDetector, check_features
from .errors import DataError, TrainingCancelled
from .registry import (DEFAULT_ENSEMBLE_MEMBERS, can_join_ensemble, create_detector, format_method_list, get_method,
                       parse_method_list)

COMBINE = ("rank", "max")


def _spread(scores: np.ndarray) -> float:
    """The interquartile range of ``scores``, or their standard deviation, or 1 when both are 0."""
    q1, q3 = np.percentile(scores, [25, 75])
    for value in (q3 - q1, scores.std()):
        if value > 1e-12:
            return float(value)
    return 1.0


class MemberReference:
    """One member's training scores, against which its new scores are measured."""

    def __init__(self, training_scores: np.ndarray):
        self.sorted_ = np.sort(np.asarray(training_scores, dtype=float))
        self.median_ = float(np.median(self.sorted_))
        self.spread_ = _spread(self.sorted_)

    def rank(self, scores: np.ndarray) -> np.ndarray:
        """Mid-rank among the training scores in [0, 1]; beyond the largest, 1 + the excess in spreads."""
        n = self.sorted_.size
        below = np.searchsorted(self.sorted_, scores, side="left")
        at_or_below = np.searchsorted(self.sorted_, scores, side="right")
        ranks = (below + at_or_below) / (2.0 * n)
        top = self.sorted_[-1]
        return np.where(scores > top, 1.0 + (scores - top) / self.spread_, ranks)

    def normalised(self, scores: np.ndarray) -> np.ndarray:
        """``(score - training median) / training spread``."""
        return (scores - self.median_) / self.spread_


class EnsembleDetector(BaseDetector):
    """Combine several methods' scores, each measured against its own training scores.

    Parameters
    ----------
    members : str
        The methods combined, ``"lof + knn(n_neighbors=10) + one_class_svm"`` (see
        :func:`core.registry.parse_method_list`): 2 to 8 unsupervised row methods, none an ensemble.
    combine : {"rank", "max"}
        Mean of the members' ranks, or maximum of their normalised scores (see the module).
    threshold : optional
        As for every detector; the default is the 99th percentile of the ensemble's training scores.
    """

    family = "ensemble"
    input_kind = "rows"
    default_threshold = "percentile:q=99"

    def __init__(self, members: str = DEFAULT_ENSEMBLE_MEMBERS, combine: str = "rank", threshold=None):
        self.members = members
        self.combine = combine
        self.threshold = threshold

    # -- the members ---------------------------------------------------------------------------
    def member_list(self) -> list[tuple[str, dict[str, Any]]]:
        """``(method, params)`` of every member, from the ``members`` parameter.

        A member that keeps learning from what it scores (``step_context().adaptive``) is refused:
        the ensemble scores its members without letting them learn, so it would silently stop adapting.
        """
        members = parse_method_list(self.members, what="The ensemble's members")
        for name, params in members:
            if create_detector(name, **params).step_context().adaptive:
                raise DataError(f"The ensemble's members: '{name}' keeps learning as it scores, "
                                "which an ensemble member cannot do.")
        return members

    def _min_rows(self) -> int:
        try:
            members = self.member_list()
        except DataError:
            return self.min_train_rows  # fit reports the bad list itself
        return max([self.min_train_rows] + [create_detector(name, **params)._min_rows() for name, params in members])

    def _fit(self, X, y, *, progress, should_stop) -> None:
        from .pipeline import DetectionPipeline

        if self.combine not in COMBINE:
            raise DataError(f"Unknown way to combine an ensemble {self.combine!r}; choose one of {', '.join(COMBINE)}.")
        members = self.member_list()
        fitted = []
        for index, (name, params) in enumerate(members):
            if should_stop is not None and should_stop():
                raise TrainingCancelled("Training was cancelled.")
            fitted.append(DetectionPipeline(name, params).fit(X, should_stop=should_stop))
            if progress is not None:
                progress(index + 1, len(members), None, None)
        self._adopt(fitted)

    def _adopt(self, pipelines: list) -> None:
        self.members_ = list(pipelines)
        self.references_ = [MemberReference(p.train_scores_) for p in self.members_]

    # -- scores ----------------------------------------------------------------------------------
    def _member_values(self, member_scores: list[np.ndarray]) -> np.ndarray:
        """Each member's scores measured against its training scores, shape ``(n_members, n)``."""
        measure = "rank" if self.combine == "rank" else "normalised"
        return np.vstack([getattr(ref, measure)(np.asarray(s, dtype=float))
                          for ref, s in zip(self.references_, member_scores)])

    def _combined(self, values: np.ndarray) -> np.ndarray:
        return values.mean(axis=0) if self.combine == "rank" else values.max(axis=0)

    def _training_scores(self, X):
        return self._combined(self._member_values([p.train_scores_ for p in self.members_]))

    def _score(self, X):
        return self._combined(self._member_values([p.score(X) for p in self.members_]))

    def member_scores(self, X) -> dict[str, np.ndarray]:
        """Every member's own score per row (``"1. lof"``, ``"2. knn"``, ...), for comparing them."""
        check_is_fitted(self, "threshold_")
        X = check_features(X, n_features=self.n_features_in_)
        return {f"{i + 1}. {p.method}": p.score(X) for i, p in enumerate(self.members_)}

    def feature_scores(self, X) -> np.ndarray:
        """Each member's feature contributions as shares of its row total, weighted by that member's
        measured score (rank or positive normalised score), averaged over members; non-negative.

        With ``rank`` the contributions of a row add up to its ensemble score.
        """
        check_is_fitted(self, "threshold_")
        X = check_features(X, n_features=self.n_features_in_)
        values = np.clip(self._member_values([p.score(X) for p in self.members_]), 0.0, None)
        total = np.zeros(X.shape, dtype=float)
        for weight, pipeline in zip(values, self.members_):
            contributions = np.clip(np.asarray(pipeline.feature_contributions(X), dtype=float), 0.0, None)
            sums = contributions.sum(axis=1, keepdims=True)
            shares = np.divide(contributions, sums, out=np.zeros_like(contributions), where=sums > 0)
            total += weight[:, None] * shares
        return total / len(self.members_)

    # -- bundle state (see core.pipeline.check_manifest for how a bundle's members are validated) --
    def _get_model_state(self) -> dict[str, Any]:
        state = {}
        for index, pipeline in enumerate(self.members_):
            prefix = f"member{index}."
            state[f"{prefix}scaler.kind"] = pipeline.scaler_.kind
            state.update({prefix + key: value for key, value in pipeline.get_state().items()})
        return state

    def _set_model_state(self, state: dict[str, Any]) -> None:
        from .pipeline import DetectionPipeline

        names = [f"x{i}" for i in range(self.n_features_in_)]
        pipelines = []
        for index, (name, params) in enumerate(self.member_list()):
            prefix = f"member{index}."
            member = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
            pipelines.append(DetectionPipeline.from_state(name, params, None, member.pop("scaler.kind"), member, names,
                                                          where=f"detector.{prefix}"))
        self._adopt(pipelines)


def combine_pipelines(pipelines: list, combine: str = "rank", threshold=None):
    """An ensemble pipeline made of pipelines already fitted on the same normal training rows.

    The members' training scores are combined into the ensemble's training scores, from which its
    threshold is chosen; the pipelines are used as they are (not copied). Only the number of
    training rows can be checked: fitting the members on the same rows is the caller's promise.
    Raises :class:`DataError` for fewer than two pipelines, unfitted ones, methods that cannot be
    combined or differing features.
    """
    from .pipeline import DetectionPipeline
    from .preprocessing import Scaler

    pipelines = list(pipelines)
    if len(pipelines) < 2:
        raise DataError("An ensemble needs at least two trained models.")
    for pipeline in pipelines:
        if not hasattr(pipeline, "threshold_"):
            raise DataError("Every model of an ensemble must be trained first.")
        if not can_join_ensemble(get_method(pipeline.method)):
            raise DataError(f"'{pipeline.method}' cannot be part of an ensemble (members score rows one by one, "
                            "need no labels and are not ensembles themselves).")
    first = pipelines[0]
    if any(p.feature_names_ != first.feature_names_ for p in pipelines):
        raise DataError("The models of an ensemble must use the same features.")
    if len({p.train_scores_.size for p in pipelines}) != 1:
        raise DataError("The models of an ensemble must be trained on the same rows "
                        "(their numbers of training rows differ).")
    members = format_method_list([(p.method, p.params) for p in pipelines])
    params = {"members": members, "combine": combine}
    spec = get_method("ensemble")
    for name, value in params.items():
        spec.param(name).coerce(value)
    detector = create_detector("ensemble", threshold=threshold, **params)
    detector.n_features_in_ = len(first.feature_names_)
    detector.history_ = {"train_loss": [], "val_loss": []}
    detector.train_mean_ = np.asarray(first.profile_mean_, dtype=float)
    std = np.asarray(first.profile_std_, dtype=float)
    detector.train_std_ = np.where(std > 1e-12, std, 1.0)
    detector._adopt(pipelines)
    detector.decision_scores_ = detector._checked_scores(detector._training_scores(None), first.train_scores_.size)
    detector._fit_threshold()
    ensemble = DetectionPipeline("ensemble", params, threshold, "none")
    ensemble.scaler_ = Scaler("none").fit(np.asarray(first.profile_mean_, dtype=float)[None, :])
    ensemble.detector_ = detector
    ensemble.feature_names_ = list(first.feature_names_)
    ensemble.profile_mean_ = np.asarray(first.profile_mean_, dtype=float)
    ensemble.profile_std_ = np.asarray(first.profile_std_, dtype=float)
    ensemble.threshold_ = float(detector.threshold_)
    ensemble.threshold_description_ = detector.threshold_strategy_.describe()
    return ensemble
