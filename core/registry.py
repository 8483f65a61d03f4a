"""The catalogue of detection methods.

Maps a method name to its class by import path, so nothing heavy is imported until a method is
used (TensorFlow loads only when ``dense_ae_keras`` is built). Each entry declares its parameters
(name, type, default, range, help) so that a front end can build a form from it.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from typing import Any

from .errors import DataError


@dataclass(frozen=True)
class ParamSpec:
    """One tunable parameter of a method.

    ``kind`` is ``"int"``, ``"float"``, ``"bool"``, ``"choice"`` or ``"methods"`` (a list of other
    methods with their parameters, written ``"lof + knn(n_neighbors=10)"``, see
    :func:`parse_method_list`); ``low``/``high`` bound numbers, ``choices`` lists the options of a choice.
    """

    name: str
    kind: str
    default: Any
    help: str
    low: float | None = None
    high: float | None = None
    choices: tuple = ()
    log: bool = False
    label: str = ""

    @property
    def plain_label(self) -> str:
        """What a form calls the parameter: words and a unit, never the code name."""
        return self.label or PLAIN_LABELS.get(self.name, self.name.replace("_", " ").capitalize())

    def coerce(self, value: Any) -> Any:
        """Convert ``value`` (possibly a command-line string) to this parameter's type and check it."""
        try:
            if self.kind == "int":
                value = int(float(value))
            elif self.kind == "float":
                value = float(value)
            elif self.kind == "bool":
                if isinstance(value, str):
                    if value.lower() not in {"true", "false", "1", "0", "yes", "no"}:
                        raise ValueError(value)
                    value = value.lower() in {"true", "1", "yes"}
                value = bool(value)
        except (TypeError, ValueError) as exc:
            raise DataError(f"Parameter '{self.name}' must be of type {self.kind}, got {value!r}.") from exc
        if self.kind == "methods":
            return format_method_list(parse_method_list(value, what=f"Parameter '{self.name}'"))
        if self.kind == "choice" and value not in self.choices:
            raise DataError(f"Parameter '{self.name}' must be one of {list(self.choices)}, got {value!r}.")
        if self.kind in {"int", "float"}:
            if self.low is not None and value < self.low or self.high is not None and value > self.high:
                raise DataError(f"Parameter '{self.name}' must be between {self.low} and {self.high}, got {value}.")
        return value


@dataclass(frozen=True)
class MethodSpec:
    """A registered method: where its class lives and what it needs."""

    name: str
    label: str
    family: str  # statistical | classical | deep
    input_kind: str  # rows | windows
    description: str
    class_path: str  # "module:Class", relative to core.detectors
    params: tuple[ParamSpec, ...] = ()
    default_scaler: str = "auto"
    supervised: bool = False
    heavy_framework: str | None = None  # "torch" or "tensorflow": loaded only when the method is used
    reconstruction: bool = False

    def load_class(self):
        module_name, _, class_name = self.class_path.partition(":")
        # a path starting with "core." is absolute; any other is relative to core.detectors
        module = importlib.import_module(module_name if module_name.startswith("core.") else
                                         f"core.detectors.{module_name}")
        return getattr(module, class_name)

    def param(self, name: str) -> ParamSpec:
        for spec in self.params:
            if spec.name == name:
                return spec
        known = ", ".join(p.name for p in self.params) or "none"
        raise DataError(f"Method '{self.name}' has no parameter '{name}' (known: {known}).")

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

    def params_kind_absent(self, kind: str) -> bool:
        return all(p.kind != kind for p in self.params)


#: Plain labels (with units) of the parameter names the methods share; a parameter can also carry its own.
PLAIN_LABELS = {
    "aggregate": "Neighbour distance used",
    "batch_size": "Batch size (rows or windows per step)",
    "channels": "Convolution filters",
    "combine": "Combine the features by",
    "device": "Compute device",
    "dropout": "Dropout share (0-0.9)",
    "epochs": "Training passes over the data (epochs)",
    "gamma": "Kernel width (0 = automatic)",
    "hidden": "Layer sizes (units)",
    "hidden_size": "LSTM units",
    "error_rate": "How fast the typical error follows new errors (0-1)",
    "forgetting": "Weight the past keeps at each step (0.5-1)",
    "k": "Fence width (in IQRs)",
    "kernel_size": "Kernel length (time steps)",
    "lags": "Past values per pattern (time steps)",
    "search": "Neighbour search",
    "latent_size": "Code size (units)",
    "learning_rate": "Learning rate",
    "max_depth": "Deepest tree level (0 = unlimited)",
    "max_samples": "Rows drawn per tree",
    "max_train_rows": "Most training rows used",
    "max_train_windows": "Most training windows kept",
    "members": "Methods combined",
    "n_components": "Components kept (share of variance, or a count)",
    "n_estimators": "Number of trees",
    "n_neighbors": "Neighbours compared (k)",
    "nu": "Share of training rows allowed outside (0-1)",
    "num_layers": "Stacked LSTM layers",
    "patience": "Stop after this many epochs without improvement (0 = never)",
    "random_state": "Random seed",
    "robust": "Resist outliers (median and MAD)",
    "short_window": "Values averaged for level shifts (time steps, 1 = off)",
    "stride": "Step between training windows (time steps)",
    "time_budget": "Time budget (s, 0 = no limit)",
    "validation_fraction": "Share held out for validation (0-0.5)",
    "window": "Window length (time steps, 0 = automatic)",
    "context": "Steps each score may use",
}

SEED = ParamSpec("random_state", "int", 0, "Random seed, for reproducible results.", 0, 2**31 - 1)
DEVICE = ParamSpec("device", "choice", "auto", "Compute device: auto = CUDA, then Apple MPS, then CPU.",
                   choices=("auto", "cpu", "cuda", "mps"))


def _training(epochs: int, batch: int, lr: float, patience: int) -> tuple[ParamSpec, ...]:
    return (
        ParamSpec("epochs", "int", epochs, "Maximum passes over the training data.", 1, 1000),
        ParamSpec("batch_size", "int", batch, "Rows (or windows) per gradient step.", 1, 65536, log=True),
        ParamSpec("learning_rate", "float", lr, "Adam learning rate.", 1e-6, 1.0, log=True),
        ParamSpec("patience", "int", patience,
                  "Stop after this many epochs without validation improvement (0 = never).", 0, 1000),
        ParamSpec("validation_fraction", "float", 0.1,
                  "Share of the training data held out for early stopping and the validation curve.", 0.0, 0.5),
    )


# S1's network and training settings, shared by the PyTorch and the Keras dense autoencoders
_DENSE_AE = (ParamSpec("hidden", "choice", "32,16,8", "Encoder layer sizes (the decoder mirrors them).",
                       choices=("32,16,8", "64,32,16", "128,64,32", "16,8,4")),
             *_training(20, 512, 1e-3, 0), SEED)
_WINDOW = ParamSpec("window", "int", 0, "Length of the sliding windows, in time steps; 0 = automatic: the "
                    "series' dominant period (from its autocorrelation), shown after training.", 0, 10000)
_CONTEXT = ParamSpec(
    "context", "choice", "causal",
    "causal: a step is scored from the steps up to it, so its score is final the moment it arrives (streams, "
    "live data, NAB); centred: from the steps on both sides, for offline analysis, and a stream gives each "
    "score as many steps late as the window looks ahead.", choices=("causal", "centred"))
#: the subsequence neighbour methods keep at most this many training windows (evenly spaced)
_MAX_TRAIN_WINDOWS = ParamSpec("max_train_windows", "int", 20000, "Training windows kept (evenly spaced) above this.",
                               100, 1000000, log=True)
_STRIDE = ParamSpec("stride", "int", 1, "Step between training windows (scoring always uses every window).", 1, 1000)
#: the sequence models' training-time budget (core.detectors.deep_common.DEFAULT_TIME_BUDGET_S)
_TIME_BUDGET = ParamSpec("time_budget", "float", 40.0,
                         "Most seconds training may take (0 = no limit). On a long series each epoch trains on a "
                         "random sample of the windows, and training ends when the next epoch would not fit.",
                         0.0, 86400.0)

#: Most methods one ensemble combines, and the longest text that lists them.
MAX_ENSEMBLE_MEMBERS = 8
MAX_METHOD_LIST_CHARS = 1000
_MEMBER_PATTERN = re.compile(r"([a-z][a-z0-9_]{0,63})\s*(?:\((.*)\))?", re.DOTALL)
#: The members of the registered ensemble by default: the three best unsupervised methods on ECG5000.
DEFAULT_ENSEMBLE_MEMBERS = "lof + knn + one_class_svm"

METHODS: dict[str, MethodSpec] = {}


def register(spec: MethodSpec) -> MethodSpec:
    METHODS[spec.name] = spec
    return spec


register(MethodSpec(
    "zscore", "Z-score", "statistical", "rows",
    "Distance from the normal mean in standard deviations, both sides, combined over features.",
    "statistical:ZScoreDetector",
    (ParamSpec("robust", "bool", False, "Use median and MAD instead of mean and std (resists outliers)."),
     ParamSpec("combine", "choice", "max", "How per-feature |z| are combined into one score.",
               choices=("max", "mean", "l2"))),
    default_scaler="none"))
register(MethodSpec(
    "iqr", "Interquartile range", "statistical", "rows",
    "How far a value lies outside [Q1 - k·IQR, Q3 + k·IQR] of the normal data, in IQRs.",
    "statistical:IQRDetector",
    (ParamSpec("k", "float", 1.5, "Fence width in IQRs (1.5 is Tukey's rule).", 0.0, 100.0),
     ParamSpec("combine", "choice", "max", "How per-feature distances are combined.", choices=("max", "mean", "l2"))),
    default_scaler="none"))
register(MethodSpec(
    "rolling_median", "Rolling-median residual", "statistical", "windows",
    "Robust z-score of each value's distance from the median of its neighbours; a strong time-series baseline.",
    "timeseries_baselines:RollingMedianDetector",
    (ParamSpec("window", "int", 0, "Width of the rolling window, in time steps; 0 = automatic: a quarter of "
               "the series' dominant period (25 steps when it has none).", 0, 100000), _CONTEXT),
    default_scaler="none"))
register(MethodSpec(
    "isolation_forest", "Isolation Forest", "classical", "rows",
    "Anomalies are isolated by fewer random splits (scikit-learn).",
    "classical:IsolationForestDetector",
    (ParamSpec("n_estimators", "int", 200, "Number of trees.", 10, 5000, log=True),
     ParamSpec("max_samples", "int", 256, "Rows drawn to build each tree.", 16, 100000, log=True), SEED)))
register(MethodSpec(
    "one_class_svm", "One-class SVM", "classical", "rows",
    "A kernel boundary around the normal data (scikit-learn).",
    "classical:OneClassSVMDetector",
    (ParamSpec("nu", "float", 0.05, "Upper bound on the share of training rows outside the boundary.", 0.001, 1.0),
     ParamSpec("gamma", "float", 0.0, "RBF kernel width; 0 = 'scale' (1 / (features · variance)).", 0.0, 1000.0),
     ParamSpec("max_train_rows", "int", 20000, "Subsample the training rows above this (SVMs scale badly).",
               100, 1000000, log=True), SEED)))
_SEARCH = ParamSpec(
    "search", "choice", "exact",
    "Exact finds the true nearest training rows. Approximate searches only the training rows in the few "
    "regions of the data nearest to each row: several times faster on large files, at the price of "
    "missing some neighbours.", choices=("exact", "approximate"))
register(MethodSpec(
    "lof", "Local Outlier Factor", "classical", "rows",
    "How much sparser a row's neighbourhood is than its neighbours' (scikit-learn, novelty mode).",
    "classical:LOFDetector",
    (ParamSpec("n_neighbors", "int", 20, "Neighbours used for the local density.", 1, 1000), _SEARCH)))
register(MethodSpec(
    "knn", "k-nearest neighbours", "classical", "rows",
    "Distance to the k-th (or mean of k) nearest normal training rows.",
    "classical:KNNDetector",
    (ParamSpec("n_neighbors", "int", 5, "Number of neighbours.", 1, 1000),
     ParamSpec("aggregate", "choice", "largest", "Distance to the k-th neighbour or the mean over k.",
               choices=("largest", "mean")), _SEARCH)))
register(MethodSpec(
    "pca", "PCA", "classical", "rows",
    "Reconstruction error after projecting on the main principal components of the normal data.",
    "classical:PCADetector",
    (ParamSpec("n_components", "float", 0.95,
               "Components kept: a share of variance (< 1) or a count (>= 1).", 0.01, 10000.0),),
    reconstruction=True))
register(MethodSpec(
    "windowed_pca", "Windowed PCA", "classical", "windows",
    "PCA reconstruction error of sliding windows, folded back to each time step.",
    "timeseries_baselines:WindowedPCADetector",
    (_WINDOW, _CONTEXT,
     ParamSpec("n_components", "float", 0.9, "Components kept: share of variance (< 1) or count.", 0.01, 10000.0)),
    reconstruction=True))
register(MethodSpec(
    "windowed_knn", "Windowed k-nearest neighbours", "classical", "windows",
    "Distance of each sliding window to its nearest normal training windows (subsequence kNN, scikit-learn).",
    "subsequence:WindowedKNNDetector",
    (_WINDOW, _CONTEXT,
     ParamSpec("n_neighbors", "int", 5, "Number of neighbouring windows.", 1, 1000),
     _MAX_TRAIN_WINDOWS)))
register(MethodSpec(
    "windowed_lof", "Windowed Local Outlier Factor", "classical", "windows",
    "How much sparser a sliding window's neighbourhood is than its neighbours' (subsequence LOF, scikit-learn).",
    "subsequence:WindowedLOFDetector",
    (_WINDOW, _CONTEXT,
     ParamSpec("n_neighbors", "int", 20, "Neighbouring windows used for the local density.", 1, 1000),
     _MAX_TRAIN_WINDOWS)))
register(MethodSpec(
    "matrix_profile", "Matrix profile (discords)", "classical", "windows",
    "z-normalised distance of each window to its most similar normal training window (stumpy); "
    "a window unlike anything seen is a discord.",
    "subsequence:MatrixProfileDetector",
    (_WINDOW, _CONTEXT,
     ParamSpec("combine", "choice", "max", "How the features' distances are combined.", choices=("max", "mean")),
     ParamSpec("device", "choice", "auto", "Compute device: auto = a CUDA GPU when there is one, else the CPU.",
               choices=("auto", "cpu", "cuda")))))
register(MethodSpec(
    "random_forest", "Random forest (supervised)", "classical", "rows",
    "A classifier trained on labelled normal and anomalous rows; score = anomaly probability.",
    "classical:RandomForestDetector",
    (ParamSpec("n_estimators", "int", 50, "Number of trees.", 1, 5000, log=True),
     ParamSpec("max_depth", "int", 0, "Maximum tree depth (0 = unlimited).", 0, 1000), SEED),
    supervised=True))
register(MethodSpec(
    "dense_ae", "Dense autoencoder (PyTorch)", "deep", "rows",
    "Fully connected autoencoder (32-16-8 / 16-32-n); score = mean absolute reconstruction error.",
    "torch_dense:DenseAutoencoderDetector",
    (*_DENSE_AE, DEVICE),
    default_scaler="auto_minmax", heavy_framework="torch", reconstruction=True))
register(MethodSpec(
    "dense_ae_keras", "Dense autoencoder (Keras)", "deep", "rows",
    "The same dense autoencoder in TensorFlow/Keras (loads TensorFlow on first use).",
    "keras_dense:KerasDenseAutoencoderDetector",
    _DENSE_AE,
    default_scaler="auto_minmax", heavy_framework="tensorflow", reconstruction=True))
register(MethodSpec(
    "lstm_ae", "LSTM autoencoder", "deep", "windows",
    "Sequence autoencoder on sliding windows; each time step is scored by its own reconstruction error.",
    "torch_sequence:LSTMAutoencoderDetector",
    (_WINDOW, _CONTEXT, _STRIDE,
     ParamSpec("hidden_size", "int", 64, "LSTM hidden units.", 2, 4096, log=True),
     ParamSpec("latent_size", "int", 32, "Size of the window's latent code.", 1, 4096, log=True),
     ParamSpec("num_layers", "int", 2, "Stacked LSTM layers.", 1, 8),
     ParamSpec("dropout", "float", 0.2, "Dropout between LSTM layers.", 0.0, 0.9),
     *_training(50, 32, 1e-3, 5), _TIME_BUDGET, SEED, DEVICE),
    heavy_framework="torch", reconstruction=True))
register(MethodSpec(
    "conv_ae", "1-D convolutional autoencoder", "deep", "windows",
    "Convolutional autoencoder on sliding windows; each time step is scored by its own reconstruction error.",
    "torch_sequence:ConvAutoencoderDetector",
    (_WINDOW, _CONTEXT, _STRIDE,
     ParamSpec("channels", "int", 32, "Filters in the first convolution (doubled in the second).", 2, 1024, log=True),
     ParamSpec("kernel_size", "int", 7, "Convolution kernel length.", 3, 101),
     *_training(50, 64, 1e-3, 5), _TIME_BUDGET, SEED, DEVICE),
    heavy_framework="torch", reconstruction=True))
register(MethodSpec(
    "ensemble", "Ensemble of methods", "ensemble", "rows",
    "Several methods trained on the same rows; their scores, each measured against its own training "
    "scores, are averaged as ranks or the largest is taken.",
    "core.ensemble:EnsembleDetector",
    (ParamSpec("members", "methods", DEFAULT_ENSEMBLE_MEMBERS,
               "The methods combined, joined by '+', each optionally with parameters: 'lof + knn(n_neighbors=10)'."),
     ParamSpec("combine", "choice", "rank",
               "rank: the mean of each member's rank among its own training scores; max: the largest member "
               "score after centring on its training median and dividing by its training spread (IQR).",
               choices=("rank", "max"), label="Combine the members by")),
    default_scaler="none"))


def can_join_ensemble(spec: MethodSpec) -> bool:
    """Whether a method may be a member of an ensemble: unsupervised, row by row, not an ensemble itself.

    Members are never ensembles, so an ensemble nests exactly one level deep (a bundle that
    describes deeper nesting is refused when its parameters are read).
    """
    return spec.input_kind == "rows" and not spec.supervised and spec.params_kind_absent("methods")


def parse_method_list(text, *, what: str = "The list of methods") -> list[tuple[str, dict[str, Any]]]:
    """``"lof + knn(n_neighbors=10, aggregate=mean)"`` as ``[("lof", {}), ("knn", {...})]``, checked.

    Every name must be a method that :func:`can_join_ensemble`, every parameter one it declares
    (converted to its type); 2 to :data:`MAX_ENSEMBLE_MEMBERS` methods. Raises :class:`DataError`.
    """
    if not isinstance(text, str) or len(text) > MAX_METHOD_LIST_CHARS:
        raise DataError(f"{what} must be a text of at most {MAX_METHOD_LIST_CHARS} characters, "
                        "like 'lof + knn + one_class_svm'.")
    parts = [part.strip() for part in text.split("+")]
    if not 2 <= len(parts) <= MAX_ENSEMBLE_MEMBERS:
        raise DataError(f"{what} must name 2 to {MAX_ENSEMBLE_MEMBERS} methods joined by '+', got {len(parts)}.")
    members = []
    for part in parts:
        match = _MEMBER_PATTERN.fullmatch(part)
        if match is None:
            raise DataError(f"{what}: '{part[:60]}' is not a method name, optionally followed by (name=value, ...).")
        name, arguments = match.group(1), match.group(2)
        spec = METHODS.get(name)
        if spec is None:
            raise DataError(f"{what}: unknown method '{name}'.")
        if not can_join_ensemble(spec):
            raise DataError(f"{what}: '{name}' cannot be combined (members score rows one by one, need no labels "
                            "and are not ensembles themselves).")
        params: dict[str, Any] = {}
        for item in filter(None, (a.strip() for a in (arguments or "").split(","))):
            key, sign, value = (s.strip() for s in item.partition("="))
            if not sign:
                raise DataError(f"{what}: '{item[:60]}' in {name}(...) must be written name=value.")
            if key in params:
                raise DataError(f"{what}: {name}(...) sets '{key}' twice.")
            params[key] = spec.param(key).coerce(value)
        members.append((name, params))
    return members


def format_method_list(members) -> str:
    """The one text form of a list of ``(method, params)``: ``"lof + knn(n_neighbors=10)"``."""
    parts = []
    for name, params in members:
        arguments = ", ".join(f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in params.items())
        parts.append(f"{name}({arguments})" if arguments else name)
    return " + ".join(parts)

# Online detectors: they keep learning while the series arrives (adaptive, see core.detectors.online).
register(MethodSpec(
    "sliding_zscore", "Sliding-window robust z (online)", "statistical", "windows",
    "Robust z-score of each new value against the median and IQR of the values just before it; keeps learning.",
    "online:SlidingRobustZDetector",
    (ParamSpec("window", "int", 1000, "Past values the median and interquartile range are taken from.", 2, 100000,
               label="Past values compared (time steps)"),
     ParamSpec("short_window", "int", 3, "Also score the mean of this many latest values, for small level "
               "shifts (1 = off).", 1, 10000)),
    default_scaler="none"))
register(MethodSpec(
    "sliding_knn", "Sliding-window kNN (online)", "classical", "windows",
    "Distance from the latest pattern of values to its nearest neighbours among recent patterns; keeps learning.",
    "online:SlidingKNNDetector",
    (ParamSpec("window", "int", 3000, "Recent patterns kept in memory and compared.", 1, 20000,
               label="Recent patterns remembered"),
     ParamSpec("lags", "int", 1, "Values per feature in a pattern (1 = the latest row alone).", 1, 500),
     ParamSpec("n_neighbors", "int", 60, "Which neighbour's distance is the score.", 1, 1000))))
register(MethodSpec(
    "online_forecast", "Online forecast error", "statistical", "windows",
    "Forecasts each value from the ones before it (autoregression updated every step) and scores the surprise.",
    "online:OnlineForecastDetector",
    (ParamSpec("lags", "int", 6, "Past values the forecast uses.", 1, 100, label="Past values used (time steps)"),
     ParamSpec("forgetting", "float", 0.995, "Weight kept by the past at each step (1 = never forget).", 0.5, 1.0),
     ParamSpec("error_rate", "float", 0.02, "Rate at which the typical error follows new errors.", 0.0001, 0.9)),
    default_scaler="standard"))


def get_method(name: str) -> MethodSpec:
    """The :class:`MethodSpec` registered under ``name`` (raises :class:`DataError` if unknown)."""
    try:
        return METHODS[name]
    except KeyError:
        raise DataError(f"Unknown method {name!r}; choose one of {', '.join(METHODS)}.") from None


def list_methods(family: str | None = None, input_kind: str | None = None) -> list[MethodSpec]:
    """Registered methods, optionally filtered by family and input kind, in registration order."""
    return [m for m in METHODS.values()
            if (family is None or m.family == family) and (input_kind is None or m.input_kind == input_kind)]


def create_detector(name: str, threshold=None, **params):
    """Build an unfitted detector for ``name``; ``params`` are checked against the declared ones."""
    spec = get_method(name)
    checked = spec.defaults()
    for key, value in params.items():
        checked[key] = spec.param(key).coerce(value)
    return spec.load_class()(threshold=threshold, **checked)
