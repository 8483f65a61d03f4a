"""Exception types raised by :mod:`core`.

Every problem with what a user supplies (a file, a column choice, a parameter, a model bundle)
raises a subclass of :class:`CoreError` whose message says what is wrong and how to fix it, so
that a front end can show ``str(error)`` as it is.
"""


class CoreError(Exception):
    """Base class of every error :mod:`core` raises on purpose."""


class DataError(CoreError, ValueError):
    """The data or a setting does not fit: empty file, NaN, constant column, bad parameter, ..."""


class BundleError(CoreError):
    """A model bundle is corrupt, tampered with, unsafe or made by an incompatible version."""


class TrainingCancelled(CoreError):
    """Training was stopped by the caller's ``should_stop`` callback."""


class WorkspaceError(CoreError):
    """The workspace (its database or artefacts folder) cannot be opened or read, or holds no such run."""
