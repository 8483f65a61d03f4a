"""S1's dense autoencoder in TensorFlow/Keras, for users who want S1's own framework.

TensorFlow is imported inside the functions below only, so that ``import core.registry`` (and the
dashboard's start) does not pay its import time of several seconds. The fitted network is kept in a
bundle as its list of weight arrays (``get_weights`` / ``set_weights``), never as a saved Keras
model, so loading a bundle runs no code from the file.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..errors import DataError, TrainingCancelled
from .base import BaseDetector, RowReconstructionScores
from .deep_common import check_training_params, parse_hidden, split_rows

#: Rows per forward pass when scoring.
SCORE_BATCH_ROWS = 4096
#: How many batches run between two ``should_stop`` checks inside an epoch.
STOP_CHECK_EVERY = 16


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up notices out of logs
    import keras

    return keras


def _callback(keras, n_epochs: int, progress, should_stop):
    """A Keras callback that reports each epoch and raises TrainingCancelled when asked to stop."""

    class Report(keras.callbacks.Callback):
        def _check(self):
            if should_stop is not None and should_stop():
                raise TrainingCancelled("Training was cancelled.")

        def on_epoch_begin(self, epoch, logs=None):
            self._check()

        def on_train_batch_end(self, batch, logs=None):
            if batch and batch % STOP_CHECK_EVERY == 0:
                self._check()

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            if progress is not None:
                val = logs.get("val_loss")
                progress(epoch + 1, n_epochs, float(logs["loss"]), None if val is None else float(val))

    return Report()


class KerasDenseAutoencoderDetector(RowReconstructionScores, BaseDetector):
    """Dense autoencoder in Keras; score = mean absolute reconstruction error of the row (S1).

    Parameters
    ----------
    hidden : str, default "32,16,8"
        Encoder layer sizes (ReLU); the decoder mirrors them and ends in a sigmoid layer of the
        input's width (S1: 32-16-8 / 16-32-140).
    epochs : int, default 20
    batch_size : int, default 512
    learning_rate : float, default 1e-3
        Adam's learning rate.
    patience : int, default 0
        Early stopping on the validation loss with the best weights restored (0 = all epochs).
    validation_fraction : float, default 0.1
        Share of the training rows (drawn at random with ``random_state``) held out for validation.
    random_state : int, default 0
        Seeds the layers' initializers and the shuffling of the training rows. Nothing process-wide
        is reseeded (``keras.utils.set_random_seed`` would change every other thread's random
        numbers), so fits are repeatable per seed in any thread.
    threshold : see :class:`~core.detectors.base.BaseDetector`; the default is mean + 2.5 std of
        the training errors (S1's rule is mean + 1 std, ``threshold="mean_std:k=1"``).

    Attributes
    ----------
    model_ : keras.Model
    device_ : str
        "gpu" when TensorFlow sees a GPU, else "cpu".
    history_ : dict
        ``train_loss`` and ``val_loss`` (mean absolute error) per epoch.
    """

    family = "deep"
    input_kind = "rows"
    is_reconstruction = True
    #: the PyTorch twin's default (see :class:`~core.detectors.torch_dense.DenseAutoencoderDetector`)
    default_threshold = "mean_std:k=2.5"

    def __init__(self, hidden: str = "32,16,8", epochs: int = 20, batch_size: int = 512,
                 learning_rate: float = 1e-3, patience: int = 0, validation_fraction: float = 0.1,
                 random_state: int = 0, threshold=None):
        self.hidden = hidden
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.threshold = threshold

    def _build_model(self, n_features: int):
        keras = _keras()
        hidden = parse_hidden(self.hidden)
        seed = int(self.random_state)

        def dense(units, activation, number):  # Keras's default Glorot-uniform, seeded per layer
            initializer = keras.initializers.GlorotUniform(seed=(seed + number) % 2**31)
            return keras.layers.Dense(units, activation=activation, kernel_initializer=initializer)

        inputs = keras.Input(shape=(n_features,))
        layer = inputs
        sizes = [*hidden, *hidden[-2::-1]]
        for number, units in enumerate(sizes):
            layer = dense(units, "relu", number)(layer)
        outputs = dense(n_features, "sigmoid", len(sizes))(layer)
        model = keras.Model(inputs, outputs, name="dense_autoencoder")
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=float(self.learning_rate)), loss="mae")
        import tensorflow as tf

        self.device_ = "gpu" if tf.config.list_physical_devices("GPU") else "cpu"
        return model

    def _fit(self, X, y, *, progress, should_stop):
        check_training_params(self.epochs, self.batch_size, self.learning_rate, self.patience,
                              self.validation_fraction)
        keras = _keras()
        self.model_ = self._build_model(X.shape[1])
        data = X.astype(np.float32)
        train_rows, val_rows = split_rows(X.shape[0], float(self.validation_fraction), int(self.random_state))
        validation = (data[val_rows], data[val_rows]) if val_rows.size else None
        import tensorflow as tf

        # Shuffled by tf.data with an operation seed: a new order every epoch, the same orders for
        # the same seed, and no global seed involved (Keras's own shuffle=True would need one).
        train = tf.data.Dataset.from_tensor_slices((data[train_rows], data[train_rows]))
        train = train.shuffle(len(train_rows), seed=int(self.random_state), reshuffle_each_iteration=True)
        train = train.batch(int(self.batch_size))
        callbacks = [_callback(keras, int(self.epochs), progress, should_stop)]
        if int(self.patience) > 0:
            callbacks.append(keras.callbacks.EarlyStopping(
                monitor="val_loss" if validation else "loss", patience=int(self.patience),
                restore_best_weights=True))
        fitted = self.model_.fit(train, epochs=int(self.epochs), validation_data=validation, shuffle=False,
                                 callbacks=callbacks, verbose=0)
        self.history_ = {"train_loss": [float(v) for v in fitted.history.get("loss", [])],
                         "val_loss": [float(v) for v in fitted.history.get("val_loss", [])]}

    def _reconstruct(self, X):
        data = X.astype(np.float32)
        parts = [np.asarray(self.model_(data[start:start + SCORE_BATCH_ROWS], training=False))
                 for start in range(0, data.shape[0], SCORE_BATCH_ROWS)]
        return np.concatenate(parts, axis=0).astype(np.float64)


    def _get_model_state(self) -> dict[str, Any]:
        return {f"weights.{i}": np.asarray(w) for i, w in enumerate(self.model_.get_weights())}

    def _set_model_state(self, state: dict[str, Any]) -> None:
        self.model_ = self._build_model(int(self.n_features_in_))
        count = len(self.model_.get_weights())
        missing = [i for i in range(count) if f"weights.{i}" not in state]
        if missing:
            raise DataError("The saved Keras weights do not match the network built from the parameters.")
        try:
            self.model_.set_weights([np.asarray(state[f"weights.{i}"]) for i in range(count)])
        except ValueError as exc:
            raise DataError(f"The saved Keras weights do not fit the network: {exc}") from exc
