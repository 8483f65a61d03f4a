"""A trained detection pipeline: feature schema + scaler + detector + threshold, saved as one bundle."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from . import bundle
from .detectors.base import check_features
from .errors import BundleError, DataError
from .preprocessing import Scaler, auto_scaler_kind
from .registry import create_detector, get_method
from .thresholds import apply_threshold, make_threshold


class DetectionPipeline(BaseEstimator):
    """Scale with statistics of the normal training rows, then score with a registered detector.

    Parameters
    ----------
    method : str
        Registered method name (see :func:`core.registry.list_methods`).
    params : dict, optional
        Method parameters; unspecified ones take their declared defaults.
    threshold : str, dict, ThresholdStrategy or None
        Threshold strategy; ``None`` uses the method's default.
    scaler : str
        ``"auto"`` (the method's default, see :func:`core.preprocessing.auto_scaler_kind`), or a
        kind from :data:`core.preprocessing.SCALERS`.
    """

    def __init__(self, method: str, params: dict | None = None, threshold=None, scaler: str = "auto"):
        self.method = method
        self.params = dict(params or {})
        self.threshold = threshold
        self.scaler = scaler

    @property
    def spec(self):
        return get_method(self.method)

    # -- training ----------------------------------------------------------------------------
    def fit(self, X, y=None, *, feature_names=None, progress=None, should_stop=None) -> "DetectionPipeline":
        """Fit scaler and detector on training data (normal rows, or labelled rows if supervised)."""
        spec = self.spec
        if isinstance(X, pd.DataFrame):
            feature_names = feature_names or [str(c) for c in X.columns]
        X = check_features(X, what="training data")
        if y is not None:
            y = np.asarray(y).astype(int).ravel()
            if y.size != X.shape[0]:
                raise DataError(f"{y.size} labels for {X.shape[0]} training rows.")
        normal = X if (y is None or not spec.supervised) else X[y == 0]
        if normal.shape[0] == 0:
            raise DataError("The training part has no normal rows.")
        kind = spec.default_scaler if self.scaler == "auto" else self.scaler
        if kind in ("auto", "auto_minmax"):
            kind = auto_scaler_kind(normal, bounded=kind == "auto_minmax")
        self.scaler_ = Scaler(kind).fit(normal)
        self.detector_ = create_detector(self.method, threshold=self.threshold, **self.params)
        self.detector_.fit(self.scaler_.transform(X), y if spec.supervised else None,
                           progress=progress, should_stop=should_stop)
        names = list(feature_names) if feature_names is not None else [f"x{i}" for i in range(X.shape[1])]
        if len(names) != X.shape[1]:
            raise DataError(f"{len(names)} feature names for {X.shape[1]} features.")
        self.feature_names_ = [str(n) for n in names]
        self.profile_mean_ = normal.mean(axis=0)
        self.profile_std_ = normal.std(axis=0)
        self.threshold_ = float(self.detector_.threshold_)
        self.threshold_description_ = self.detector_.threshold_strategy_.describe()
        return self

    # -- scoring -----------------------------------------------------------------------------
    def _matrix(self, X) -> np.ndarray:
        check_is_fitted(self, "threshold_")
        if isinstance(X, pd.DataFrame):
            missing = [c for c in self.feature_names_ if c not in X.columns]
            if missing:
                raise DataError(f"The data lacks the model's feature columns: {', '.join(missing[:10])}.")
            frame = X[self.feature_names_].apply(pd.to_numeric, errors="coerce")
            X = frame.to_numpy(dtype=float)
        return check_features(X, n_features=len(self.feature_names_))

    def _scaled(self, X) -> np.ndarray:
        return self.scaler_.transform(self._matrix(X))

    @property
    def train_scores_(self) -> np.ndarray:
        return self.detector_.decision_scores_

    @property
    def history_(self) -> dict:
        return self.detector_.history_

    @property
    def device_(self) -> str:
        return getattr(self.detector_, "device_", "cpu")

    def score(self, X) -> np.ndarray:
        """Anomaly score per row (or per time step for window methods); higher = more anomalous."""
        return self.detector_.score_samples(self._scaled(X))

    def predict(self, X) -> np.ndarray:
        """0/1 flags at the pipeline's threshold."""
        return apply_threshold(self.score(X), self.threshold_)

    def set_threshold(self, value: float, description: str | None = None) -> "DetectionPipeline":
        """Use ``value`` as the threshold from now on (and in saved bundles)."""
        check_is_fitted(self, "threshold_")
        if not np.isfinite(value):
            raise DataError("The threshold must be a finite number.")
        self.threshold_ = float(value)
        self.threshold_description_ = description or f"set by hand = {value:.6g}"
        return self

    def reconstruct(self, X) -> np.ndarray:
        """The model's reconstruction of ``X`` in the data's original units."""
        if not self.spec.reconstruction:
            raise DataError(f"The method '{self.method}' does not reconstruct its input.")
        return self.scaler_.inverse_transform(self.detector_.reconstruct(self._scaled(X)))

    def feature_contributions(self, X) -> np.ndarray:
        """Non-negative contribution of each feature to each row's score, shape ``(n, d)``."""
        return self.detector_.feature_scores(self._scaled(X))

    def normal_profile(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation of each feature over the normal training rows (original units)."""
        check_is_fitted(self, "threshold_")
        return self.profile_mean_, self.profile_std_

    # -- persistence -------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        """The pipeline as a bundle (see :mod:`core.bundle`)."""
        check_is_fitted(self, "threshold_")
        state = {f"detector.{k}": v for k, v in self.detector_.get_state().items()}
        scaler_state = self.scaler_.get_state()
        state.update({"scaler.center": scaler_state["center"], "scaler.scale": scaler_state["scale"],
                      "profile.mean": self.profile_mean_, "profile.std": self.profile_std_})
        manifest = {
            "method": self.method,
            "params": self.params,
            "threshold_spec": make_threshold(self.threshold, self.detector_.default_threshold).to_dict(),
            "threshold": self.threshold_,
            "threshold_description": self.threshold_description_,
            "scaler": scaler_state["kind"],
            "features": self.feature_names_,
        }
        return bundle.dumps(manifest, state)

    def save(self, path) -> Path:
        """Write the bundle to ``path`` (written to a temporary file first, so a crash leaves no half file)."""
        path = Path(path)
        temporary = path.with_name(path.name + ".partial")
        temporary.write_bytes(self.to_bytes())
        temporary.replace(path)
        return path

    @classmethod
    def from_bytes(cls, data: bytes) -> "DetectionPipeline":
        """Rebuild a pipeline from bundle bytes; raises :class:`BundleError` if they are not a valid bundle."""
        manifest, state = bundle.loads(data)
        try:
            pipeline = cls(manifest["method"], manifest["params"], manifest["threshold_spec"], manifest["scaler"])
            pipeline.detector_ = create_detector(pipeline.method, threshold=pipeline.threshold, **pipeline.params)
            prefix = "detector."
            pipeline.detector_.set_state({k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)})
            pipeline.scaler_ = Scaler.from_state(
                {"kind": manifest["scaler"], "center": state["scaler.center"], "scale": state["scaler.scale"]})
            pipeline.profile_mean_ = np.asarray(state["profile.mean"], dtype=float)
            pipeline.profile_std_ = np.asarray(state["profile.std"], dtype=float)
            pipeline.feature_names_ = [str(f) for f in manifest["features"]]
            pipeline.threshold_ = float(manifest["threshold"])
            pipeline.threshold_description_ = str(manifest.get("threshold_description", ""))
        except BundleError:
            raise
        except (KeyError, TypeError, ValueError, DataError) as exc:
            raise BundleError(f"The bundle is incomplete or does not match this version: {exc}") from exc
        if pipeline.scaler_.center_.shape[0] != len(pipeline.feature_names_):
            raise BundleError("The bundle's scaler and feature list disagree; it is corrupt.")
        pipeline.manifest_ = {k: v for k, v in manifest.items() if k not in ("state", "checksums")}
        return pipeline

    @classmethod
    def load(cls, path) -> "DetectionPipeline":
        """Read a bundle file written by :meth:`save`."""
        path = Path(path)
        if not path.is_file():
            raise BundleError(f"Model file not found: '{path}'.")
        return cls.from_bytes(path.read_bytes())

    def describe(self) -> dict[str, Any]:
        """Settings in plain values, for reports and the UI."""
        return {"method": self.method, "label": self.spec.label, "params": self.params,
                "scaler": self.scaler_.kind, "threshold": self.threshold_,
                "threshold_description": self.threshold_description_, "features": self.feature_names_}
