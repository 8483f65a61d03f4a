"""A trained detection pipeline: feature schema + scaler + detector + threshold, saved as one bundle."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from . import bundle, signing
from .calibration import CALIBRATIONS, make_calibration
from .detectors.base import check_features
from .errors import BundleError, DataError
from .preprocessing import SCALERS, Scaler, auto_scaler_kind
from .registry import METHODS, create_detector, get_method, parse_method_list
from .safe_estimators import ARRAY_STATE_METHODS, ESTIMATOR_CLASSES, check_loaded
from .thresholds import STRATEGIES, apply_threshold, make_threshold

#: Limits of what a bundle may declare (a model beyond them is refused, never half loaded).
MAX_FEATURES = 100_000
MAX_NAME_CHARS = 1000
MAX_DESCRIPTION_CHARS = 2000
MAX_HISTORY_EPOCHS = 100_000
#: Rows x features of the probe scored after loading (a window model needs a window's worth).
MAX_PROBE_CELLS = 4_000_000
#: Arrays every bundle holds, one value per feature (the rest of the arrays belong to the detector).
_PER_FEATURE_ARRAYS = ("scaler.center", "scaler.scale", "profile.mean", "profile.std",
                       "detector.train_mean_", "detector.train_std_")
#: Detector arrays that hold one value per feature, whichever detector stores them.
_PER_FEATURE_DETECTOR_ARRAYS = ("detector.center_", "detector.spread_", "detector.lower_", "detector.upper_",
                                "detector.iqr_")
#: Where an ensemble keeps each member's state: ``detector.member0.``, ``detector.member1.``, ...
MEMBER_PREFIX = "detector.member"
_MANIFEST_FIELDS = frozenset({"method", "params", "threshold_spec", "threshold", "threshold_description",
                              "scaler", "features", "calibration"})


#: Checks and words for the kinds of plain detector state (``BaseDetector.state_fields``).
_STATE_KINDS = {
    "count": lambda v: isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 1_000_000_000,
    "number": lambda v: _is_number(v),
    "text": lambda v: isinstance(v, str) and len(v) <= MAX_DESCRIPTION_CHARS,
    "flag": lambda v: isinstance(v, bool),
}
_STATE_KIND_WORDS = {"count": "a whole number of at least 1", "number": "a finite number",
                     "text": f"a text of at most {MAX_DESCRIPTION_CHARS} characters", "flag": "true or false"}


def _refuse(field: str, expected: str, value: Any) -> None:
    shown = repr(value) if isinstance(value, (bool, int, float, type(None))) else type(value).__name__
    raise BundleError(f"The bundle's manifest field '{field}' must be {expected}, got {shown}; "
                      "the bundle is corrupt or was not made by this product.")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value)


def _check_threshold_record(field: str, record: Any) -> None:
    if not (isinstance(record, dict) and record.get("strategy") in STRATEGIES):
        _refuse(field, f"a threshold strategy ({', '.join(STRATEGIES)})", record)
    for name, value in record.items():
        if name != "strategy" and not _is_number(value):
            _refuse(f"{field}.{name}", "a finite number", value)
    try:
        make_threshold(record)
    except DataError as exc:
        raise BundleError(f"The bundle's manifest field '{field}' is not a valid threshold: {exc}") from exc


def check_manifest(manifest: dict) -> None:
    """Raise :class:`BundleError` unless the pipeline's manifest fields have exactly the expected form.

    Called by :func:`core.bundle.loads` before any array or estimator of the bundle is read.
    """
    unknown = set(manifest) - _MANIFEST_FIELDS - bundle.ENVELOPE_FIELDS
    if unknown:
        raise BundleError(f"The bundle's manifest has unknown fields ({', '.join(sorted(unknown)[:5])}).")
    method = manifest.get("method")
    if not isinstance(method, str) or method not in METHODS:
        _refuse("method", f"a method of this version ({', '.join(METHODS)})", method)
    spec = METHODS[method]
    params = manifest.get("params")
    if not isinstance(params, dict):
        _refuse("params", "an object", params)
    for name, value in params.items():
        if not (isinstance(value, (bool, str)) or _is_number(value)):
            _refuse(f"params.{name}", "a number, text or true/false", value)
        try:
            spec.param(name).coerce(value)
        except DataError as exc:
            raise BundleError(f"The bundle's parameters are invalid: {exc}") from exc
    _check_threshold_record("threshold_spec", manifest.get("threshold_spec"))
    if not _is_number(manifest.get("threshold")):
        _refuse("threshold", "a finite number", manifest.get("threshold"))
    description = manifest.get("threshold_description")
    if not isinstance(description, str) or len(description) > MAX_DESCRIPTION_CHARS:
        _refuse("threshold_description", f"a text of at most {MAX_DESCRIPTION_CHARS} characters", description)
    if manifest.get("scaler") not in SCALERS:
        _refuse("scaler", f"one of {', '.join(SCALERS)}", manifest.get("scaler"))
    features = manifest.get("features")
    if not (isinstance(features, list) and 1 <= len(features) <= MAX_FEATURES
            and all(isinstance(f, str) and 0 < len(f) <= MAX_NAME_CHARS for f in features)):
        _refuse("features", f"a list of 1 to {MAX_FEATURES:,} non-empty names", features)
    if len(set(features)) != len(features):
        duplicate = next(f for f in features if features.count(f) > 1)
        raise BundleError(f"The bundle's feature list names '{duplicate[:80]}' twice; the bundle is corrupt.")
    _check_calibration(manifest)
    _check_pipeline_state(manifest, spec, params, len(features))


def _check_calibration(manifest: dict) -> None:
    """The calibration record (or none) and its plain state values, before anything is built from them."""
    record = manifest.get("calibration")
    state = {k: v for k, v in manifest["state"].items() if k.startswith("calibration.")}
    if record is None:
        if state or any(k.startswith("calibration.") for k in manifest["array_keys"]):
            raise BundleError("The bundle holds a calibration state but no calibration; it is corrupt.")
        return
    if not (isinstance(record, dict) and record.get("calibration") in CALIBRATIONS
            and all(_is_number(v) for k, v in record.items() if k != "calibration")):
        _refuse("calibration", f"a calibration ({', '.join(CALIBRATIONS)}) with numeric parameters", record)
    try:
        calibration = make_calibration(record)
    except DataError as exc:
        raise BundleError(f"The bundle's calibration is invalid: {exc}") from exc
    fields = {f"calibration.{name}": kind for name, kind in calibration.state_fields.items()}
    if set(state) != set(fields):
        raise BundleError("The bundle's calibration state has unexpected or missing entries; it is corrupt.")
    for key, kind in fields.items():
        value = state[key]
        valid = (_is_number(value) if kind == "number"
                 else isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 1_000_000_000)
        if not valid:
            _refuse(f"state.{key}", "a finite number" if kind == "number" else "a whole number", value)


def _check_pipeline_state(manifest: dict, spec, params: dict, n_features: int) -> None:
    """The state, arrays and estimators the manifest lists are exactly those of its method.

    An ensemble's members are checked the same way, each under its own prefix
    (``detector.member<i>.``, see :mod:`core.ensemble`), with the methods its ``members``
    parameter names; members are never ensembles (:func:`core.registry.can_join_ensemble`), so
    the check goes one level deep and no further.
    """
    # the calibration's state and arrays were checked apart (_check_calibration)
    state = {k: v for k, v in manifest["state"].items() if not k.startswith("calibration.")}
    arrays = {k for k in manifest["array_keys"] if not k.startswith("calibration.")}
    estimators = list(manifest["estimator_keys"])
    members = _members_of(spec, params)
    for index, (method, _) in enumerate(members):
        prefix = f"{MEMBER_PREFIX}{index}."
        member_state = {k[len(prefix):]: state.pop(k) for k in [k for k in state if k.startswith(prefix)]}
        member_arrays = {k[len(prefix):] for k in arrays if k.startswith(prefix)}
        member_estimators = [k[len(prefix):] for k in estimators if k.startswith(prefix)]
        arrays -= {prefix + k for k in member_arrays}
        estimators = [k for k in estimators if not k.startswith(prefix)]
        scaler_kind = member_state.pop("scaler.kind", None)
        if not isinstance(scaler_kind, str) or scaler_kind not in SCALERS:
            _refuse(f"state.{prefix}scaler.kind", f"one of {', '.join(SCALERS)}", scaler_kind)
        _check_detector_state(member_state, member_arrays, member_estimators, METHODS[method], n_features,
                              f"state.{prefix}")
    if members and any(k.startswith(MEMBER_PREFIX) for k in (*state, *arrays, *estimators)):
        raise BundleError("The bundle holds state of an ensemble member its parameters do not list; "
                          "it was not made by this product.")
    _check_detector_state(state, arrays, estimators, spec, n_features, "state.")


def _members_of(spec, params: dict) -> list[tuple[str, dict]]:
    """The ``(method, params)`` of an ensemble's members (none for other methods)."""
    if spec.params_kind_absent("methods"):
        return []
    try:
        return parse_method_list(params.get("members", spec.defaults()["members"]),
                                 what="The bundle's list of ensemble members")
    except DataError as exc:
        raise BundleError(f"{exc} The bundle is corrupt or was not made by this product.") from exc


def _check_detector_state(state: dict, arrays: set, estimators: list, spec, n_features: int, where: str) -> None:
    declared = {f"detector.{name}": kind for name, kind in spec.load_class().state_fields.items()}
    allowed = {"detector.n_features_in_", "detector.threshold_", "detector.threshold_strategy_",
               "detector.history_", *declared}
    missing = {"detector.n_features_in_", "detector.threshold_", "detector.threshold_strategy_"} - set(state)
    if set(state) - allowed or missing:
        raise BundleError("The bundle's detector state has unexpected or missing entries; "
                          "it was not made by this product.")
    count = state["detector.n_features_in_"]
    if isinstance(count, bool) or not isinstance(count, int) or count != n_features:
        _refuse(f"{where}detector.n_features_in_", f"{n_features} (the number of features)", count)
    if not _is_number(state["detector.threshold_"]):
        _refuse(f"{where}detector.threshold_", "a finite number", state["detector.threshold_"])
    _check_threshold_record(f"{where}detector.threshold_strategy_", state["detector.threshold_strategy_"])
    history = state.get("detector.history_", {})
    if not (isinstance(history, dict) and set(history) <= {"train_loss", "val_loss"} and all(
            isinstance(v, list) and len(v) <= MAX_HISTORY_EPOCHS and all(x is None or _is_number(x) for x in v)
            for v in history.values())):
        _refuse(f"{where}detector.history_", "lists of loss values", history)
    for key, kind in declared.items():
        if key in state and not _STATE_KINDS[kind](state[key]):
            _refuse(f"{where}{key}", _STATE_KIND_WORDS[kind], state[key])
    required = set(_PER_FEATURE_ARRAYS) | {"detector.decision_scores_"}
    if not required <= arrays or not all(k.startswith("detector.") for k in arrays - required):
        raise BundleError("The bundle's arrays are missing or unexpected; it was not made by this product.")
    expected = ["detector.estimator_"] if spec.name in ESTIMATOR_CLASSES else []
    if estimators != expected and not (spec.name in ARRAY_STATE_METHODS and estimators == []):
        raise BundleError(f"The bundle's estimators do not fit the method '{spec.name}'; the bundle is corrupt.")


def _check_arrays(state: dict, n_features: int, where: str = "") -> None:
    """Every array is finite and every per-feature array has one value per feature of the schema.

    ``where`` is the prefix of ``state``'s names in the bundle (an ensemble member's), for messages.
    """
    for name, value in state.items():
        if isinstance(value, np.ndarray) and value.dtype.kind == "f" and not np.all(np.isfinite(value)):
            raise BundleError(f"The bundle's array '{where}{name}' holds NaN or infinite values; "
                              "the bundle is corrupt.")
    for name in (*_PER_FEATURE_ARRAYS, *_PER_FEATURE_DETECTOR_ARRAYS):
        if name in state and state[name].shape != (n_features,):
            raise BundleError(f"The bundle's array '{where}{name}' has shape {state[name].shape}, but the model has "
                              f"{n_features} features; the bundle is corrupt.")
    if np.any(state["scaler.scale"] <= 0):
        raise BundleError("The bundle's scaler divides by zero or a negative scale; the bundle is corrupt.")
    scores = state["detector.decision_scores_"]
    if scores.ndim != 1 or scores.size == 0:
        raise BundleError("The bundle's training scores must be a non-empty list of numbers.")


def _check_torch_weights(detector, state: dict, n_features: int) -> None:
    """The stored weights must have exactly the shapes of the network the parameters describe.

    The network is built on PyTorch's "meta" device, which allocates nothing, so parameters that
    describe a huge network are refused before any memory is used for it.
    """
    import torch

    with torch.device("meta"):
        expected = {f"weights.{name}": tuple(t.shape)
                    for name, t in detector._build_model(n_features).state_dict().items()}
    stored = {name: tuple(value.shape) for name, value in state.items() if name.startswith("weights.")}
    if expected != stored:
        raise BundleError("The bundle's network weights do not match the network its parameters describe; "
                          "the bundle is corrupt or was made by another version.")


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
    calibration : str, dict or None
        A calibration of the detector's raw scores applied after it (see :mod:`core.calibration`),
        e.g. ``"likelihood"``; fitted on the detector's training scores. With one, :meth:`score`
        returns calibrated scores and the threshold is on their scale (the calibration's own
        threshold unless ``threshold`` names a strategy, which is then fitted on the calibrated
        training scores). ``None`` or ``"none"``: raw scores.
    """

    def __init__(self, method: str, params: dict | None = None, threshold=None, scaler: str = "auto",
                 calibration=None):
        self.method = method
        self.params = dict(params or {})
        self.threshold = threshold
        self.scaler = scaler
        self.calibration = calibration

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
        scaled = self.scaler_.transform(X)
        self.detector_.fit(scaled, y if spec.supervised else None, progress=progress, should_stop=should_stop)
        names = list(feature_names) if feature_names is not None else [f"x{i}" for i in range(X.shape[1])]
        if len(names) != X.shape[1]:
            raise DataError(f"{len(names)} feature names for {X.shape[1]} features.")
        self.feature_names_ = [str(n) for n in names]
        self.profile_mean_ = normal.mean(axis=0)
        self.profile_std_ = normal.std(axis=0)
        self.threshold_ = float(self.detector_.threshold_)
        self.threshold_description_ = self.detector_.threshold_strategy_.describe()
        self.calibration_ = make_calibration(self.calibration)
        if self.calibration_ is not None:
            self._fit_calibration(scaled)
        return self

    def _fit_calibration(self, X_scaled: np.ndarray) -> None:
        raw = self.detector_.decision_scores_
        rows = X_scaled if X_scaled.shape[0] == raw.size else None
        self.calibration_.fit(raw, rows)
        if self.threshold is None:
            self.threshold_ = float(self.calibration_.threshold)
            self.threshold_description_ = self.calibration_.describe()
            return
        # the training scores as calibrated: each judged against the training scores
        calibrated = type(self.calibration_)(**self.calibration_.get_params()).fit(raw, rows).transform(raw)
        strategy = make_threshold(self.threshold, self.detector_.default_threshold).fit(calibrated)
        self.threshold_ = float(strategy.threshold_)
        self.threshold_description_ = f"{strategy.describe()} (after {self.calibration_.describe()})"

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

    def step_context(self):
        """Which steps one score depends on (see :meth:`core.detectors.base.BaseDetector.step_context`)."""
        check_is_fitted(self, "threshold_")
        return self.detector_.step_context()

    def window_note(self) -> str | None:
        """The window the model uses and what each score depends on, in words (None for row models)."""
        check_is_fitted(self, "threshold_")
        window = getattr(self.detector_, "window_", None)
        if window is None:
            return None
        context = self.step_context()
        how = getattr(self.detector_, "window_note_", "") or "set by hand"
        reach = (f"each score uses the {context.past} steps before it" if context.causal else
                 f"each score uses {context.past} steps before it and {context.future} after it")
        return f"window: {int(window)} steps ({how}); {reach}"

    def score(self, X) -> np.ndarray:
        """Anomaly score per row (or per time step for window methods); higher = more anomalous.

        An adaptive detector and a calibration score ``X`` as the continuation of what they have
        seen and keep learning on a copy: the pipeline is left as it was (see :meth:`score_and_learn`).
        """
        scaled = self._scaled(X)
        raw = self.detector_.score_samples(scaled)
        calibration = getattr(self, "calibration_", None)
        return raw if calibration is None else calibration.transform(raw, scaled)

    def score_and_learn(self, X) -> np.ndarray:
        """Score the next rows in order and let an adaptive detector and the calibration learn from
        them (a stream's way: consecutive pieces give the same scores as one call on the whole)."""
        scaled = self._scaled(X)
        raw = self.detector_.score_and_learn(scaled)
        calibration = getattr(self, "calibration_", None)
        return raw if calibration is None else calibration.transform_and_learn(raw, scaled)

    @property
    def adaptive(self) -> bool:
        """Whether scoring changes the pipeline's state (an adaptive detector or a calibration)."""
        check_is_fitted(self, "threshold_")
        return bool(self.detector_.step_context().adaptive or getattr(self, "calibration_", None) is not None)

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
    def get_state(self) -> dict[str, Any]:
        """The fitted scaler, profile and detector as one flat dict (arrays, estimators, JSON values).

        The scaler's kind is in the bundle's manifest, so it is not part of this state.
        """
        check_is_fitted(self, "threshold_")
        state = {f"detector.{k}": v for k, v in self.detector_.get_state().items()}
        scaler_state = self.scaler_.get_state()
        state.update({"scaler.center": scaler_state["center"], "scaler.scale": scaler_state["scale"],
                      "profile.mean": self.profile_mean_, "profile.std": self.profile_std_})
        calibration = getattr(self, "calibration_", None)
        if calibration is not None:
            state.update({f"calibration.{k}": v for k, v in calibration.get_state().items()})
        return state

    @classmethod
    def from_state(cls, method: str, params: dict, threshold_spec, scaler_kind: str, state: dict[str, Any],
                   feature_names: list[str], where: str = "", calibration=None) -> "DetectionPipeline":
        """Rebuild a fitted pipeline from :meth:`get_state`, checking every array and estimator on the way.

        The threshold is the detector's own; raises :class:`BundleError` (or, for a state that does
        not fit the method, ``KeyError``/``ValueError``/... which :meth:`from_bytes` turns into one).
        ``where`` is the prefix of ``state``'s names in the bundle, for messages.
        """
        n_features = len(feature_names)
        _check_arrays(state, n_features, where)
        pipeline = cls(method, params, threshold_spec, scaler_kind, calibration)
        pipeline.detector_ = create_detector(pipeline.method, threshold=pipeline.threshold, **pipeline.params)
        prefix = "detector."
        detector_state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        pipeline.calibration_ = make_calibration(pipeline.calibration)
        if pipeline.calibration_ is not None:
            pipeline.calibration_.set_state(
                {k[len("calibration."):]: v for k, v in state.items() if k.startswith("calibration.")})
        if "estimator_" in detector_state:
            check_loaded(detector_state["estimator_"], pipeline.method)
        if pipeline.spec.heavy_framework == "torch":
            _check_torch_weights(pipeline.detector_, detector_state, n_features)
        pipeline.detector_.set_state(detector_state)
        pipeline.scaler_ = Scaler.from_state({"kind": scaler_kind, "center": state["scaler.center"],
                                              "scale": state["scaler.scale"]})
        pipeline.profile_mean_ = np.asarray(state["profile.mean"], dtype=float)
        pipeline.profile_std_ = np.asarray(state["profile.std"], dtype=float)
        pipeline.feature_names_ = list(feature_names)
        pipeline.threshold_ = float(pipeline.detector_.threshold_)
        pipeline.threshold_description_ = pipeline.detector_.threshold_strategy_.describe()
        return pipeline

    def to_bytes(self, *, key=signing.FROM_ENVIRONMENT) -> bytes:
        """The pipeline as a bundle (see :mod:`core.bundle`), signed with ``key`` (default: the configured key)."""
        state = self.get_state()
        scaler_state = self.scaler_.get_state()
        calibration = getattr(self, "calibration_", None)
        manifest = {
            "method": self.method,
            "params": self.params,
            "threshold_spec": make_threshold(self.threshold, self.detector_.default_threshold).to_dict(),
            "threshold": self.threshold_,
            "threshold_description": self.threshold_description_,
            "scaler": scaler_state["kind"],
            "features": self.feature_names_,
            "calibration": None if calibration is None else calibration.to_dict(),
        }
        return bundle.dumps(manifest, state, key=key)

    def save(self, path, *, key=signing.FROM_ENVIRONMENT) -> Path:
        """Write the bundle to ``path`` (written to a temporary file first, so a crash leaves no half file)."""
        path = Path(path)
        temporary = path.with_name(path.name + ".partial")
        temporary.write_bytes(self.to_bytes(key=key))
        temporary.replace(path)
        return path

    @classmethod
    def from_bytes(cls, data: bytes, *, key=signing.FROM_ENVIRONMENT) -> "DetectionPipeline":
        """Rebuild a pipeline from bundle bytes; raises :class:`BundleError` if they are not a valid bundle.

        ``key`` is the signing key (by default the configured one, see :mod:`core.signing`); with a
        key, unsigned or wrongly signed bundles are refused. Every field and array is checked
        against the manifest's schema and the feature list before use, and the rebuilt pipeline
        scores a probe row, so a bundle that loads also scores.
        """
        manifest, state = bundle.loads(data, key=key, check_manifest=check_manifest)
        try:
            pipeline = cls.from_state(manifest["method"], manifest["params"], manifest["threshold_spec"],
                                      manifest["scaler"], state, list(manifest["features"]),
                                      calibration=manifest.get("calibration"))
            pipeline.threshold_ = float(manifest["threshold"])
            pipeline.threshold_description_ = manifest["threshold_description"]
        except BundleError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError, IndexError, DataError) as exc:
            raise BundleError(f"The bundle is incomplete or does not match this version: {exc}") from exc
        pipeline.manifest_ = {k: v for k, v in manifest.items() if k not in ("state", "checksums")}
        pipeline._score_probe()
        return pipeline

    def _score_probe(self) -> None:
        """Score a few copies of the normal profile: a bundle that loads must score finitely."""
        # a window model needs every step a score depends on (and a few for the smallest windows)
        context = self.step_context()
        rows = max(3, context.past + context.future + 1) if self.spec.input_kind == "windows" else 1
        if rows * len(self.feature_names_) > MAX_PROBE_CELLS:
            raise BundleError(f"The bundle's model needs {rows:,} steps of {len(self.feature_names_):,} features to "
                              "score anything, beyond what this version loads.")
        probe = np.repeat(self.profile_mean_[None, :], rows, axis=0)
        try:
            scores = self.score(probe)
        except Exception as exc:  # whatever a damaged model raises, the bundle is what is wrong
            raise BundleError(f"The bundle's model cannot score data: {str(exc)[:200]}") from exc
        if scores.shape != (rows,) or not np.all(np.isfinite(scores)):
            raise BundleError("The bundle's model gives no finite score for normal data; the bundle is corrupt.")

    @classmethod
    def load(cls, path, *, key=signing.FROM_ENVIRONMENT) -> "DetectionPipeline":
        """Read a bundle file written by :meth:`save` (see :meth:`from_bytes`)."""
        path = Path(path)
        if not path.is_file():
            raise BundleError(f"Model file not found: '{path}'.")
        if path.stat().st_size > bundle.MAX_BUNDLE_BYTES:
            raise BundleError(f"'{path}' is larger than {bundle.MAX_BUNDLE_BYTES // 1024**2} MiB; "
                              "it is not a model bundle this version loads.")
        return cls.from_bytes(path.read_bytes(), key=key)

    def describe(self) -> dict[str, Any]:
        """Settings in plain values, for reports and the UI."""
        calibration = getattr(self, "calibration_", None)
        return {"method": self.method, "label": self.spec.label, "params": self.params,
                "scaler": self.scaler_.kind, "threshold": self.threshold_,
                "calibration": None if calibration is None else calibration.to_dict(),
                "threshold_description": self.threshold_description_, "features": self.feature_names_}
