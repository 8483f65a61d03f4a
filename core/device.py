"""Choice of the compute device for the deep models: CUDA, then Apple MPS, then CPU."""

from __future__ import annotations

from .errors import DataError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def resolve_device(preference: str = "auto") -> str:
    """Return the torch device name to use.

    Parameters
    ----------
    preference : {"auto", "cpu", "cuda", "mps"}
        ``"auto"`` picks CUDA when available, then Apple MPS, then CPU.
    """
    if preference not in DEVICE_CHOICES:
        raise DataError(f"Unknown device {preference!r}; choose one of {', '.join(DEVICE_CHOICES)}.")
    import torch  # imported here so that `import core` stays light

    if preference == "auto":
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return "mps"
        return "cpu"
    if preference == "cuda" and not torch.cuda.is_available():
        raise DataError("CUDA was requested but no CUDA device is available; use 'auto' or 'cpu'.")
    if preference == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise DataError("Apple MPS was requested but is not available; use 'auto' or 'cpu'.")
    return preference


def describe_device(preference: str = "auto") -> str:
    """Human-readable name of the device :func:`resolve_device` picks (for the UI and reports)."""
    name = resolve_device(preference)
    if name == "cuda":
        import torch

        return f"cuda ({torch.cuda.get_device_name(0)})"
    return name
