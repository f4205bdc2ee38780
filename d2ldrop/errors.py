"""Exceptions raised by d2ldrop.

Every error the package raises on purpose derives from :class:`D2LDropError`, and
also from the built-in type a caller would expect (``ValueError``, ``TypeError``,
``ImportError``), so ``except ValueError`` keeps working.
"""

from __future__ import annotations


class D2LDropError(Exception):
    """Base class of every error raised by d2ldrop."""


class UnknownBackendError(D2LDropError, ValueError):
    """A backend name that is neither a known backend nor an alias."""


class BackendNotAvailableError(D2LDropError, ImportError):
    """The framework behind a backend is not installed or fails to import."""


class DataError(D2LDropError, ValueError):
    """A data file is missing, corrupt, truncated or inconsistent."""


class UsageError(D2LDropError, ValueError):
    """Something the user named cannot be used as given (a path, a file, an argument).

    The command line reports it like an argument error: one line, exit status 2.
    """


class DataPathError(DataError, UsageError):
    """A data location the user named (``data_dir=``, ``--data-dir``,
    ``$D2LDROP_DATA_DIR``) is missing or does not hold valid Fashion-MNIST files."""
