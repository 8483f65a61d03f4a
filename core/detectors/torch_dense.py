"""Dense (fully connected) autoencoder in PyTorch: S1's network, scored per row.

Rows arrive min-max scaled. The decoder ends in a sigmoid, so it reconstructs values in [0, 1];
test rows outside the training range cannot be reached and get a large error, which is what an
anomaly score should do there. Inputs are never clipped.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .base import RowReconstructionScores
from .deep_common import parse_hidden, split_rows
from .torch_training import TorchAutoencoderBase, row_batches


class DenseAutoencoder(nn.Module):
    """Encoder ``n -> hidden[0] -> ... -> hidden[-1]`` (ReLU), mirrored decoder, sigmoid output."""

    def __init__(self, n_features: int, hidden: tuple[int, ...]):
        super().__init__()
        sizes = (n_features, *hidden)
        encoder = []
        for size_in, size_out in zip(sizes[:-1], sizes[1:]):
            encoder += [nn.Linear(size_in, size_out), nn.ReLU()]
        decoder = []
        back = sizes[::-1]
        for size_in, size_out in zip(back[:-2], back[1:-1]):
            decoder += [nn.Linear(size_in, size_out), nn.ReLU()]
        decoder += [nn.Linear(back[-2], n_features), nn.Sigmoid()]
        self.encoder = nn.Sequential(*encoder)
        self.decoder = nn.Sequential(*decoder)

    def forward(self, x):
        return self.decoder(self.encoder(x))


class DenseAutoencoderDetector(RowReconstructionScores, TorchAutoencoderBase):
    """Dense autoencoder; score = mean absolute reconstruction error of the row (S1).

    Parameters
    ----------
    hidden : str, default "32,16,8"
        Encoder layer sizes; the decoder mirrors them (S1: 32-16-8 / 16-32-n).
    epochs : int, default 20
    batch_size : int, default 512
    learning_rate : float, default 1e-3
        Adam's learning rate.
    patience : int, default 0
        Early stopping on the validation loss (0 = train all epochs and keep the last weights).
    validation_fraction : float, default 0.1
        Share of the training rows (drawn at random with ``random_state``) held out for the
        validation curve and early stopping.
    random_state : int, default 0
    device : {"auto", "cpu", "cuda", "mps"}, default "auto"
    threshold : see :class:`~core.detectors.base.BaseDetector`; the default is mean + 2.5 std of
        the training errors (S1's rule is mean + 1 std, ``threshold="mean_std:k=1"``).

    Attributes
    ----------
    model_ : torch.nn.Module
    device_ : str
        The device the model runs on.
    history_ : dict
        ``train_loss`` and ``val_loss`` per epoch (mean absolute error).
    """

    input_kind = "rows"
    #: S1's mean + 1 std flagged 16-23% of the normal rows of a series (tests/bench/default_flags.py)
    default_threshold = "mean_std:k=2.5"

    def __init__(self, hidden: str = "32,16,8", epochs: int = 20, batch_size: int = 512,
                 learning_rate: float = 1e-3, patience: int = 0, validation_fraction: float = 0.1,
                 random_state: int = 0, device: str = "auto", threshold=None):
        self.hidden = hidden
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.device = device
        self.threshold = threshold

    def _build_model(self, n_features: int, generator: torch.Generator | None = None) -> nn.Module:
        return DenseAutoencoder(n_features, parse_hidden(self.hidden))

    def _fit(self, X, y, *, progress, should_stop):
        fraction = self._check_validation_fraction()
        self.model_ = self._new_model(X.shape[1])
        rows = torch.as_tensor(X, dtype=torch.float32, device=self.device_)
        train_index, val_index = split_rows(X.shape[0], fraction, int(self.random_state))
        self._train(lambda index: rows[index], train_index, val_index, F.l1_loss, progress, should_stop)

    def _reconstruct(self, X):
        output = np.empty(X.shape, dtype=np.float64)
        for start, stop, rebuilt in row_batches(self.model_, X, self.device_):
            output[start:stop] = rebuilt
        return output

    def _score(self, X):
        # batch by batch: the same mean absolute error as the row-reconstruction default, without
        # materialising the whole reconstruction (10M rows scored as fast per row as 1M)
        scores = np.empty(X.shape[0], dtype=np.float64)
        for start, stop, rebuilt in row_batches(self.model_, X, self.device_):
            scores[start:stop] = np.abs(X[start:stop] - rebuilt).mean(axis=1)
        return scores

