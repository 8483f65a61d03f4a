"""Sequence autoencoders on sliding windows (PyTorch): an LSTM autoencoder (S2) and a 1-D CNN.

Both take the time-ordered series ``(n_steps, n_features)``, train on its windows and score every
time step by its own reconstruction error, averaged over the windows that cover it
(:func:`core.windows.fold_window_errors`). Scoring windows and comparing them with point labels
(S2's evaluation) cannot separate point anomalies: a 50-step window around a 5% spike rate almost
always holds one, so here a step's score is the error at that step only.

Windows are never copied out of the series for training: the series stays in one tensor on the
device, and a batch is gathered from it by start index.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import DataError
from ..windows import sliding_windows, window_starts
from .base import WindowReconstructionScores
from .deep_common import DEFAULT_TIME_BUDGET_S, SEQUENCE_FALLBACK_WINDOW
from .torch_training import EVAL_BATCH_SIZE, TorchAutoencoderBase, reconstruct_batches

class StackedLSTM(nn.Module):
    """``num_layers`` single-layer, time-major LSTMs with dropout between them.

    The same network as ``nn.LSTM(num_layers=..., dropout=...)``, but the dropout mask is drawn with
    ``torch.rand``: torch's built-in inter-layer dropout draws it with ``bernoulli_``, which took
    about a tenth of a CPU training step of S2's model. The mask comes from ``generator`` (the
    model's own, on its device), never from torch's process-wide generator.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int, dropout: float,
                 generator: torch.Generator | None = None):
        super().__init__()
        self.layers = nn.ModuleList(
            nn.LSTM(input_size if i == 0 else hidden_size, hidden_size) for i in range(num_layers))
        self.dropout = dropout
        self.generator = generator

    def forward(self, sequences):  # (time, batch, features)
        for number, layer in enumerate(self.layers):
            if number and self.training and self.dropout > 0:
                noise = torch.rand(sequences.shape, generator=self.generator, device=sequences.device,
                                   dtype=sequences.dtype)
                keep = noise >= self.dropout
                sequences = sequences * keep * (1.0 / (1.0 - self.dropout))
            sequences, _ = layer(sequences)
        return sequences


class LSTMAutoencoder(nn.Module):
    """S2's network: the encoder's last output -> linear -> latent; the latent, repeated over the
    window, is decoded by an LSTM and mapped back to the features by a linear layer.

    The LSTMs run time-major (the layout oneDNN and cuDNN work in): the batch is transposed once on
    the way in and once on the way out instead of inside every LSTM call, which made a CPU training
    step about 15% faster than ``batch_first=True``.
    """

    def __init__(self, n_features: int, hidden_size: int, latent_size: int, num_layers: int, dropout: float,
                 generator: torch.Generator | None = None):
        super().__init__()
        self.encoder = StackedLSTM(n_features, hidden_size, num_layers, dropout, generator)
        self.to_latent = nn.Linear(hidden_size, latent_size)
        self.decoder = StackedLSTM(latent_size, hidden_size, num_layers, dropout, generator)
        self.to_output = nn.Linear(hidden_size, n_features)

    def forward(self, windows):  # (batch, window, features)
        steps = windows.transpose(0, 1).contiguous()
        latent = self.to_latent(self.encoder(steps)[-1])
        repeated = latent.unsqueeze(0).expand(steps.shape[0], -1, -1)  # a view, not a copy
        return self.to_output(self.decoder(repeated)).transpose(0, 1)


class ConvAutoencoder(nn.Module):
    """Two stride-2 convolutions, a 1x1 bottleneck, and two transposed convolutions back.

    The bottleneck keeps ``n_features`` channels at a quarter of the window's length, so a window
    is squeezed to about a quarter of its numbers and the network cannot learn to copy its input.
    The output is cropped (or edge-padded) to the window length, so odd windows work too.
    """

    def __init__(self, n_features: int, window: int, channels: int, kernel_size: int):
        super().__init__()
        pad = kernel_size // 2
        wide = 2 * channels
        self.window = window
        self.encoder = nn.Sequential(
            nn.Conv1d(n_features, channels, kernel_size, stride=2, padding=pad), nn.ReLU(),
            nn.Conv1d(channels, wide, kernel_size, stride=2, padding=pad), nn.ReLU(),
            nn.Conv1d(wide, n_features, 1),
        )
        self.decoder = nn.Sequential(
            nn.Conv1d(n_features, wide, 1), nn.ReLU(),
            nn.ConvTranspose1d(wide, channels, kernel_size, stride=2, padding=pad, output_padding=1), nn.ReLU(),
            nn.ConvTranspose1d(channels, n_features, kernel_size, stride=2, padding=pad, output_padding=1),
        )

    def forward(self, windows):  # (batch, window, features)
        decoded = self.decoder(self.encoder(windows.transpose(1, 2)))
        length = decoded.shape[-1]
        if length > self.window:
            decoded = decoded[..., : self.window]
        elif length < self.window:
            decoded = F.pad(decoded, (0, self.window - length), mode="replicate")
        return decoded.transpose(1, 2)


class _WindowAutoencoderDetector(WindowReconstructionScores, TorchAutoencoderBase):
    """Training on windows, per-step scoring, reconstruction and feature errors."""

    input_kind = "windows"
    reduce_lr_on_plateau = True
    default_threshold = "mean_std:k=3"
    min_train_rows = 1  # the window length decides; see _window_starts for the message
    state_fields = {"window_": "count", "window_note_": "text"}
    fallback_window = SEQUENCE_FALLBACK_WINDOW
    auto_window_bounds = (8, 128)  # a network's cost grows with its window

    def _min_rows(self) -> int:
        return 1  # window_starts says what is missing, in the window's own words

    def _window_starts(self, n_steps: int, stride: int = 1) -> np.ndarray:
        if int(stride) < 1:
            raise DataError(f"The stride must be at least 1, got {stride}.")
        return window_starts(n_steps, self._window(), int(stride))  # DataError if the series is too short

    def _window_taker(self, X: np.ndarray, starts: np.ndarray):
        """``take(i)`` = the windows starting at ``starts[i]``, gathered from the series on the device."""
        series = torch.as_tensor(X, dtype=torch.float32, device=self.device_)
        starts_t = torch.as_tensor(starts, dtype=torch.int64, device=self.device_)
        offsets = torch.arange(self._window(), device=self.device_)
        return lambda index: series[starts_t[index].unsqueeze(1) + offsets]

    def _chronological_split(self, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Validation = the last windows; training = the windows that end before those begin."""
        positions = np.arange(starts.size)
        n_val = int(round(self._check_validation_fraction() * starts.size))
        if n_val < 1:
            return positions, positions[:0]
        first_val_start = starts[-n_val]
        train = positions[starts + self._window() <= first_val_start]
        if train.size == 0:  # too short to hold both apart: train on everything, no validation
            return positions, positions[:0]
        return train, positions[-n_val:]

    def _fit(self, X, y, *, progress, should_stop):
        self._resolve_window(X)
        starts = self._window_starts(X.shape[0], int(self.stride))
        self.model_ = self._new_model(X.shape[1])
        train, val = self._chronological_split(starts)
        self._train(self._window_taker(X, starts), train, val, F.mse_loss, progress, should_stop)

    def _get_model_state(self):
        return {**super()._get_model_state(), **self._window_state()}

    def _set_model_state(self, state):
        self._set_window_state(state)  # first: the network is built for the fitted window
        super()._set_model_state({k: v for k, v in state.items() if k not in self.state_fields})

    def _window_reconstruction(self, X: np.ndarray):
        starts = self._window_starts(X.shape[0], 1)
        rebuilt = reconstruct_batches(self.model_, self._window_taker(X, starts), starts.size,
                                      self.device_, EVAL_BATCH_SIZE)
        windows, _ = sliding_windows(X, self._window(), 1)  # a view: no copy of the series
        return windows, rebuilt, starts


_TRAINING_DOC = """epochs : int
        Maximum passes over the training windows.
    batch_size : int
        Windows per gradient step.
    learning_rate : float
        Adam's starting learning rate; halved when the validation loss stalls (ReduceLROnPlateau).
    patience : int
        Stop after this many epochs without validation improvement and restore the best weights
        (0 = train all epochs, keep the last weights).
    validation_fraction : float, default 0.1
        Share of the windows held out for validation, taken from the end of the series; training
        windows stop before the first validation window begins, so the two never overlap.
    time_budget : float, default 40
        Seconds training may take (0 = no limit). On a long series each epoch then trains on a
        random subsample of the windows, and training ends when the next epoch would not fit (see
        :func:`~core.detectors.torch_training.train_autoencoder`).
    random_state : int, default 0
    device : {"auto", "cpu", "cuda", "mps"}, default "auto"
    threshold : see :class:`~core.detectors.base.BaseDetector`; the default is mean + 3 std of the
        training steps' errors.

    Attributes
    ----------
    model_ : torch.nn.Module
    device_ : str
        The device the model runs on.
    history_ : dict
        ``train_loss`` and ``val_loss`` (mean squared error) per epoch.
"""


class LSTMAutoencoderDetector(_WindowAutoencoderDetector):
    """LSTM autoencoder on sliding windows (S2's model); each time step is scored by its own error.

    Parameters
    ----------
    window : int, default 0
        Window length in time steps (the series must be at least this long); 0 = the series'
        dominant period, within 8-128 (50 when it has none).
    context : {"causal", "centred"}, default "causal"
        Score each step from the window ending at it, or from every window around it.
    stride : int, default 1
        Step between training windows (scoring always uses every window).
    hidden_size : int, default 64
    latent_size : int, default 32
    num_layers : int, default 2
    dropout : float, default 0.2
        Dropout between stacked LSTM layers.
    """

    def __init__(self, window: int = 0, context: str = "causal", stride: int = 1, hidden_size: int = 64,
                 latent_size: int = 32, num_layers: int = 2, dropout: float = 0.2, epochs: int = 50,
                 batch_size: int = 32, learning_rate: float = 1e-3, patience: int = 5,
                 validation_fraction: float = 0.1, time_budget: float = DEFAULT_TIME_BUDGET_S,
                 random_state: int = 0, device: str = "auto", threshold=None):
        self.window = window
        self.context = context
        self.stride = stride
        self.hidden_size = hidden_size
        self.latent_size = latent_size
        self.num_layers = num_layers
        self.dropout = dropout
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.time_budget = time_budget
        self.random_state = random_state
        self.device = device
        self.threshold = threshold

    def _build_model(self, n_features: int, generator: torch.Generator | None = None) -> nn.Module:
        if not 0.0 <= float(self.dropout) < 1.0:
            raise DataError(f"dropout must be in [0, 1), got {self.dropout}.")
        for name in ("hidden_size", "latent_size", "num_layers"):
            if int(getattr(self, name)) < 1:
                raise DataError(f"{name} must be at least 1, got {getattr(self, name)}.")
        return LSTMAutoencoder(n_features, int(self.hidden_size), int(self.latent_size),
                               int(self.num_layers), float(self.dropout), generator)


class ConvAutoencoderDetector(_WindowAutoencoderDetector):
    """1-D convolutional autoencoder on sliding windows; each time step is scored by its own error.

    Faster than the LSTM (no step-by-step recurrence) and as good on local shape anomalies.

    Parameters
    ----------
    window : int, default 0
        As for the LSTM autoencoder.
    context : {"causal", "centred"}, default "causal"
    stride : int, default 1
    channels : int, default 32
        Filters of the first convolution (the second has twice as many).
    kernel_size : int, default 7
    """

    def __init__(self, window: int = 0, context: str = "causal", stride: int = 1, channels: int = 32,
                 kernel_size: int = 7, epochs: int = 50, batch_size: int = 64, learning_rate: float = 1e-3,
                 patience: int = 5, validation_fraction: float = 0.1, time_budget: float = DEFAULT_TIME_BUDGET_S,
                 random_state: int = 0, device: str = "auto", threshold=None):
        self.window = window
        self.context = context
        self.stride = stride
        self.channels = channels
        self.kernel_size = kernel_size
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.time_budget = time_budget
        self.random_state = random_state
        self.device = device
        self.threshold = threshold

    def _build_model(self, n_features: int, generator: torch.Generator | None = None) -> nn.Module:
        if int(self.channels) < 1 or int(self.kernel_size) < 1:
            raise DataError("channels and kernel_size must be at least 1.")
        return ConvAutoencoder(n_features, self._window(), int(self.channels), int(self.kernel_size))


# The training parameters are the same for both models; document them once.
LSTMAutoencoderDetector.__doc__ += _TRAINING_DOC
ConvAutoencoderDetector.__doc__ += _TRAINING_DOC
