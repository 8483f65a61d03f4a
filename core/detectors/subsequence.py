"""Subsequence detectors: a sliding window is scored by how unlike the normal training windows it is.

On TSB-AD's univariate ranking such methods lead (a window is compared as one shape, where a
per-row method sees one value at a time). Each window of ``window`` steps (all features, in the
pipeline's scaled units) is one point; its score becomes per-step scores either from the window
that ends at a step (causal) or as the mean over the windows that cover it (centred), see
:func:`core.windows.fold_window_scores`.

- ``windowed_knn``: distance to the k-th nearest training window (scikit-learn neighbours);
- ``windowed_lof``: the Local Outlier Factor of the window among the training windows;
- ``matrix_profile``: the z-normalised distance to the most similar training window, computed
  with ``stumpy`` (an AB-join of the new series against the training series); the highest values
  are the series' discords.

Training windows are scored against the training windows that do not overlap them (a window and
its neighbour shifted by one step are nearly the same, so they would make every training score
tiny), which is how new windows are scored against the training series too: against windows they
do not share steps with. The fitted state is plain arrays (the training windows, or the training
series), so a bundle holds no estimator object; neighbour indexes are rebuilt when loaded.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ..errors import DataError
from ..windows import fold_window_scores, sliding_windows
from .base import BaseDetector, WindowedSeries, check_features
from .classical import neighbour_algorithm


class _SubsequenceDetector(WindowedSeries, BaseDetector):
    """Per-window scores folded to steps; subclasses give ``_fit_windows`` and ``_window_scores``."""

    family = "classical"
    input_kind = "windows"
    default_threshold = "mean_std:k=3"
    state_fields = {"window_": "count", "window_note_": "text"}
    fallback_window = 32

    def _fit(self, X, y, *, progress, should_stop):
        self._resolve_window(X)
        window = self._window()
        if X.shape[0] < window + 1:
            raise DataError(f"Training needs at least {window + 1} steps for windows of {window}; "
                            f"it has {X.shape[0]}.")
        self._train_window_scores = self._fit_windows(X)

    def _flat_windows(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        windows, starts = sliding_windows(X, self._window(), 1)
        return windows.reshape(windows.shape[0], -1), starts

    def _fold(self, scores: np.ndarray, starts: np.ndarray, n_steps: int) -> np.ndarray:
        return fold_window_scores(scores, starts, n_steps, self._window(), self.context)

    def _training_scores(self, X):
        _, starts = self._flat_windows(X)
        scores = self._fold(self._train_window_scores, starts, X.shape[0])
        del self._train_window_scores  # the training scores are kept as decision_scores_
        return scores

    def _score(self, X):
        flat, starts = self._flat_windows(X)
        return self._fold(self._window_scores(X, flat), starts, X.shape[0])

    def feature_scores(self, X):
        """Each feature's share of the step's score: its squared distance from the training mean
        over the window (causal or centred like the score), scaled to sum to the score."""
        check_is_fitted(self, "threshold_")
        X = check_features(X, n_features=self.n_features_in_, min_rows=self._min_score_rows())
        windows, starts = sliding_windows(X, self._window(), 1)
        spread = ((windows - self.train_mean_) / self.train_std_) ** 2  # (n_windows, window, d)
        per_window = spread.mean(axis=1)
        steps = np.column_stack([self._fold(per_window[:, j], starts, X.shape[0])
                                 for j in range(X.shape[1])])
        total = steps.sum(axis=1, keepdims=True)
        scores = np.maximum(self._score(X), 0.0)[:, None]
        return np.where(total > 1e-12, steps / np.where(total > 1e-12, total, 1.0) * scores, 0.0)


class _NeighbourWindows(_SubsequenceDetector):
    """Keeps the training windows (evenly thinned above ``max_train_windows``) and their starts."""

    def _reference(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        flat, starts = self._flat_windows(X)
        keep = int(self.max_train_windows)
        if flat.shape[0] > keep:
            rows = np.unique(np.linspace(0, flat.shape[0] - 1, keep).round().astype(int))
            flat, starts = flat[rows], starts[rows]
        self.reference_ = np.ascontiguousarray(flat, dtype=float)
        self.reference_starts_ = starts.astype(np.int64)
        self._index = None
        return flat, starts

    def _neighbour_index(self):
        if getattr(self, "_index", None) is None:
            from sklearn.neighbors import NearestNeighbors

            self._index = NearestNeighbors(algorithm=neighbour_algorithm(*self.reference_.shape)).fit(self.reference_)
        return self._index

    def _k(self) -> int:
        return max(1, min(int(self.n_neighbors), self.reference_.shape[0] - 1))

    def _neighbours(self, queries: np.ndarray, query_starts: np.ndarray | None):
        """Distances and reference positions of each query's k nearest reference windows.

        With ``query_starts`` (training windows), reference windows that share a step with the
        query are skipped; when too few are left the last one found is repeated.
        """
        k = self._k()
        index = self._neighbour_index()
        if query_starts is None:
            return index.kneighbors(queries, n_neighbors=k)
        window = self._window()
        spacing = max(1, int(np.median(np.diff(self.reference_starts_)))) if self.reference_starts_.size > 1 else 1
        wanted = min(self.reference_.shape[0], k + int(np.ceil((2 * window - 1) / spacing)) + 1)
        distances, positions = index.kneighbors(queries, n_neighbors=wanted)
        apart = np.abs(self.reference_starts_[positions] - query_starts[:, None]) >= window
        # stable order keeps the nearest first among the windows that do not overlap the query
        order = np.argsort(~apart, axis=1, kind="stable")[:, :k]
        taken = np.take_along_axis(apart, order, axis=1)
        distances = np.take_along_axis(distances, order, axis=1)
        positions = np.take_along_axis(positions, order, axis=1)
        if not taken.all():  # a query that overlaps nearly every reference window: use what there is
            distances = np.where(taken, distances, np.max(np.where(taken, distances, 0.0), axis=1, keepdims=True))
        return distances, positions

    def _window_scores(self, X, flat):
        return self._scores_from_neighbours(*self._neighbours(flat, None))

    def _fit_windows(self, X):
        flat, starts = self._reference(X)
        all_flat, all_starts = self._flat_windows(X)
        self._prepare_reference()
        return self._scores_from_neighbours(*self._neighbours(all_flat, all_starts))

    def _prepare_reference(self) -> None:
        """Anything computed once over the reference windows (LOF's densities)."""

    def _get_model_state(self):
        return {"reference_": self.reference_, "reference_starts_": self.reference_starts_, **self._window_state()}

    def _set_model_state(self, state):
        self._set_window_state(state)
        reference = np.asarray(state["reference_"], dtype=float)
        starts = np.asarray(state["reference_starts_"])
        if reference.ndim != 2 or reference.shape[1] != self._window() * int(self.n_features_in_) \
                or starts.shape != (reference.shape[0],) or reference.shape[0] < 2:
            raise DataError("The stored training windows do not match the window and the features.")
        self.reference_, self.reference_starts_ = reference, starts.astype(np.int64)
        self._index = None


class WindowedKNNDetector(_NeighbourWindows):
    """Subsequence kNN: a window's score is its distance to the k-th nearest training window.

    Parameters
    ----------
    window : int, default 0
        Window length in time steps; 0 = the series' dominant period (32 when it has none).
    context : {"causal", "centred"}, default "causal"
        Score each step from the window ending at it, or average the windows around it.
    n_neighbors : int, default 5
    max_train_windows : int, default 20000
        Training windows kept (evenly spaced) when there are more; bounds memory and search time.
    threshold : see :class:`~core.detectors.base.BaseDetector`.

    Attributes
    ----------
    window_ : int
        The window length used (chosen from the series when ``window`` is 0).
    reference_ : ndarray of shape (n_windows, window * n_features)
        The training windows, flattened.
    """

    def __init__(self, window: int = 0, context: str = "causal", n_neighbors: int = 5,
                 max_train_windows: int = 20000, threshold=None):
        self.window = window
        self.context = context
        self.n_neighbors = n_neighbors
        self.max_train_windows = max_train_windows
        self.threshold = threshold

    def _scores_from_neighbours(self, distances, positions):
        return distances[:, -1]


class WindowedLOFDetector(_NeighbourWindows):
    """Subsequence LOF: how much sparser a window's neighbourhood is than its neighbours'.

    The Local Outlier Factor over scikit-learn's neighbour search, with the neighbourhoods of
    training windows taken among the windows that do not overlap them (scikit-learn's own LOF
    would count a window's one-step shifts as its neighbours). ``k_distance_`` and
    ``density_`` of the training windows are kept as arrays.

    Parameters
    ----------
    window, context, max_train_windows : as for :class:`WindowedKNNDetector`.
    n_neighbors : int, default 20
    """

    def __init__(self, window: int = 0, context: str = "causal", n_neighbors: int = 20,
                 max_train_windows: int = 20000, threshold=None):
        self.window = window
        self.context = context
        self.n_neighbors = n_neighbors
        self.max_train_windows = max_train_windows
        self.threshold = threshold

    def _prepare_reference(self):
        distances, positions = self._neighbours(self.reference_, self.reference_starts_)
        self.k_distance_ = distances[:, -1].copy()
        reach = np.maximum(distances, self.k_distance_[positions])
        self.density_ = 1.0 / (reach.mean(axis=1) + 1e-10)

    def _scores_from_neighbours(self, distances, positions):
        reach = np.maximum(distances, self.k_distance_[positions])
        density = 1.0 / (reach.mean(axis=1) + 1e-10)
        return self.density_[positions].mean(axis=1) / density

    def _get_model_state(self):
        return {**super()._get_model_state(), "k_distance_": self.k_distance_, "density_": self.density_}

    def _set_model_state(self, state):
        super()._set_model_state(state)
        k_distance = np.asarray(state["k_distance_"], dtype=float)
        density = np.asarray(state["density_"], dtype=float)
        n = self.reference_.shape[0]
        if k_distance.shape != (n,) or density.shape != (n,) or np.any(k_distance < 0) or np.any(density <= 0):
            raise DataError("The stored neighbour densities do not match the training windows.")
        self.k_distance_, self.density_ = k_distance, density


def _stumpy_join(T_A: np.ndarray, window: int, T_B: np.ndarray | None, use_gpu: bool) -> np.ndarray:
    """Matrix-profile distances of every window of ``T_A``: against ``T_B`` (an AB-join, every
    window of ``T_A`` matched to its nearest window of ``T_B``) or, without ``T_B``, a self-join
    (nearest window of ``T_A`` outside stumpy's exclusion zone of a quarter window)."""
    import stumpy

    join = stumpy.gpu_stump if use_gpu else stumpy.stump
    try:
        if T_B is None:
            profile = join(T_A, window)
        else:
            profile = join(T_A, window, T_B, ignore_trivial=False)
    except ValueError as exc:
        raise DataError(f"The matrix profile could not be computed: {exc}") from exc
    distances = np.asarray(profile[:, 0], dtype=float)
    # a window with no match outside the exclusion zone has distance inf: it is as unusual as any
    finite = np.isfinite(distances)
    if not finite.all():
        distances[~finite] = distances[finite].max() if finite.any() else 0.0
    return distances


class MatrixProfileDetector(_SubsequenceDetector):
    """Matrix-profile discords (``stumpy``): a window's score is the z-normalised Euclidean
    distance to its most similar training window, per feature, combined over the features.

    z-normalised distance compares shapes and ignores a window's level and scale, so a discord is a
    window whose shape the training series never showed; a pure level shift of an otherwise normal
    shape is not one (``windowed_knn`` sees those). Training steps are scored by the self-join of
    the training series (stumpy's exclusion zone of a quarter window keeps a window from matching
    itself); new data by an AB-join against the training series, ``stumpy.stump(T_A, m, T_B,
    ignore_trivial=False)``, or ``stumpy.gpu_stump`` on a CUDA GPU. The training series is kept as
    an array. The first use in a process compiles stumpy's kernels with numba (tens of seconds).

    Parameters
    ----------
    window, context : as for :class:`WindowedKNNDetector`.
    combine : {"max", "mean"}, default "max"
        How the features' distances are combined into one score per window.
    device : {"auto", "cpu", "cuda"}, default "auto"
        "auto" uses a CUDA GPU when numba finds one.
    """

    min_train_rows = 4

    def __init__(self, window: int = 0, context: str = "causal", combine: str = "max", device: str = "auto",
                 threshold=None):
        self.window = window
        self.context = context
        self.combine = combine
        self.device = device
        self.threshold = threshold

    def _use_gpu(self) -> bool:
        if self.device not in ("auto", "cpu", "cuda"):
            raise DataError(f"device must be auto, cpu or cuda, got {self.device!r}.")
        if self.device == "cpu":
            return False
        try:
            from numba import cuda

            available = bool(cuda.is_available())
        except Exception:  # numba without its CUDA part: no GPU
            available = False
        if self.device == "cuda" and not available:
            raise DataError("device='cuda' was asked for, but numba finds no CUDA GPU here; use auto or cpu.")
        return available

    def _combined(self, per_feature: list[np.ndarray]) -> np.ndarray:
        if self.combine not in ("max", "mean"):
            raise DataError(f"combine must be max or mean, got {self.combine!r}.")
        stacked = np.column_stack(per_feature)
        return stacked.max(axis=1) if self.combine == "max" else stacked.mean(axis=1)

    def _fit_windows(self, X):
        window = self._window()
        if X.shape[0] < 2 * window:
            raise DataError(f"The matrix profile needs at least two windows' worth of training steps "
                            f"({2 * window}); it has {X.shape[0]}.")
        self.use_gpu_ = self._use_gpu()
        self.reference_ = np.ascontiguousarray(X, dtype=float)
        return self._combined([_stumpy_join(X[:, j], window, None, self.use_gpu_) for j in range(X.shape[1])])

    def _window_scores(self, X, flat):
        window = self._window()
        if not hasattr(self, "use_gpu_"):
            self.use_gpu_ = self._use_gpu()
        return self._combined([_stumpy_join(np.ascontiguousarray(X[:, j]), window, self.reference_[:, j],
                                            self.use_gpu_) for j in range(X.shape[1])])

    def _get_model_state(self):
        return {"reference_": self.reference_, **self._window_state()}

    def _set_model_state(self, state):
        self._set_window_state(state)
        reference = np.asarray(state["reference_"], dtype=float)
        if reference.ndim != 2 or reference.shape[1] != int(self.n_features_in_) \
                or reference.shape[0] < self._window():
            raise DataError("The stored training series does not match the window and the features.")
        self.reference_ = reference
