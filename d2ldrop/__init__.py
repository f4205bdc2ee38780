"""d2ldrop: the "Dropout" chapter of Dive into Deep Learning on several frameworks,
behind one backend-agnostic interface.

Importing this package imports no deep-learning framework; each is imported the
first time its backend is used. It changes no environment variable and no thread
setting: d2ldrop's thread policy applies to the runs it starts itself (the CLI,
sweep workers, benchmarks) or where asked, with :func:`d2ldrop.backends.threads.configure`.
"""

from __future__ import annotations

from d2ldrop._backend import (
    BACKENDS,
    DEFAULT_BACKEND,
    available_backends,
    get_backend,
    use_backend,
)
from d2ldrop._version import __version__ as __version__
from d2ldrop.data import load_data_fashion_mnist
from d2ldrop.errors import (
    BackendNotAvailableError,
    D2LDropError,
    DataError,
    DataPathError,
    InvalidArgumentError,
    UnknownBackendError,
    UsageError,
)
from d2ldrop.history import curves
from d2ldrop.models import MLP, build_mlp, concise_mlp, scratch_mlp
from d2ldrop.ops import dropout_layer, from_numpy, seed, to_numpy
from d2ldrop.training import (
    SGD,
    CrossEntropyLoss,
    History,
    TrainingDiverged,
    evaluate_accuracy,
    framework_sgd,
    sgd,
    train_ch3,
)

#: What a reader of the chapter and a user of the command line need: the chapter's
#: functions, the choice of backend, and the errors to catch. The registry and the
#: adapters are in :mod:`d2ldrop.backends`; the topics in their packages
#: (:mod:`d2ldrop.conformance`, :mod:`d2ldrop.lockstep`, :mod:`d2ldrop.experiments`).
__all__ = [
    # the chapter
    "MLP",
    "SGD",
    "CrossEntropyLoss",
    "History",
    "TrainingDiverged",
    "build_mlp",
    "concise_mlp",
    "curves",
    "dropout_layer",
    "evaluate_accuracy",
    "framework_sgd",
    "from_numpy",
    "load_data_fashion_mnist",
    "scratch_mlp",
    "seed",
    "sgd",
    "to_numpy",
    "train_ch3",
    # which backend runs a call
    "BACKENDS",
    "DEFAULT_BACKEND",
    "available_backends",
    "get_backend",
    "use_backend",
    # errors
    "BackendNotAvailableError",
    "D2LDropError",
    "DataError",
    "DataPathError",
    "InvalidArgumentError",
    "UnknownBackendError",
    "UsageError",
]
