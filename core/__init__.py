"""Anomaly detection library behind the dashboard: data, detectors, thresholds, metrics, bundles.

Importing :mod:`core` is light: heavy frameworks (PyTorch, TensorFlow, Spark) load only when a
method or engine that needs them is used.
"""

from .errors import BundleError, CoreError, DataError, TrainingCancelled, WorkspaceError

__all__ = ["BundleError", "CoreError", "DataError", "TrainingCancelled", "WorkspaceError"]
__version__ = "0.1.0"
