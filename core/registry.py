"""The catalogue of detection methods.

Maps a method name to its class by import path, so nothing heavy is imported until a method is
used (TensorFlow loads only when ``dense_ae_keras`` is built). Each entry declares its parameters
(name, type, default, range, help) so that a front end can build a form from it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from .errors import DataError


@dataclass(frozen=True)
class ParamSpec:
    """One tunable parameter of a method.

    ``kind`` is ``"int"``, ``"float"``, ``"bool"`` or ``"choice"``; ``low``/``high`` bound numbers,
    ``choices`` lists the options of a choice.
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
        module = importlib.import_module(f"core.detectors.{module_name}")
        return getattr(module, class_name)

    def param(self, name: str) -> ParamSpec:
        for spec in self.params:
            if spec.name == name:
                return spec
        known = ", ".join(p.name for p in self.params) or "none"
        raise DataError(f"Method '{self.name}' has no parameter '{name}' (known: {known}).")

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}


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
    "latent_size": "Code size (units)",
    "learning_rate": "Learning rate",
    "max_depth": "Deepest tree level (0 = unlimited)",
    "max_samples": "Rows drawn per tree",
    "max_train_rows": "Most training rows used",
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
    "validation_fraction": "Share held out for validation (0-0.5)",
    "window": "Window length (time steps)",
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
_WINDOW = ParamSpec("window", "int", 50, "Length of the sliding windows, in time steps.", 2, 10000)
_STRIDE = ParamSpec("stride", "int", 1, "Step between training windows (scoring always uses every window).", 1, 1000)

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
    (ParamSpec("window", "int", 25, "Width of the centred rolling window, in time steps.", 3, 100000),),
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
register(MethodSpec(
    "lof", "Local Outlier Factor", "classical", "rows",
    "How much sparser a row's neighbourhood is than its neighbours' (scikit-learn, novelty mode).",
    "classical:LOFDetector",
    (ParamSpec("n_neighbors", "int", 20, "Neighbours used for the local density.", 1, 1000),)))
register(MethodSpec(
    "knn", "k-nearest neighbours", "classical", "rows",
    "Distance to the k-th (or mean of k) nearest normal training rows.",
    "classical:KNNDetector",
    (ParamSpec("n_neighbors", "int", 5, "Number of neighbours.", 1, 1000),
     ParamSpec("aggregate", "choice", "largest", "Distance to the k-th neighbour or the mean over k.",
               choices=("largest", "mean")))))
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
    (ParamSpec("window", "int", 32, "Length of the sliding windows, in time steps.", 2, 10000),
     ParamSpec("n_components", "float", 0.9, "Components kept: share of variance (< 1) or count.", 0.01, 10000.0)),
    reconstruction=True))
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
    (_WINDOW, _STRIDE,
     ParamSpec("hidden_size", "int", 64, "LSTM hidden units.", 2, 4096, log=True),
     ParamSpec("latent_size", "int", 32, "Size of the window's latent code.", 1, 4096, log=True),
     ParamSpec("num_layers", "int", 2, "Stacked LSTM layers.", 1, 8),
     ParamSpec("dropout", "float", 0.2, "Dropout between LSTM layers.", 0.0, 0.9),
     *_training(50, 32, 1e-3, 5), SEED, DEVICE),
    heavy_framework="torch", reconstruction=True))
register(MethodSpec(
    "conv_ae", "1-D convolutional autoencoder", "deep", "windows",
    "Convolutional autoencoder on sliding windows; each time step is scored by its own reconstruction error.",
    "torch_sequence:ConvAutoencoderDetector",
    (_WINDOW, _STRIDE,
     ParamSpec("channels", "int", 32, "Filters in the first convolution (doubled in the second).", 2, 1024, log=True),
     ParamSpec("kernel_size", "int", 7, "Convolution kernel length.", 3, 101),
     *_training(50, 64, 1e-3, 5), SEED, DEVICE),
    heavy_framework="torch", reconstruction=True))

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
