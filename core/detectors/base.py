"""The contract every detector follows.

scikit-learn style: the constructor stores parameters only; ``fit(X, y=None)`` learns from normal
data and returns ``self``; fitted attributes end in ``_``. PyOD's score convention: one float per
row, higher = more anomalous; ``decision_scores_`` holds the training scores and ``threshold_`` is
chosen from them by a strategy from :mod:`core.thresholds` (the only place thresholds are made).

Subclasses implement ``_fit(X, y)`` and ``_score(X)``; reconstruction models also implement
``_reconstruct(X)``. Detectors receive already-scaled float arrays (see :mod:`core.pipeline`).
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar, NamedTuple

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from ..errors import DataError
from ..thresholds import apply_threshold, make_threshold
from ..windows import CENTRED, auto_window, causal_window_errors, check_context, fold_window_errors

#: ``progress(epoch, n_epochs, train_loss, val_loss)``; deep models call it once per epoch.
ProgressCallback = Callable[[int, int, float, "float | None"], None]
#: Returns True when the caller wants training to stop (raises :class:`TrainingCancelled`).
StopCallback = Callable[[], bool]


class StepContext(NamedTuple):
    """Which time steps one step's score depends on, declared by the detector itself.

    ``past``: earlier steps it reads besides its own (0 for row methods). ``future``: later steps
    it waits for (0 = causal: the score of a step is final as soon as the step arrives; a centred
    window has ``future > 0`` and a stream emits each score that many steps late). ``adaptive``: the
    detector keeps learning from what it scores, so its state is carried from step to step (see
    :meth:`BaseDetector.score_and_learn`) and must be checkpointed by a stream.
    """

    past: int = 0
    future: int = 0
    adaptive: bool = False

    @property
    def causal(self) -> bool:
        return self.future == 0


def check_features(X, *, n_features: int | None = None, min_rows: int = 1, what: str = "data") -> np.ndarray:
    """Return ``X`` as a finite 2-D float array or raise :class:`DataError` saying what is wrong."""
    try:
        array = np.asarray(X, dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataError(f"The {what} must be numbers only: {exc}") from exc
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    if array.ndim != 2:
        raise DataError(f"The {what} must be a 2-D table (rows x features), got {array.ndim} dimensions.")
    if array.shape[0] < min_rows:
        raise DataError(f"The {what} has {array.shape[0]} rows; at least {min_rows} are needed.")
    if array.shape[1] == 0:
        raise DataError(f"The {what} has no feature columns.")
    if n_features is not None and array.shape[1] != n_features:
        raise DataError(f"The model was trained on {n_features} features but the {what} has {array.shape[1]}.")
    bad = ~np.isfinite(array)
    if bad.any():
        columns = sorted(set(np.where(bad)[1].tolist()))
        raise DataError(
            f"The {what} contains {int(bad.sum())} NaN or infinite values (feature positions {columns[:10]}); "
            "fill or drop those rows first."
        )
    return array


class BaseDetector(BaseEstimator):
    """Base class of all detectors.

    Parameters
    ----------
    threshold : str, dict, ThresholdStrategy or None
        How ``threshold_`` is chosen from the training scores; ``None`` uses the method's default
        (:attr:`default_threshold`).
    """

    #: "statistical", "classical" or "deep"
    family: ClassVar[str] = "statistical"
    #: "rows" (each row scored alone) or "windows" (time-ordered rows, sliding windows inside)
    input_kind: ClassVar[str] = "rows"
    supervised: ClassVar[bool] = False
    is_reconstruction: ClassVar[bool] = False
    default_threshold: ClassVar[Any] = "mean_std:k=3"
    min_train_rows: ClassVar[int] = 2
    #: JSON values the fitted detector keeps besides its arrays and estimators (see ``get_state``),
    #: by name and kind: "count" (a whole number >= 1), "number" (finite), "text" or "flag".
    #: A bundle holding any other plain value is refused, so every such value is declared here.
    state_fields: ClassVar[dict[str, str]] = {}

    # -- public API ---------------------------------------------------------------------------
    def fit(self, X, y=None, *, progress: ProgressCallback | None = None,
            should_stop: StopCallback | None = None) -> "BaseDetector":
        """Learn what normal looks like from ``X`` and set ``decision_scores_`` and ``threshold_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data (normal rows, or for supervised methods labelled rows).
        y : array-like of shape (n_samples,), optional
            0 = normal, 1 = anomaly; required by supervised methods, ignored by the others.
        progress, should_stop : callable, optional
            Per-epoch progress report and cancellation check (used by iterative models).

        Returns
        -------
        self
        """
        X = check_features(X, min_rows=self._min_rows(), what="training data")
        if self.supervised:
            if y is None:
                raise DataError(f"{type(self).__name__} is supervised: it needs a label column.")
            y = np.asarray(y).astype(int).ravel()
            if set(np.unique(y)) != {0, 1}:
                raise DataError("A supervised method needs training rows of both classes (normal and anomaly).")
        self.n_features_in_ = X.shape[1]
        self.history_: dict[str, list[float]] = {"train_loss": [], "val_loss": []}
        self._remember_profile(X)
        self._fit(X, y, progress=progress, should_stop=should_stop)
        self.decision_scores_ = self._checked_scores(self._training_scores(X), X.shape[0])
        self._fit_threshold(y if self.supervised else None)
        return self

    def score_samples(self, X) -> np.ndarray:
        """Anomaly score per row, higher = more anomalous."""
        check_is_fitted(self, "threshold_")
        X = check_features(X, n_features=self.n_features_in_, min_rows=self._min_score_rows())
        return self._checked_scores(self._score(X), X.shape[0])

    def step_context(self) -> StepContext:
        """The steps one score depends on (from the parameters; valid before ``fit``).

        Streaming, Spark, explanations and the dashboard ask this instead of reading parameters.
        Row methods depend on their own row only.
        """
        return StepContext()

    def score_and_learn(self, X) -> np.ndarray:
        """Score ``X`` (the next steps, in order) and, for adaptive detectors, learn from them.

        Non-adaptive detectors just score. An adaptive detector updates its fitted state, so that
        scoring a series in one call or in consecutive pieces gives the same scores;
        :meth:`score_samples` of an adaptive detector scores a copy and leaves the model unchanged.
        """
        return self.score_samples(X)

    def decision_function(self, X) -> np.ndarray:
        """Same as :meth:`score_samples` (PyOD's name)."""
        return self.score_samples(X)

    def predict(self, X) -> np.ndarray:
        """0 = normal, 1 = anomaly, using ``threshold_``."""
        return apply_threshold(self.score_samples(X), self.threshold_)

    def feature_scores(self, X) -> np.ndarray:
        """Non-negative contribution of each feature to each row's score, shape ``(n, d)``.

        The default is each feature's absolute distance from the training mean in training standard
        deviations; reconstruction models return their per-feature reconstruction errors.
        """
        check_is_fitted(self, "threshold_")
        X = check_features(X, n_features=self.n_features_in_, min_rows=self._min_score_rows())
        return np.abs((X - self.train_mean_) / self.train_std_)

    def reconstruct(self, X) -> np.ndarray:
        """Model's reconstruction of ``X`` (reconstruction models only)."""
        if not self.is_reconstruction:
            raise DataError(f"{type(self).__name__} does not reconstruct its input.")
        check_is_fitted(self, "threshold_")
        X = check_features(X, n_features=self.n_features_in_, min_rows=self._min_score_rows())
        return self._reconstruct(X)

    # -- serialisation (see core.bundle) -------------------------------------------------------
    def get_state(self) -> dict[str, Any]:
        """Fitted state as a flat dict of numpy arrays, JSON-able values or scikit-learn estimators."""
        check_is_fitted(self, "threshold_")
        state = {
            "n_features_in_": int(self.n_features_in_),
            "threshold_": float(self.threshold_),
            "decision_scores_": np.asarray(self.decision_scores_),
            "threshold_strategy_": self.threshold_strategy_.to_dict(),
            "history_": self.history_,
            "train_mean_": self.train_mean_,
            "train_std_": self.train_std_,
        }
        state.update(self._get_model_state())
        return state

    def set_state(self, state: dict[str, Any]) -> "BaseDetector":
        """Restore what :meth:`get_state` returned (on an instance built with the same parameters)."""
        self.n_features_in_ = int(state["n_features_in_"])
        self.threshold_ = float(state["threshold_"])
        self.decision_scores_ = np.asarray(state["decision_scores_"], dtype=float)
        self.threshold_strategy_ = make_threshold(state["threshold_strategy_"])
        self.threshold_strategy_.threshold_ = self.threshold_
        self.threshold_strategy_.n_scores_ = int(self.decision_scores_.size)
        self.history_ = state.get("history_", {"train_loss": [], "val_loss": []})
        self.train_mean_ = np.asarray(state["train_mean_"], dtype=float)
        self.train_std_ = np.asarray(state["train_std_"], dtype=float)
        self._set_model_state(state)
        return self

    def _fit_threshold(self, labels=None) -> None:
        """Choose ``threshold_`` from ``decision_scores_`` with the detector's threshold strategy."""
        self.threshold_strategy_ = make_threshold(self.threshold, self.default_threshold)
        if self.threshold_strategy_.needs_labels and labels is None:
            raise DataError("This threshold needs labels; the training part of an unsupervised method has none.")
        self.threshold_strategy_.fit(self.decision_scores_, labels)
        self.threshold_ = float(self.threshold_strategy_.threshold_)

    # -- for subclasses -------------------------------------------------------------------------
    def _fit(self, X: np.ndarray, y, *, progress, should_stop) -> None:  # pragma: no cover
        raise NotImplementedError

    def _score(self, X: np.ndarray) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def _reconstruct(self, X: np.ndarray) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def _training_scores(self, X: np.ndarray) -> np.ndarray:
        """Scores of the training rows, right after ``_fit`` (PyOD: they come from the fit itself).

        Neighbour methods override it to leave each row out of its own neighbourhood, which is
        both what makes training and test scores comparable and cheaper than scoring again.
        """
        return self._score(X)

    def _get_model_state(self) -> dict[str, Any]:  # pragma: no cover
        raise NotImplementedError

    def _set_model_state(self, state: dict[str, Any]) -> None:  # pragma: no cover
        raise NotImplementedError

    def _min_rows(self) -> int:
        return self.min_train_rows

    def _min_score_rows(self) -> int:
        # a row model scores any single row; a window model needs its window's worth of steps
        return 1 if self.input_kind == "rows" else self._min_rows()

    def _remember_profile(self, X: np.ndarray) -> None:
        """Keep the training mean / std used by the default :meth:`feature_scores`."""
        self.train_mean_ = X.mean(axis=0)
        std = X.std(axis=0)
        self.train_std_ = np.where(std > 1e-12, std, 1.0)

    @staticmethod
    def _checked_scores(scores, n_rows: int) -> np.ndarray:
        scores = np.asarray(scores, dtype=float).ravel()
        if scores.shape[0] != n_rows:
            raise RuntimeError(f"detector returned {scores.shape[0]} scores for {n_rows} rows")
        if not np.all(np.isfinite(scores)):
            raise DataError("The model produced NaN or infinite scores; check the data for extreme values.")
        return scores


class RowReconstructionScores:
    """Mixin for row autoencoders: score = mean absolute error, explanation = per-feature error.

    The detector using it provides ``_reconstruct(X)``.
    """

    def _score(self, X):
        return np.abs(X - self._reconstruct(X)).mean(axis=1)

    def feature_scores(self, X):
        """Absolute reconstruction error of every feature of every row, shape ``(n, d)``."""
        check_is_fitted(self, "threshold_")
        X = check_features(X, n_features=self.n_features_in_, min_rows=self._min_score_rows())
        return np.abs(X - self._reconstruct(X))


class WindowedSeries:
    """Mixin for detectors over sliding windows: the window length and the step context.

    Parameters it expects on the detector: ``window`` (steps; 0 = automatic, from the series'
    dominant period, see :func:`core.windows.auto_window`) and ``context`` (``"causal"``: a step's
    score uses that step and the ones before it only, final as soon as the step arrives;
    ``"centred"``: it also uses the steps after it, so a stream emits it that many steps late).

    ``fit`` sets ``window_`` (the length used) and ``window_note_`` (how it was chosen, in words).
    """

    #: The window when ``window=0`` and the series shows no dominant period (the usual length).
    fallback_window: ClassVar[int] = 32
    #: Bounds of an automatic window, and its share of the dominant period.
    auto_window_bounds: ClassVar[tuple[int, int]] = (8, 256)
    auto_window_share: ClassVar[float] = 1.0
    smallest_window: ClassVar[int] = 2

    def _resolve_window(self, X: np.ndarray) -> None:
        """Set ``window_`` from the ``window`` parameter, or from the training series when it is 0."""
        check_context(self.context)
        window = int(self.window)
        if window == 0:
            low, high = self.auto_window_bounds
            window, how = auto_window(X, fallback=self.fallback_window, low=max(low, self.smallest_window),
                                      high=high, share=self.auto_window_share)
            self.window_, self.window_note_ = max(window, self.smallest_window), f"automatic: {how}"
        elif window < self.smallest_window:
            raise DataError(f"The window must be at least {self.smallest_window} steps (or 0 for automatic), "
                            f"got {self.window}.")
        else:
            self.window_, self.window_note_ = window, "set by hand"

    def _window(self) -> int:
        """The window length in use: the fitted one, else the parameter (the fallback for automatic)."""
        window = getattr(self, "window_", None)
        if window is None:
            window = int(self.window) or self.fallback_window
        return int(window)

    def _steps_before_and_after(self, window: int) -> tuple[int, int]:
        """(past, future) of a window model scoring with windows of ``window`` steps."""
        return (window - 1, 0) if self.context != CENTRED else (window - 1, window - 1)

    def step_context(self) -> StepContext:
        """Causal: the ``window - 1`` steps before; centred: those and as many after.

        Before ``fit`` an automatic window (0) counts as its fallback length; only the lengths,
        not whether the model is causal, depend on that.
        """
        past, future = self._steps_before_and_after(self._window())
        return StepContext(past=past, future=future)

    def _min_rows(self) -> int:
        # before fit: the window asked for (an automatic one is at most a quarter of the series)
        return max(self.min_train_rows, int(self.window) + 1 if int(self.window) else self.smallest_window)

    def _min_score_rows(self) -> int:
        return 1  # a series shorter than the window is refused by window_starts, in the window's words

    def _window_state(self) -> dict[str, Any]:
        return {"window_": int(self.window_), "window_note_": str(self.window_note_)}

    def _set_window_state(self, state: dict[str, Any]) -> None:
        window = int(state["window_"])
        if window < self.smallest_window or int(self.window) not in (0, window):
            raise DataError(f"The fitted window ({window}) does not fit the window parameter ({self.window}).")
        self.window_ = window
        self.window_note_ = str(state.get("window_note_", ""))


class WindowReconstructionScores(WindowedSeries):
    """Mixin for window models: every time step is scored by its own squared error.

    Centred, that error is averaged over the windows that cover the step, and the step is
    reconstructed as the mean of those windows' reconstructions; causal, both come from the one
    window that ends at the step (:func:`core.windows.causal_window_errors`).

    The detector using it provides ``_window_reconstruction(X) -> (windows, rebuilt, starts)``,
    both arrays of shape ``(n_windows, window, n_features)``, with a window starting at every step.
    """

    def _fold(self, values: np.ndarray, starts: np.ndarray, n_steps: int) -> np.ndarray:
        if self.context == CENTRED:
            return fold_window_errors(values, starts, n_steps)
        return causal_window_errors(values, starts, n_steps)

    def _step_errors(self, X: np.ndarray) -> np.ndarray:
        windows, rebuilt, starts = self._window_reconstruction(X)
        return self._fold((windows - rebuilt) ** 2, starts, X.shape[0])

    def _score(self, X):
        return self._step_errors(X).mean(axis=1)

    def _reconstruct(self, X):
        _, rebuilt, starts = self._window_reconstruction(X)
        return self._fold(rebuilt, starts, X.shape[0])

    def feature_scores(self, X):
        """Squared reconstruction error per time step and feature, shape ``(n_steps, n_features)``."""
        check_is_fitted(self, "threshold_")
        X = check_features(X, n_features=self.n_features_in_, min_rows=self._min_score_rows())
        return self._step_errors(X)
