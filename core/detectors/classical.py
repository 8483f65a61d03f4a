"""Classical detectors built on scikit-learn estimators, and the neighbour methods.

scikit-learn rather than PyOD: the same algorithms, no extra dependency chain, and the fitted
estimators can be saved with skops, which loads them without executing code from the file.
``knn`` and ``lof`` keep their training rows as plain arrays and search them with
:mod:`core.detectors.neighbour_search`: exact (SciPy's kd-tree or scikit-learn's brute force, by
shape), or faiss's approximate HNSW search.
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError
from .base import BaseDetector
from .neighbour_search import SEARCHES, NeighbourIndex, neighbour_algorithm  # noqa: F401 (shared with subsequence)


class _SklearnDetector(BaseDetector):
    """Holds one fitted scikit-learn estimator in ``estimator_``."""

    family = "classical"

    def _get_model_state(self):
        return {"estimator_": self.estimator_}

    def _set_model_state(self, state):
        self.estimator_ = state["estimator_"]


class IsolationForestDetector(_SklearnDetector):
    """Isolation Forest; score = minus scikit-learn's ``score_samples`` (higher = easier to isolate).

    Default threshold mean + 3 std of the training scores: mean + 1 std flagged 13-16% of the
    normal rows of long series (tests/bench/default_flags.py); the price is ECG5000, whose
    abnormal beats mostly score between the two.
    """

    default_threshold = "mean_std:k=3"

    def __init__(self, n_estimators: int = 200, max_samples: int = 256, random_state: int = 0, threshold=None):
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.random_state = random_state
        self.threshold = threshold

    def _fit(self, X, y, *, progress, should_stop):
        from sklearn.ensemble import IsolationForest

        self.estimator_ = IsolationForest(
            n_estimators=self.n_estimators, max_samples=min(self.max_samples, X.shape[0]),
            random_state=self.random_state, n_jobs=-1,
        ).fit(X)

    def _score(self, X):
        return -self.estimator_.score_samples(X)


class OneClassSVMDetector(_SklearnDetector):
    """One-class SVM with an RBF kernel; score = minus the signed distance to the boundary."""

    def __init__(self, nu: float = 0.05, gamma: float = 0.0, max_train_rows: int = 20000,
                 random_state: int = 0, threshold=None):
        self.nu = nu
        self.gamma = gamma
        self.max_train_rows = max_train_rows
        self.random_state = random_state
        self.threshold = threshold

    def _fit(self, X, y, *, progress, should_stop):
        from sklearn.svm import OneClassSVM

        if X.shape[0] > self.max_train_rows:
            rows = np.random.default_rng(self.random_state).choice(X.shape[0], self.max_train_rows, replace=False)
            X = X[np.sort(rows)]
        gamma = "scale" if self.gamma <= 0 else self.gamma
        self.estimator_ = OneClassSVM(nu=self.nu, gamma=gamma).fit(X)

    def _score(self, X):
        return -self.estimator_.decision_function(X)


class _NeighbourDetector(BaseDetector):
    """Keeps the training rows (``reference_``) and searches them with a :class:`NeighbourIndex`.

    The index is a cache, not fitted state: it is built on first use after ``fit`` or after a
    bundle is loaded (from ``reference_``) and is never saved or copied.
    """

    family = "classical"
    state_fields = {"k_": "count"}

    def _start_fit(self, X: np.ndarray) -> None:
        if self.search not in SEARCHES:
            raise DataError(f"The neighbour search must be one of {list(SEARCHES)}, got {self.search!r}.")
        self.k_ = int(min(self.n_neighbors, X.shape[0] - 1))
        self.reference_ = np.ascontiguousarray(X, dtype=float)
        self._neighbour_index = None

    def _index(self) -> NeighbourIndex:
        index = getattr(self, "_neighbour_index", None)
        if index is None:
            index = self._neighbour_index = NeighbourIndex(self.reference_, self.search)
        return index

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_neighbour_index", None)  # rebuilt from reference_ when needed, never copied or pickled
        return state

    def _set_reference(self, state, legacy_rows=None) -> None:
        """Check and restore the training rows and ``k_`` (from the arrays, or an older bundle's estimator)."""
        if legacy_rows is not None and "reference_" in state:
            raise DataError("The bundle holds both the training rows and an estimator; it is inconsistent.")
        rows = np.asarray(state["reference_"] if legacy_rows is None else legacy_rows)
        if (rows.ndim != 2 or rows.dtype.kind != "f" or rows.shape[1] != int(self.n_features_in_)
                or rows.shape[0] < 2):
            raise DataError("The stored training rows are inconsistent with the model's features; "
                            "the bundle is corrupt.")
        k = int(state["k_"])
        if not 1 <= k <= rows.shape[0] - 1:
            raise DataError("The stored neighbour count is inconsistent with the training rows.")
        self.reference_, self.k_ = np.ascontiguousarray(rows, dtype=float), k
        self._neighbour_index = None


class LOFDetector(_NeighbourDetector):
    """Local Outlier Factor in novelty mode; score = the LOF of each row against the training rows.

    The definition is scikit-learn's ``LocalOutlierFactor(novelty=True)``: training rows'
    k-distances (``k_distance_``) and local reachability densities (``density_``) come from
    their neighbourhoods among the other training rows; a row's LOF is the mean ratio of its
    neighbours' densities to its own. Training rows get the LOF computed during the fit (each row
    left out of its own neighbourhood, as for ``knn``), so the fit searches the neighbours once.

    Parameters
    ----------
    n_neighbors : int, default 20
    search : {"exact", "approximate"}, default "exact"
        Exact: the true nearest training rows (SciPy's kd-tree or scikit-learn's brute force, by shape).
        Approximate: faiss's HNSW graph search, faster from a few thousand training rows, missing a
        few neighbours (see :mod:`core.detectors.neighbour_search`; recall and ROC-AUC in
        ``tests/bench/neighbours.py``).
    """

    min_train_rows = 3

    def __init__(self, n_neighbors: int = 20, search: str = "exact", threshold=None):
        self.n_neighbors = n_neighbors
        self.search = search
        self.threshold = threshold

    def _fit(self, X, y, *, progress, should_stop):
        self._start_fit(X)
        distances, positions = self._index().kneighbors(self.reference_, self.k_, leave_out_self=True)
        self.k_distance_ = distances[:, -1].copy()
        self.density_ = self._density(distances, positions)
        self._train_scores = self._lof(distances, positions)

    def _density(self, distances, positions):
        """Local reachability density: 1 / mean reachability distance (scikit-learn's, with its 1e-10)."""
        reach = np.maximum(distances, self.k_distance_[positions])
        return 1.0 / (reach.mean(axis=1) + 1e-10)

    def _lof(self, distances, positions):
        return (self.density_[positions] / self._density(distances, positions)[:, None]).mean(axis=1)

    def _training_scores(self, X):
        scores = self._train_scores
        del self._train_scores  # kept as decision_scores_
        return scores

    def _score(self, X):
        return self._lof(*self._index().kneighbors(X, self.k_))

    def _get_model_state(self):
        return {"reference_": self.reference_, "k_": int(self.k_), "k_distance_": self.k_distance_,
                "density_": self.density_}

    def _set_model_state(self, state):
        if "estimator_" in state:  # a bundle saved when LOF was scikit-learn's estimator
            estimator = state["estimator_"]
            k = int(estimator.n_neighbors_)
            self._set_reference({"k_": k}, legacy_rows=estimator._fit_X)
            k_distance, density = estimator._distances_fit_X_[:, k - 1], estimator._lrd
        else:
            self._set_reference(state)
            k_distance, density = state["k_distance_"], state["density_"]
        k_distance, density = np.asarray(k_distance, dtype=float), np.asarray(density, dtype=float)
        n = self.reference_.shape[0]
        if (k_distance.shape != (n,) or density.shape != (n,) or np.any(k_distance < 0)
                or not np.all(density > 0)):
            raise DataError("The stored neighbour densities are inconsistent with the training rows.")
        self.k_distance_, self.density_ = k_distance, density


class KNNDetector(_NeighbourDetector):
    """Distance to the k-th nearest training row (or the mean distance to the k nearest).

    Training rows are scored against the other training rows (a row is not its own neighbour),
    so that training and test scores are comparable when the threshold is chosen.

    Parameters
    ----------
    n_neighbors : int, default 5
    aggregate : {"largest", "mean"}, default "largest"
    search : {"exact", "approximate"}, default "exact"
        Exact: the true nearest training rows (SciPy's kd-tree or scikit-learn's brute force, by shape).
        Approximate: faiss's HNSW graph search, faster from a few thousand training rows, missing a
        few neighbours (see :mod:`core.detectors.neighbour_search`; recall and ROC-AUC in
        ``tests/bench/neighbours.py``).
    """

    def __init__(self, n_neighbors: int = 5, aggregate: str = "largest", search: str = "exact", threshold=None):
        self.n_neighbors = n_neighbors
        self.aggregate = aggregate
        self.search = search
        self.threshold = threshold

    def _fit(self, X, y, *, progress, should_stop):
        self._start_fit(X)

    def _training_scores(self, X):
        distances, _ = self._index().kneighbors(self.reference_, self.k_, leave_out_self=True)
        return self._aggregate(distances)

    def _score(self, X):
        distances, _ = self._index().kneighbors(X, self.k_)
        return self._aggregate(distances)

    def _aggregate(self, distances: np.ndarray) -> np.ndarray:
        return distances[:, -1] if self.aggregate == "largest" else distances.mean(axis=1)

    def _get_model_state(self):
        return {"reference_": self.reference_, "k_": int(self.k_)}

    def _set_model_state(self, state):
        if "estimator_" in state:  # a bundle saved when kNN was scikit-learn's NearestNeighbors
            self._set_reference(state, legacy_rows=state["estimator_"]._fit_X)
        else:
            self._set_reference(state)


class PCADetector(_SklearnDetector):
    """Squared reconstruction error after projection on the leading principal components.

    Default threshold the 97.5th percentile of the training errors: it flags about 2.5% of normal
    rows whatever the errors' spread, where mean + 1 std flagged 11-15% of a series' normal rows
    and mean + 3 std missed most of ECG5000's abnormal beats (tests/bench/default_flags.py).
    """

    is_reconstruction = True
    default_threshold = "percentile:q=97.5"

    def __init__(self, n_components: float = 0.95, threshold=None):
        self.n_components = n_components
        self.threshold = threshold

    def _fit(self, X, y, *, progress, should_stop):
        from sklearn.decomposition import PCA

        if X.shape[1] < 2:
            raise DataError("PCA needs at least two features: one component reconstructs a single feature "
                            "exactly. Use windowed_pca for a single series.")
        # keep at least one component out, otherwise every reconstruction error is zero
        limit = min(X.shape[0], X.shape[1]) - 1
        n = self.n_components if self.n_components < 1 else int(self.n_components)
        estimator = PCA(n_components=n, svd_solver="full").fit(X)
        if estimator.n_components_ > limit:
            estimator = PCA(n_components=max(1, limit), svd_solver="full").fit(X)
        self.estimator_ = estimator

    def _reconstruct(self, X):
        return self.estimator_.inverse_transform(self.estimator_.transform(X))

    def _score(self, X):
        return ((X - self._reconstruct(X)) ** 2).mean(axis=1)

    def feature_scores(self, X):
        from .base import check_features

        X = check_features(X, n_features=self.n_features_in_)
        return (X - self._reconstruct(X)) ** 2


class RandomForestDetector(_SklearnDetector):
    """Supervised random forest on labelled rows; score = predicted probability of the anomaly class."""

    supervised = True
    default_threshold = "fixed:value=0.5"

    def __init__(self, n_estimators: int = 50, max_depth: int = 0, random_state: int = 0, threshold=None):
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.random_state = random_state
        self.threshold = threshold

    def _fit(self, X, y, *, progress, should_stop):
        from sklearn.ensemble import RandomForestClassifier

        self.estimator_ = RandomForestClassifier(
            n_estimators=self.n_estimators, max_depth=self.max_depth or None,
            random_state=self.random_state, n_jobs=-1,
        ).fit(X, y)

    def _score(self, X):
        return self.estimator_.predict_proba(X)[:, list(self.estimator_.classes_).index(1)]

    def feature_scores(self, X):
        # Global importance times the row's distance from the normal profile: a cheap local view.
        return super().feature_scores(X) * self.estimator_.feature_importances_
