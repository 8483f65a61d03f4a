"""Scalers fitted on the normal training rows only, so no test information leaks into training.

Kept as plain arrays (``center_``, ``scale_``) so that a model bundle can store them without pickle.
A constant feature gets scale 1 instead of 0, so it never turns into NaN.
"""

from __future__ import annotations

import numpy as np

from .errors import DataError

SCALERS = ("standard", "minmax", "global_minmax", "robust", "none")


def auto_scaler_kind(X, bounded: bool = False) -> str:
    """The scaler ``"auto"`` (or ``"auto_minmax"`` when ``bounded``) means for ``X``.

    Rows that are a signal (many columns of one quantity on one scale, like the samples of a
    heartbeat) keep their shape under one global min-max; a table of different quantities has each
    feature standardised so that none dominates by its units. ``bounded`` asks for a [0, 1] range
    (models with a sigmoid output): min-max instead of standardisation.
    """
    X = np.asarray(X, dtype=float)
    std = X.std(axis=0)
    std = std[std > 1e-12]
    if X.shape[1] >= 20 and std.size and std.max() / std.min() < 20:
        return "global_minmax"
    return "minmax" if bounded else "standard"


class Scaler:
    """``(X - center_) / scale_`` with statistics from the data passed to :meth:`fit`.

    Parameters
    ----------
    kind : {"standard", "minmax", "global_minmax", "robust", "none"}
        ``standard``: mean / std per feature; ``minmax``: per-feature min / range;
        ``global_minmax``: one min and max over all features (S1's scaling of a heartbeat);
        ``robust``: median / IQR per feature; ``none``: identity.
    """

    def __init__(self, kind: str = "standard"):
        self.kind = kind

    def fit(self, X) -> "Scaler":
        if self.kind not in SCALERS:
            raise DataError(f"Unknown scaler {self.kind!r}; choose one of {', '.join(SCALERS)}.")
        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or X.shape[0] == 0:
            raise DataError("The scaler needs a non-empty 2-D table of numbers.")
        n = X.shape[1]
        if self.kind == "standard":
            center, scale = X.mean(axis=0), X.std(axis=0)
        elif self.kind == "minmax":
            center, scale = X.min(axis=0), X.max(axis=0) - X.min(axis=0)
        elif self.kind == "global_minmax":
            low, high = X.min(), X.max()
            center, scale = np.full(n, low), np.full(n, high - low)
        elif self.kind == "robust":
            q1, med, q3 = np.percentile(X, [25, 50, 75], axis=0)
            center, scale = med, q3 - q1
        else:
            center, scale = np.zeros(n), np.ones(n)
        scale = np.where(np.isfinite(scale) & (scale > 1e-12), scale, 1.0)
        self.center_, self.scale_ = center.astype(float), scale.astype(float)
        return self

    def transform(self, X) -> np.ndarray:
        X = np.asarray(X, dtype=float)
        if X.shape[-1] != self.center_.shape[0]:
            raise DataError(f"Expected {self.center_.shape[0]} features, got {X.shape[-1]}.")
        return (X - self.center_) / self.scale_

    def fit_transform(self, X) -> np.ndarray:
        return self.fit(X).transform(X)

    def inverse_transform(self, X) -> np.ndarray:
        return np.asarray(X, dtype=float) * self.scale_ + self.center_

    def get_state(self) -> dict:
        return {"kind": self.kind, "center": self.center_, "scale": self.scale_}

    @classmethod
    def from_state(cls, state: dict) -> "Scaler":
        scaler = cls(state["kind"])
        scaler.center_ = np.asarray(state["center"], dtype=float)
        scaler.scale_ = np.asarray(state["scale"], dtype=float)
        return scaler
