"""Exceptions raised by d2ldrop: one family.

Every error the package raises on purpose derives from :class:`D2LDropError`, and
also from the built-in type a caller would expect (``ValueError``, ``TypeError``,
``KeyError``, ``ImportError``, ...), so ``except ValueError`` and ``except
D2LDropError`` both keep working. No module raises a bare built-in exception
(``tests/test_architecture.py`` checks it); framework-specific errors live here
too, so that catching them imports no framework.

Example:

    try:
        d2ldrop.dropout_layer(x, 1.5)
    except d2ldrop.D2LDropError as err:   # also a ValueError
        print(err)
"""

from __future__ import annotations


class D2LDropError(Exception):
    """Base class of every error raised by d2ldrop."""


class InvalidArgumentError(D2LDropError, ValueError):
    """An argument has the right type but a value outside what the call accepts
    (a probability outside [0, 1], a negative count, an unknown option)."""


class WrongTypeError(D2LDropError, TypeError):
    """An argument is not of a type the call accepts."""


class WrongTensorError(WrongTypeError):
    """A tensor of another backend than the selected one, or of a dtype the call
    does not accept (an integer tensor where dropout needs floating point)."""


class NotFoundError(D2LDropError, KeyError):
    """A name looked up in a collection (a configuration, a result row) is not there."""


class MissingDependencyError(D2LDropError, ImportError):
    """An optional package a call needs is not installed (IPython to display in place)."""


class UnknownBackendError(D2LDropError, ValueError):
    """A backend name that is neither a known backend nor an alias."""


class BackendNotAvailableError(MissingDependencyError):
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


class TracedDrawError(D2LDropError, RuntimeError):
    """A draw from a host-side key stream inside a staged trace (``jax.jit``): the
    key would become a constant of the compiled function, the same mask at every call."""


class MissingKeyError(D2LDropError, RuntimeError):
    """A compiled computation planned to draw nothing was asked for a random draw
    (an internal inconsistency of a keyed backend, never the user's input)."""


class ConformanceFailure(D2LDropError, AssertionError):
    """A check or edge case of a conformance target did not hold (the message says
    what was seen). An ``AssertionError``, so pytest reports it as a test failure."""


class UnknownAttributeError(D2LDropError, AttributeError):
    """A module-level ``__getattr__`` (PEP 562) was asked for a name it does not
    provide; an ``AttributeError``, as ``hasattr`` and ``from ... import`` expect."""


def builtin_name(err: BaseException) -> str:
    """The name of the built-in exception ``err`` stands for: for one of d2ldrop's
    errors, the built-in it derives from (an :class:`InvalidArgumentError` is a
    ``"ValueError"``); for any other exception, its own class name.

    Reports that name errors by type (the conformance edge cases: "p=1.5 raises
    ValueError") use it, so that they read the same on d2ldrop's dropout and on a
    framework's.

    Example:

        builtin_name(InvalidArgumentError("p"))   # "ValueError"
    """
    if isinstance(err, D2LDropError):
        for cls in type(err).__mro__:
            if cls.__module__ == "builtins" and cls not in (Exception, BaseException, object):
                return cls.__name__
    return type(err).__name__
