"""Rebuild the small sample datasets in data/ (deterministic: same bytes on every run).

- sensor.csv: one reading a minute of temperature and pressure for three days, with injected
  spikes (up and down), a slow temperature drift and a pressure dropout; label column ``anomaly``
  (1 = anomaly).
- sine_spikes.csv: a noisy sine wave with 5% point spikes of +-2..4; label column ``label``.
- heartbeats.csv: 140-sample heartbeat-like rows, normal beats and four abnormal shapes; label
  column ``label`` with 1 = normal and 0 = abnormal (ECG5000's convention).

Usage: ``python scripts/make_samples.py [output_folder]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent


def make_sensor(seed: int = 7, n: int = 4320) -> pd.DataFrame:
    """Three days of minute readings with labelled spikes, a drift and a pressure dropout."""
    rng = np.random.default_rng(seed)
    time = pd.date_range("2024-03-01 00:00:00", periods=n, freq="min")
    minutes = np.arange(n)
    daily = np.sin(2 * np.pi * (minutes / 1440.0 - 0.25))
    temperature = 21.0 + 3.0 * daily + rng.normal(0, 0.25, n)
    pressure = 1013.0 - 1.5 * daily + rng.normal(0, 0.4, n)
    label = np.zeros(n, dtype=int)

    spikes = rng.choice(np.arange(60, n - 60), size=24, replace=False)
    for number, i in enumerate(sorted(spikes)):
        sign = 1 if number % 2 == 0 else -1
        if number % 3 == 2:  # a pressure spike
            pressure[i] += sign * rng.uniform(6, 10)
        else:
            temperature[i] += sign * rng.uniform(4, 7)
        label[i] = 1
    drift = slice(2600, 2780)  # three hours of slowly rising temperature (a failing cooler)
    temperature[drift] += np.linspace(0.5, 6.0, drift.stop - drift.start)
    label[drift] = 1
    dropout = slice(3700, 3730)  # half an hour of low pressure
    pressure[dropout] -= 8.0
    label[dropout] = 1
    return pd.DataFrame({"timestamp": time.strftime("%Y-%m-%d %H:%M:%S"),
                         "temperature": temperature.round(3), "pressure": pressure.round(3),
                         "anomaly": label})


def make_sine_spikes(seed: int = 11, n: int = 2000) -> pd.DataFrame:
    """A sine wave with noise and 5% point spikes of +-2..4 (S2's sample data)."""
    rng = np.random.default_rng(seed)
    steps = np.arange(n)
    value = np.sin(2 * np.pi * steps / 100.0) + rng.normal(0, 0.1, n)
    label = np.zeros(n, dtype=int)
    where = rng.choice(np.arange(n), size=int(0.05 * n), replace=False)
    value[where] += rng.choice([-1.0, 1.0], where.size) * rng.uniform(2, 4, where.size)
    label[where] = 1
    time = pd.date_range("2024-01-01", periods=n, freq="h")
    return pd.DataFrame({"timestamp": time.strftime("%Y-%m-%d %H:%M:%S"), "value": value.round(4),
                         "label": label})


def _bump(t, centre, width, height):
    return height * np.exp(-0.5 * ((t - centre) / width) ** 2)


def _beat(rng, t, kind: str) -> np.ndarray:
    jitter = rng.normal(0, 1.5)
    scale = rng.normal(1.0, 0.06)
    p = _bump(t, 30 + jitter, 5, 0.25)
    q = _bump(t, 52 + jitter, 2.0, -0.35)
    r = _bump(t, 57 + jitter, 2.2, 2.6)
    s = _bump(t, 62 + jitter, 2.2, -0.9)
    wave_t = _bump(t, 100 + jitter, 9, 0.55)
    baseline = -0.6 + 0.15 * np.sin(2 * np.pi * (t / 140.0 + rng.uniform()))
    if kind == "wide_qrs":  # premature ventricular beat: no P, wide and tall complex, inverted T
        p = 0 * t
        r = _bump(t, 50 + jitter, 7, 2.2)
        s = _bump(t, 68 + jitter, 7, -1.4)
        wave_t = _bump(t, 100 + jitter, 11, -0.7)
    elif kind == "st_elevation":
        wave_t = wave_t + np.where((t > 64 + jitter) & (t < 100 + jitter), 0.6, 0.0)
    elif kind == "inverted_t":
        wave_t = -wave_t * 1.3
    elif kind == "flutter":  # saw-tooth baseline instead of a P wave
        p = 0.3 * ((t / 12.0) % 1.0 - 0.5)
    signal = scale * (p + q + r + s + wave_t) + baseline
    return signal + rng.normal(0, 0.05, t.size)


def make_heartbeats(seed: int = 5, n: int = 1200, length: int = 140) -> pd.DataFrame:
    """Rows of ``length`` samples: 80% normal beats, 20% four abnormal shapes; label 1 = normal."""
    rng = np.random.default_rng(seed)
    t = np.arange(length, dtype=float)
    abnormal = ("wide_qrs", "st_elevation", "inverted_t", "flutter")
    kinds = np.where(rng.uniform(size=n) < 0.8, "normal", rng.choice(abnormal, n))
    rows = np.vstack([_beat(rng, t, kind) for kind in kinds])
    frame = pd.DataFrame(rows.round(4), columns=[f"t{i:03d}" for i in range(length)])
    frame["label"] = (kinds == "normal").astype(int)
    return frame


def main(folder: str | None = None) -> None:
    out = Path(folder) if folder else ROOT / "data"
    out.mkdir(parents=True, exist_ok=True)
    for name, frame in (("sensor.csv", make_sensor()), ("sine_spikes.csv", make_sine_spikes()),
                        ("heartbeats.csv", make_heartbeats())):
        path = out / name
        frame.to_csv(path, index=False, lineterminator="\n")
        print(f"{path}: {frame.shape[0]} rows x {frame.shape[1]} columns, {path.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
