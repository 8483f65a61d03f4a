"""LSTM autoencoder: training and scoring speed against S2's loop, and per-point accuracy.

Run on demand (not part of the test suite)::

    python -m tests.bench.lstm_speed [--epochs 3] [--repeats 2] [--skip-accuracy]

Data: :func:`core.datasets.make_sine_with_spikes` (2,000 steps, S2's sample), the first 1,400 steps
for training (1,351 windows of 50, as in S2's measurement), the rest for testing.

Speed: S2's training loop, written here from its description (a ``Dataset`` returning one window
per ``__getitem__``, ``DataLoader`` with batch 32 and shuffling, the same LSTM autoencoder, Adam,
MSE, ReduceLROnPlateau, ``loss.item()`` per batch), against :class:`LSTMAutoencoderDetector` with the
same hyper-parameters (window 50, hidden 64, latent 32, 2 layers, dropout 0.2, batch 32, lr 1e-3)
and no validation split, so both do the same work per epoch. The runs alternate in one process
and the fastest and the median epoch are reported (the first epoch, which builds oneDNN's kernels,
is left out; on a shared machine the fastest epoch is the least disturbed measure).
Ablations show where the gain comes from.

Accuracy: per-point ROC-AUC on the test part of ``lstm_ae`` and ``conv_ae`` (default parameters,
trained on the first part), with the rolling-median baseline for reference.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from sklearn.metrics import f1_score, roc_auc_score
from torch import nn
from torch.utils.data import DataLoader, Dataset

from core.datasets import make_sine_with_spikes
from core.registry import create_detector

N_STEPS, N_TRAIN, WINDOW = 2000, 1400, 50
S2 = {"hidden_size": 64, "latent_size": 32, "num_layers": 2, "dropout": 0.2, "batch_size": 32,
      "learning_rate": 1e-3}


# -- S2's pipeline, from its description ------------------------------------------------------------
class S2WindowDataset(Dataset):
    def __init__(self, series: np.ndarray, seq_len: int):
        self.series, self.seq_len = series, seq_len

    def __len__(self):
        return len(self.series) - self.seq_len + 1

    def __getitem__(self, index):
        return torch.FloatTensor(self.series[index:index + self.seq_len])


class S2Encoder(nn.Module):
    def __init__(self, input_dim, hidden, latent, layers, dropout):
        super().__init__()
        self.lstm = nn.LSTM(input_dim, hidden, layers, batch_first=True, dropout=dropout)
        self.fc = nn.Linear(hidden, latent)

    def forward(self, x):
        output, _ = self.lstm(x)
        return self.fc(output[:, -1, :])


class S2Decoder(nn.Module):
    def __init__(self, latent, hidden, output_dim, layers, dropout):
        super().__init__()
        self.lstm = nn.LSTM(latent, hidden, layers, batch_first=True, dropout=dropout)
        self.fc = nn.Linear(hidden, output_dim)

    def forward(self, z, seq_len):
        output, _ = self.lstm(z.unsqueeze(1).repeat(1, seq_len, 1))
        return self.fc(output)


class S2Autoencoder(nn.Module):
    def __init__(self, input_dim=1, hidden=64, latent=32, layers=2, dropout=0.2):
        super().__init__()
        self.encoder = S2Encoder(input_dim, hidden, latent, layers, dropout)
        self.decoder = S2Decoder(latent, hidden, input_dim, layers, dropout)

    def forward(self, x):
        return self.decoder(self.encoder(x), x.shape[1])


def s2_train(series: np.ndarray, epochs: int, seed: int = 0) -> tuple[S2Autoencoder, list[float], int]:
    """S2's fit: returns the model, the seconds of each epoch and the number of training windows."""
    torch.manual_seed(seed)
    dataset = S2WindowDataset(series, WINDOW)
    loader = DataLoader(dataset, batch_size=S2["batch_size"], shuffle=True)
    model = S2Autoencoder()
    optimizer = torch.optim.Adam(model.parameters(), lr=S2["learning_rate"])
    criterion = nn.MSELoss()
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, patience=5, factor=0.5)
    epoch_seconds = []
    for _ in range(epochs):
        start = time.perf_counter()
        model.train()
        total = 0.0
        for batch in loader:
            optimizer.zero_grad()
            loss = criterion(model(batch), batch)
            loss.backward()
            optimizer.step()
            total += loss.item()
        scheduler.step(total / len(loader))
        epoch_seconds.append(time.perf_counter() - start)
    return model, epoch_seconds, len(dataset)


def s2_score_seconds(model: S2Autoencoder, series: np.ndarray) -> tuple[float, int]:
    """S2's predict: per-window errors with a batch-32 DataLoader under ``no_grad``."""
    dataset = S2WindowDataset(series, WINDOW)
    start = time.perf_counter()
    model.eval()
    errors = []
    with torch.no_grad():
        for batch in DataLoader(dataset, batch_size=32, shuffle=False):
            errors.append(((batch - model(batch)) ** 2).mean(dim=(1, 2)))
    torch.cat(errors)
    return time.perf_counter() - start, len(dataset)


# -- this product's detector, and ablations between the two -----------------------------------------
def indexed_train(series: np.ndarray, epochs: int, seed: int = 0, fused: bool = False):
    """Ablation: S2's model and optimiser, but batches indexed from one tensor (no DataLoader)."""
    torch.manual_seed(seed)
    windows = torch.as_tensor(series, dtype=torch.float32).unfold(0, WINDOW, 1).transpose(1, 2)  # a view
    model = S2Autoencoder()
    optimizer = torch.optim.Adam(model.parameters(), lr=S2["learning_rate"], fused=fused)
    epoch_seconds = []
    for _ in range(epochs):
        start = time.perf_counter()
        model.train()
        for index in torch.randperm(windows.shape[0]).split(S2["batch_size"]):
            batch = windows[index]
            loss = nn.functional.mse_loss(model(batch), batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        epoch_seconds.append(time.perf_counter() - start)
    return model, epoch_seconds, windows.shape[0]


def ours_train(series: np.ndarray, epochs: int, seed: int = 0, batch_size: int = 32):
    """This product's detector with S2's hyper-parameters and no validation split (the same work)."""
    epoch_ends = []
    params = {**S2, "batch_size": batch_size}
    detector = create_detector("lstm_ae", window=WINDOW, epochs=epochs, patience=0, validation_fraction=0.0,
                               random_state=seed, device="cpu", **params)
    start = time.perf_counter()
    detector.fit(series, progress=lambda *args: epoch_ends.append(time.perf_counter()))
    return detector, np.diff([start] + epoch_ends).tolist(), series.shape[0] - WINDOW + 1


def ours_score_seconds(detector, series: np.ndarray) -> tuple[float, int]:
    start = time.perf_counter()
    detector.score_samples(series)
    return time.perf_counter() - start, series.shape[0] - WINDOW + 1


def training_flops_per_window() -> float:
    """Floating-point operations of one training window: 2 per multiply-add, forward + backward ~ 3x forward."""
    hidden, latent, layers = S2["hidden_size"], S2["latent_size"], S2["num_layers"]
    per_step = 0
    for inputs in ([1] + [hidden] * (layers - 1)) + ([latent] + [hidden] * (layers - 1)):
        per_step += 4 * hidden * (inputs + hidden)  # the four gates of one LSTM layer
    per_step += hidden  # the output layer
    return 3 * 2 * per_step * WINDOW


BASELINE, OURS = "S2 loop (Dataset + DataLoader)", "lstm_ae (this product)"


def speed(epochs: int, repeats: int) -> None:
    X, _ = make_sine_with_spikes(N_STEPS, seed=0)
    train = X[:N_TRAIN]
    variants = {
        BASELINE: (s2_train, s2_score_seconds),
        "  S2 model, batches indexed from a tensor": (indexed_train, s2_score_seconds),
        "  + fused Adam": (lambda *a: indexed_train(*a, fused=True), s2_score_seconds),
        OURS: (ours_train, ours_score_seconds),
        "(lstm_ae, batch 128: reference only)": (lambda *a: ours_train(*a, batch_size=128), ours_score_seconds),
    }
    epoch_times = {name: [] for name in variants}
    score_rates = {name: [] for name in variants}
    n_windows = {}
    for _ in range(repeats):  # alternate, so that load from other processes hits every variant alike
        for name, (train_fn, score_fn) in variants.items():
            model, seconds, count = train_fn(train, epochs)
            score_s, score_n = score_fn(model, X)
            epoch_times[name] += seconds[1:] if len(seconds) > 1 else seconds
            score_rates[name].append(score_n / score_s)
            n_windows[name] = count
    print(f"\nTraining speed: window 50, hidden 64, latent 32, 2 layers, dropout 0.2, batch 32 unless said; "
          f"{epochs} epochs x {repeats} runs, torch {torch.__version__}, {torch.get_num_threads()} threads. "
          "Epochs after the first; 'best' = fastest epoch (least disturbed by other processes), "
          "'median' = typical epoch\n")
    print(f"{'variant':<44} {'windows':>8} {'train win/s best':>17} {'median':>8} {'score win/s':>12}")
    best, typical, scoring = {}, {}, {}
    for name in variants:
        best[name] = n_windows[name] / min(epoch_times[name])
        typical[name] = n_windows[name] / statistics.median(epoch_times[name])
        scoring[name] = max(score_rates[name])
        print(f"{name:<44} {n_windows[name]:>8} {best[name]:>17,.0f} {typical[name]:>8,.0f} {scoring[name]:>12,.0f}")
    flops = training_flops_per_window()
    print(f"\nArithmetic: about {flops / 1e6:.0f} MFLOP per training window (forward + backward ~ 3x the "
          f"forward's multiply-adds); lstm_ae's best epoch runs at ~{best[OURS] * flops / 1e9:.0f} GFLOP/s, "
          "S2's at ~{:.0f} GFLOP/s.".format(best[BASELINE] * flops / 1e9))
    print(f"lstm_ae / S2 at batch 32: training {best[OURS] / best[BASELINE]:.2f}x (best epochs), "
          f"{typical[OURS] / typical[BASELINE]:.2f}x (median epochs); scoring {scoring[OURS] / scoring[BASELINE]:.2f}x")


def accuracy() -> None:
    X, y = make_sine_with_spikes(N_STEPS, seed=0)
    train, test, y_test = X[:N_TRAIN], X[N_TRAIN:], y[N_TRAIN:]
    print(f"\nPer-point accuracy on the test part ({test.shape[0]} steps, {int(y_test.sum())} spikes), "
          "default parameters, trained on the first part\n")
    print(f"{'method':<16} {'ROC-AUC':>8} {'F1':>6} {'flagged':>8} {'epochs':>7} {'fit s':>7}  threshold")
    for name in ("lstm_ae", "conv_ae", "rolling_median"):
        params = {"device": "cpu"} if name != "rolling_median" else {}
        detector = create_detector(name, **params)
        start = time.perf_counter()
        detector.fit(train)
        fit_s = time.perf_counter() - start
        scores = detector.score_samples(test)
        flags = detector.predict(test)
        epochs = len(getattr(detector, "history_", {}).get("train_loss", [])) or "-"
        print(f"{name:<16} {roc_auc_score(y_test, scores):>8.4f} {f1_score(y_test, flags):>6.3f} "
              f"{int(flags.sum()):>8} {epochs!s:>7} {fit_s:>7.1f}  {detector.threshold_strategy_.describe()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--skip-accuracy", action="store_true")
    args = parser.parse_args()
    speed(args.epochs, args.repeats)
    if not args.skip_accuracy:
        accuracy()


if __name__ == "__main__":
    main()
