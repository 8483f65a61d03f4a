"""The training loop shared by the PyTorch detectors (imported only when a torch method is used).

One short loop for every model: the data stays in one tensor on the device and each batch is an
index into it (no ``DataLoader``, no per-sample Python calls, no collation), the optimiser is Adam
(the fused kernel where the device has one), mixed precision is used only on CUDA, and each epoch
ends with a validation pass, a progress report, early stopping and a cancellation check.

Models are trained as autoencoders: the target of every batch is the batch itself.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from ..device import load_torch, resolve_device
from ..errors import DataError, TrainingCancelled
from .base import BaseDetector
from .deep_common import check_time_budget, check_training_params

load_torch()  # torch's thread count is chosen once, before any model is built (see core.device)

#: Rows (or windows) per forward pass when scoring or validating. Larger is not faster on CPU: S2's
#: LSTM scored 26,000 windows/s in batches of 256 but 13,000 in batches of 1,024 (cache misses).
EVAL_BATCH_SIZE = 256
#: How many batches run between two ``should_stop`` checks inside an epoch.
STOP_CHECK_EVERY = 16
#: With a time budget, the fewest epochs training aims for: when the full training set would not
#: fit this many epochs into the budget, each epoch draws a random subsample of it instead.
BUDGET_EPOCHS = 10
#: Batches timed at the start of training to learn how fast this model runs on this machine.
BUDGET_PROBE_BATCHES = 4


@dataclass
class TrainSettings:
    """What the loop needs to know besides the model and the data."""

    epochs: int
    batch_size: int
    learning_rate: float
    patience: int
    seed: int
    device: str
    reduce_lr_on_plateau: bool = False
    #: seconds training may take (0 = no limit); see :func:`train_autoencoder`
    time_budget: float = 0.0

    def check(self) -> None:
        check_training_params(self.epochs, self.batch_size, self.learning_rate, self.patience, 0.0)
        check_time_budget(self.time_budget)


def seeded_init(model: nn.Module, generator: torch.Generator) -> nn.Module:
    """Draw every weight of ``model`` again from ``generator``, with PyTorch's default schemes.

    Layers initialise themselves from torch's process-wide generator; reseeding that from a
    training thread would change the random numbers of every other thread (another session's
    training, the app itself). Drawing from the model's own generator keeps fits repeatable per
    seed and independent of whatever else runs. Linear and convolution layers: Kaiming-uniform
    weights (a = sqrt(5)) and uniform biases in +-1/sqrt(fan_in); LSTMs: every parameter uniform in
    +-1/sqrt(hidden_size) -- the same distributions as their ``reset_parameters``.
    """
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Linear, nn.Conv1d, nn.ConvTranspose1d)):
                nn.init.kaiming_uniform_(module.weight, a=math.sqrt(5), generator=generator)
                if module.bias is not None:
                    fan_in, _ = nn.init._calculate_fan_in_and_fan_out(module.weight)
                    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
                    nn.init.uniform_(module.bias, -bound, bound, generator=generator)
            elif isinstance(module, nn.LSTM):
                bound = 1.0 / math.sqrt(module.hidden_size)
                for parameter in module.parameters(recurse=False):
                    nn.init.uniform_(parameter, -bound, bound, generator=generator)
            elif next(module.parameters(recurse=False), None) is not None:
                raise TypeError(f"seeded_init does not know how to initialise {type(module).__name__}")
    return model


def model_state(model: nn.Module, prefix: str = "weights.") -> dict[str, np.ndarray]:
    """The model's ``state_dict`` as numpy arrays under ``prefix + name`` (bundles hold no pickles)."""
    return {prefix + name: tensor.detach().cpu().numpy().copy() for name, tensor in model.state_dict().items()}


def load_model_state(model: nn.Module, state: dict[str, Any], prefix: str = "weights.") -> nn.Module:
    """Load arrays saved by :func:`model_state` into ``model`` (built with the same shapes)."""
    expected = model.state_dict()
    tensors = {}
    for name, current in expected.items():
        if prefix + name not in state:
            raise DataError(f"The saved model lacks the weights '{name}'; it was made by another model version.")
        array = np.asarray(state[prefix + name])
        if tuple(array.shape) != tuple(current.shape):
            raise DataError(f"The saved weights '{name}' have shape {array.shape}, the model expects "
                            f"{tuple(current.shape)}; the parameters do not match the saved model.")
        tensors[name] = torch.from_numpy(array).to(dtype=current.dtype)
    model.load_state_dict(tensors)
    return model


def _make_optimizer(model: nn.Module, learning_rate: float, device: str) -> torch.optim.Optimizer:
    # The fused kernel updates every parameter in one call instead of a few small ops each.
    fused = device in ("cpu", "cuda")
    return torch.optim.Adam(model.parameters(), lr=learning_rate, fused=fused)


def _autocast(device: str):
    """Mixed precision on CUDA only: bf16 where the GPU has it, else fp16; a no-op elsewhere."""
    if device != "cuda":
        return contextlib.nullcontext()
    return torch.autocast("cuda", dtype=torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)


def _grad_scaler(device: str):
    """fp16 gradients need loss scaling against underflow; bf16 and float32 do not."""
    if device == "cuda" and not torch.cuda.is_bf16_supported():
        return torch.amp.GradScaler("cuda")
    return None


def train_autoencoder(
    model: nn.Module,
    take: Callable[[torch.Tensor], torch.Tensor],
    train_index: torch.Tensor,
    val_index: torch.Tensor | None,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    settings: TrainSettings,
    *,
    progress=None,
    should_stop=None,
    budget_report: dict | None = None,
) -> dict[str, list[float]]:
    """Train ``model`` to reproduce its input; return ``{"train_loss": [...], "val_loss": [...]}``.

    Parameters
    ----------
    model : nn.Module
        Already on ``settings.device``.
    take : callable
        ``take(indices)`` returns the batch of samples at ``indices`` (a tensor on the device).
    train_index, val_index : LongTensor
        Sample indices for training and validation (``val_index`` may be ``None`` or empty).
    loss_fn : callable
        ``loss_fn(reconstruction, batch)``, a mean over the batch.
    settings : TrainSettings
    progress : callable, optional
        ``progress(epoch, n_epochs, train_loss, val_loss)`` after every epoch (epochs count from 1).
    should_stop : callable, optional
        Checked before every epoch and every few batches; ``True`` raises :class:`TrainingCancelled`.

    Notes
    -----
    Early stopping watches the validation loss (the training loss when there is no validation
    part). With ``patience > 0`` training stops after that many epochs without improvement and the
    best weights are restored; with ``patience == 0`` all epochs run and the last weights are kept
    (S1's and S2's behaviour).

    With ``settings.time_budget > 0`` training also keeps to that many seconds. The first few
    batches are timed; when the full training set would not allow :data:`BUDGET_EPOCHS` epochs
    (or ``epochs``, if fewer) in the budget, each epoch trains on a fresh random subsample of the
    training samples sized to fit, and validation uses a fixed, evenly spread subsample of the
    validation samples. Training ends at the last epoch that fits in the budget (an epoch that
    runs over is cut short), whatever ``epochs`` says. A budget that binds makes the fit depend on
    the machine's speed; 0 gives a fit that repeats exactly. ``budget_report``, when given, is
    filled with ``samples_per_epoch``, ``training_samples``, ``epochs`` and ``ended_by_budget``.
    """
    settings.check()
    device = settings.device
    has_val = val_index is not None and val_index.numel() > 0
    optimizer = _make_optimizer(model, settings.learning_rate, device)
    scheduler = None
    if settings.reduce_lr_on_plateau:
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, factor=0.5, patience=max(1, settings.patience // 2) if settings.patience else 3)
    scaler = _grad_scaler(device)
    # Shuffling uses its own generator, so the order does not depend on what else used torch's RNG.
    generator = torch.Generator(device="cpu").manual_seed(int(settings.seed))
    history: dict[str, list[float]] = {"train_loss": [], "val_loss": []}
    best_loss, best_weights, stale_epochs = math.inf, None, 0
    n_train = int(train_index.numel())
    budget = float(settings.time_budget)
    started = time.perf_counter()
    per_epoch = n_train  # samples trained on per epoch; fewer when the budget asks for it

    def check_stop():
        if should_stop is not None and should_stop():
            raise TrainingCancelled("Training was cancelled.")

    def step(batch):
        with _autocast(device):
            loss = loss_fn(model(batch), batch)
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        return loss.detach().float() * batch.shape[0]  # no host sync inside the epoch

    over_budget = False
    for epoch in range(1, settings.epochs + 1):
        check_stop()
        model.train()
        order = train_index[torch.randperm(n_train, generator=generator).to(train_index.device)]
        if epoch == 1 and budget > 0:
            per_epoch, val_index = _fit_to_budget(step, order, val_index, settings, budget, started, model,
                                                  take, loss_fn, has_val)
            model.train()
        order = order[:per_epoch]
        loss_sum = torch.zeros((), device=device)
        trained = 0
        for number, start in enumerate(range(0, per_epoch, settings.batch_size)):
            if number and number % STOP_CHECK_EVERY == 0:
                check_stop()
                if budget > 0 and time.perf_counter() - started > budget:
                    over_budget = True  # an epoch longer than the budget: cut it short
                    break
            batch = take(order[start:start + settings.batch_size])
            loss_sum += step(batch)
            trained += batch.shape[0]
        train_loss = float(loss_sum) / max(trained, 1)
        if not math.isfinite(train_loss):
            raise DataError("Training diverged (the loss became NaN or infinite); lower the learning rate.")
        val_loss = evaluate_loss(model, take, val_index, loss_fn, device) if has_val else None
        history["train_loss"].append(train_loss)
        if val_loss is not None:
            history["val_loss"].append(val_loss)
        if progress is not None:
            progress(epoch, settings.epochs, train_loss, val_loss)

        watched = val_loss if val_loss is not None else train_loss
        if scheduler is not None:
            scheduler.step(watched)
        if watched < best_loss - 1e-12:
            best_loss, stale_epochs = watched, 0
            if settings.patience > 0:
                best_weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            stale_epochs += 1
            if settings.patience > 0 and stale_epochs >= settings.patience:
                break
        if budget > 0 and epoch < settings.epochs:
            elapsed = time.perf_counter() - started
            if over_budget or elapsed + elapsed / epoch > budget:  # the next epoch would not fit
                over_budget = True
                break
    if best_weights is not None:
        model.load_state_dict(best_weights)
    model.eval()
    if budget_report is not None:
        budget_report.update(samples_per_epoch=per_epoch, training_samples=n_train,
                             epochs=len(history["train_loss"]), ended_by_budget=over_budget,
                             seconds=time.perf_counter() - started)
    return history


def _fit_to_budget(step, order, val_index, settings: TrainSettings, budget: float, started: float, model,
                   take, loss_fn, has_val) -> tuple[int, torch.Tensor | None]:
    """Samples per epoch (and the validation samples) that let enough epochs fit in ``budget``.

    Times :data:`BUDGET_PROBE_BATCHES` training batches after one untimed warm-up batch (real
    steps, on samples from the end of the first epoch's order) and one validation batch.
    """
    n_train = int(order.numel())
    probe = order[-min(n_train, (1 + BUDGET_PROBE_BATCHES) * settings.batch_size):]
    float(step(take(probe[:settings.batch_size])))  # the first step builds the kernels: not timed
    timed = probe[settings.batch_size:] if probe.numel() > settings.batch_size else probe
    tick = time.perf_counter()
    for start in range(0, int(timed.numel()), settings.batch_size):
        float(step(take(timed[start:start + settings.batch_size])))  # float() waits for the device
    train_seconds = (time.perf_counter() - tick) / max(int(timed.numel()), 1)
    val_seconds = 0.0
    if has_val:
        tick = time.perf_counter()
        sample = val_index[:EVAL_BATCH_SIZE]
        evaluate_loss(model, take, sample, loss_fn, settings.device)
        val_seconds = (time.perf_counter() - tick) / max(int(sample.numel()), 1)
    epochs = min(settings.epochs, BUDGET_EPOCHS)
    remaining = max(budget - (time.perf_counter() - started), 0.0)
    full_epoch = n_train * train_seconds + (int(val_index.numel()) * val_seconds if has_val else 0.0)
    if epochs * full_epoch <= remaining:
        return n_train, val_index
    # validation costs a quarter of the training samples at most, forward passes only
    per_epoch = int(remaining / epochs / (train_seconds + 0.25 * val_seconds))
    per_epoch = min(n_train, max(per_epoch, settings.batch_size))
    if has_val:
        n_val = min(int(val_index.numel()), max(1, per_epoch // 4))
        spread = torch.linspace(0, int(val_index.numel()) - 1, n_val).round().long().to(val_index.device)
        val_index = val_index[spread]
    return per_epoch, val_index


def evaluate_loss(model, take, index, loss_fn, device: str) -> float:
    """Mean of ``loss_fn`` over the samples at ``index``, without gradients."""
    model.eval()
    total, count = 0.0, 0
    with torch.inference_mode(), _autocast(device):
        for start in range(0, int(index.numel()), EVAL_BATCH_SIZE):
            batch = take(index[start:start + EVAL_BATCH_SIZE])
            total += float(loss_fn(model(batch), batch)) * batch.shape[0]
            count += batch.shape[0]
    return total / max(count, 1)


def reconstruct_batches(model, take, n_samples: int, device: str,
                        batch_size: int = EVAL_BATCH_SIZE) -> np.ndarray:
    """The model's output for samples ``0 .. n_samples - 1``, as one float32 numpy array.

    Scoring runs in float32 even on CUDA, so scores do not depend on the autocast precision.
    Each batch is written into one array allocated after the first batch, so memory stays one
    output's worth however many batches there are (a list of batches joined at the end doubles it).
    """
    model.eval()
    output = None
    with torch.inference_mode():
        for start in range(0, n_samples, batch_size):
            stop = min(start + batch_size, n_samples)
            batch = model(take(torch.arange(start, stop, device=device))).float().cpu().numpy()
            if output is None:
                output = np.empty((n_samples, *batch.shape[1:]), dtype=np.float32)
            output[start:stop] = batch
    return output if output is not None else np.empty((0,), dtype=np.float32)


def row_batches(model, X: np.ndarray, device: str, batch_size: int = EVAL_BATCH_SIZE):
    """Yield ``(start, stop, output)`` for consecutive row batches of ``X``, each converted to a
    float32 tensor on its own, so that scoring never holds a second full copy of ``X``."""
    model.eval()
    with torch.inference_mode():
        for start in range(0, X.shape[0], batch_size):
            stop = min(start + batch_size, X.shape[0])
            rows = torch.as_tensor(X[start:stop], dtype=torch.float32, device=device)
            yield start, stop, model(rows).float().cpu().numpy()


class TorchAutoencoderBase(BaseDetector):
    """What the PyTorch detectors share: device choice, seeding, the training call and weight state.

    Subclasses implement ``_build_model(n_features)`` and set ``self.model_`` in ``_fit`` through
    :meth:`_train`. After fitting, ``device_`` names the device in use ("cpu", "cuda" or "mps").
    """

    family = "deep"
    is_reconstruction = True
    #: the LSTM and convolutional models learn a shrinking learning rate when the loss stalls
    reduce_lr_on_plateau = False

    def _build_model(self, n_features: int, generator: torch.Generator | None = None) -> nn.Module:
        """The network; ``generator`` draws its random numbers in training (dropout masks).

        Not implemented here (abstract)."""
        raise NotImplementedError  # pragma: no cover

    def _check_validation_fraction(self) -> float:
        check_training_params(self.epochs, self.batch_size, self.learning_rate, self.patience,
                              self.validation_fraction)
        return float(self.validation_fraction)

    def _settings(self) -> TrainSettings:
        return TrainSettings(epochs=int(self.epochs), batch_size=int(self.batch_size),
                             learning_rate=float(self.learning_rate), patience=int(self.patience),
                             seed=int(self.random_state), device=self.device_,
                             reduce_lr_on_plateau=self.reduce_lr_on_plateau,
                             time_budget=float(getattr(self, "time_budget", 0.0)))

    def _new_model(self, n_features: int) -> nn.Module:
        """A freshly initialised model on ``device_``: its weights and dropout masks come from its own
        generators seeded with ``random_state``, so the same seed gives the same fit in any thread."""
        self.device_ = resolve_device(self.device)
        init = torch.Generator(device="cpu").manual_seed(int(self.random_state))
        training = torch.Generator(device=self.device_).manual_seed(int(self.random_state))
        with torch.device("meta"):  # built without storage, so layers draw nothing from torch's generator
            model = self._build_model(n_features, training)
        return seeded_init(model.to_empty(device="cpu"), init).to(self.device_)

    def _train(self, take, train_index: np.ndarray, val_index: np.ndarray, loss_fn, progress, should_stop):
        device = self.device_
        as_index = lambda rows: torch.as_tensor(np.asarray(rows, dtype=np.int64), device=device)  # noqa: E731
        #: how the time budget shaped training (see train_autoencoder); not saved in bundles
        self.budget_report_: dict = {}
        self.history_ = train_autoencoder(
            self.model_, take, as_index(train_index), as_index(val_index), loss_fn, self._settings(),
            progress=progress, should_stop=should_stop, budget_report=self.budget_report_)

    def _get_model_state(self) -> dict[str, Any]:
        return model_state(self.model_)

    def _set_model_state(self, state: dict[str, Any]) -> None:
        try:
            self.device_ = resolve_device(self.device)
        except DataError:  # a model trained on a GPU still loads on a machine without one
            self.device_ = resolve_device("auto")
        model = self._build_model(int(self.n_features_in_))
        self.model_ = load_model_state(model, state).to(self.device_).eval()
