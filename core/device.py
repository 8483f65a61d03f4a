"""Choice of the compute device for the deep models (CUDA, then Apple MPS, then CPU) and of
PyTorch's CPU thread count.

Threads: PyTorch starts one intra-op thread per core it sees. When other processes (or other
sessions' trainings) already keep cores busy, those threads wait on each other at every parallel
region: on the project's shared 2-core machine ``dense_ae`` took 21.3 s on ECG5000 with the default
threads against 1.4 s with one. The count is therefore chosen once, when torch is first loaded
(:func:`load_torch`), from the cores this process may run on and the load on them, and never
changed later: ``torch.set_num_threads`` is process-wide, so calling it from a training thread
would change every other thread's work too.
"""

from __future__ import annotations

import os
import threading

from .errors import DataError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")
#: Environment variable that fixes the thread count (an integer >= 1) instead of choosing it.
THREADS_VARIABLE = "AD_TORCH_THREADS"
_threads_lock = threading.Lock()
_threads_chosen: int | None = None


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, which containers and ``taskset`` narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def choose_threads(cores: int | None = None, load: float | None = None) -> int:
    """Intra-op threads for PyTorch: the cores not already kept busy by other work, at least one.

    ``load`` is the one-minute load average (runnable processes); each busy core is left to
    the work already on it.
    """
    cores = available_cores() if cores is None else int(cores)
    if load is None:
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):
            load = 0.0
    return max(1, min(cores, cores - int(round(load))))


def load_torch():
    """Import torch and, the first time, set its intra-op thread count (see the module's notes).

    ``AD_TORCH_THREADS`` fixes the count; an ``OMP_NUM_THREADS`` set by the user is respected.
    """
    global _threads_chosen
    import torch

    with _threads_lock:
        if _threads_chosen is None:
            fixed = os.environ.get(THREADS_VARIABLE, "").strip()
            if fixed:
                if not fixed.isdigit() or int(fixed) < 1:
                    raise DataError(f"{THREADS_VARIABLE} must be a whole number of threads, got {fixed!r}.")
                torch.set_num_threads(int(fixed))
            elif not os.environ.get("OMP_NUM_THREADS"):
                torch.set_num_threads(choose_threads())
            _threads_chosen = torch.get_num_threads()
    return torch


def resolve_device(preference: str = "auto") -> str:
    """Return the torch device name to use.

    Parameters
    ----------
    preference : {"auto", "cpu", "cuda", "mps"}
        ``"auto"`` picks CUDA when available, then Apple MPS, then CPU.
    """
    if preference not in DEVICE_CHOICES:
        raise DataError(f"Unknown device {preference!r}; choose one of {', '.join(DEVICE_CHOICES)}.")
    torch = load_torch()  # imported here so that `import core` stays light

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
