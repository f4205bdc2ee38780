"""d2ldrop: the "Dropout" chapter of Dive into Deep Learning on several frameworks,
behind one backend-agnostic interface.

Importing this package imports no deep-learning framework; each is imported the
first time its backend is used. It changes no environment variable and no thread
setting: d2ldrop's thread policy applies to the runs it starts itself (the CLI,
sweep workers, benchmarks) or where asked, with :func:`d2ldrop.backends.threads.configure`.
"""

from __future__ import annotations

from d2ldrop._backend import (
    ALIASES,
    BACKENDS,
    DEFAULT_BACKEND,
    ENV_VAR,
    available_backends,
    canonical_name,
    get_adapter,
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
    UnknownBackendError,
    UsageError,
)
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

__all__ = [
    "MLP",
    "SGD",
    "CrossEntropyLoss",
    "History",
    "TrainingDiverged",
    "build_mlp",
    "concise_mlp",
    "evaluate_accuracy",
    "framework_sgd",
    "scratch_mlp",
    "sgd",
    "train_ch3",
    "ALIASES",
    "BACKENDS",
    "DEFAULT_BACKEND",
    "ENV_VAR",
    "BackendNotAvailableError",
    "D2LDropError",
    "DataError",
    "DataPathError",
    "UsageError",
    "UnknownBackendError",
    "available_backends",
    "canonical_name",
    "dropout_layer",
    "from_numpy",
    "get_adapter",
    "get_backend",
    "load_data_fashion_mnist",
    "seed",
    "to_numpy",
    "use_backend",
]
