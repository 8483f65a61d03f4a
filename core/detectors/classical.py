"""Classical detectors built on scikit-learn estimators (no hand-written algorithms).

scikit-learn rather than PyOD: the same algorithms, no extra dependency chain, and the fitted
estimators can be saved with skops, which loads them without executing code from the file.
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError
from .base import BaseDetector


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


def neighbour_algorithm(n_reference: int, n_features: int) -> str:
    """scikit-learn's neighbour search that is fastest for a reference set of this shape.

    Measured on 2 CPU cores, 20,000 queries, k=5: a kd-tree wins only in low dimensions (at 2
    features it is 7x faster than brute force against 5,000 rows, 50x against 50,000), and loses
    from about 5 features on (at 10 features brute force is 4x faster; at 140, 18x). scikit-learn's
    own "auto" picks the tree up to 15 features, the wrong side of that crossover.
    """
    if n_features <= 4 or (n_features <= 6 and n_reference >= 20_000):
        return "kd_tree"
    return "brute"


def _neighbour_search(n_reference: int, n_features: int) -> dict:
    """Keyword arguments of scikit-learn's neighbour estimators for a reference set of this shape.

    Brute force runs its own threads (scikit-learn's pairwise-distance reductions); only the
    tree search is spread over the cores by ``n_jobs``. Without ``n_jobs`` the
    brute-force call is exactly scikit-learn's plain one, so never slower than it.
    """
    algorithm = neighbour_algorithm(n_reference, n_features)
    return {"algorithm": algorithm, "n_jobs": -1 if algorithm == "kd_tree" else None}


class LOFDetector(_SklearnDetector):
    """Local Outlier Factor in novelty mode; score = the LOF of each row against the training rows.

    Training rows get the LOF computed during the fit, where each row is left out of its own
    neighbourhood (as for ``knn``), so the fit does not search the neighbours a second time.
    """

    min_train_rows = 3

    def __init__(self, n_neighbors: int = 20, threshold=None):
        self.n_neighbors = n_neighbors
        self.threshold = threshold

    def _fit(self, X, y, *, progress, should_stop):
        from sklearn.neighbors import LocalOutlierFactor

        self.estimator_ = LocalOutlierFactor(
            n_neighbors=min(self.n_neighbors, X.shape[0] - 1), novelty=True, **_neighbour_search(*X.shape)).fit(X)

    def _training_scores(self, X):
        return -self.estimator_.negative_outlier_factor_

    def _score(self, X):
        return -self.estimator_.score_samples(X)


class KNNDetector(_SklearnDetector):
    """Distance to the k-th nearest training row (or the mean distance to the k nearest).

    Training rows are scored against the other training rows (a row is not its own neighbour),
    so that training and test scores are comparable when the threshold is chosen.
    """

    state_fields = {"k_": "count"}

    def __init__(self, n_neighbors: int = 5, aggregate: str = "largest", threshold=None):
        self.n_neighbors = n_neighbors
        self.aggregate = aggregate
        self.threshold = threshold

    def _fit(self, X, y, *, progress, should_stop):
        from sklearn.neighbors import NearestNeighbors

        self.k_ = min(self.n_neighbors, X.shape[0] - 1)
        self.estimator_ = NearestNeighbors(n_neighbors=self.k_, **_neighbour_search(*X.shape)).fit(X)

    def _training_scores(self, X):
        distances, _ = self.estimator_.kneighbors(None, n_neighbors=self.k_)  # leaves each row out
        return self._aggregate(distances)

    def _score(self, X):
        distances, _ = self.estimator_.kneighbors(X, n_neighbors=self.k_)
        return self._aggregate(distances)

    def _aggregate(self, distances: np.ndarray) -> np.ndarray:
        return distances[:, -1] if self.aggregate == "largest" else distances.mean(axis=1)

    def _get_model_state(self):
        return {"estimator_": self.estimator_, "k_": int(self.k_)}

    def _set_model_state(self, state):
        self.estimator_, self.k_ = state["estimator_"], int(state["k_"])


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
