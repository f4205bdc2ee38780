"""What an experiment is: its configurations, settings, table columns and rows.

An experiment (:class:`Experiment`) is a list of configurations (:class:`Config`),
each trained once per seed under the same :class:`Settings`; a run function gets
one (configuration, seed) as a :class:`RunContext` and returns a :data:`RunResult`.
The aggregate of one configuration over its seeds is a :class:`Row` of the table.
Nothing here trains or draws: this module only describes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from d2ldrop._backend import get_adapter
from d2ldrop._validate import check_seed_range
from d2ldrop.data import FashionMNIST
from d2ldrop.errors import InvalidArgumentError, NotFoundError
from d2ldrop.experiments.inference import Summary

if TYPE_CHECKING:
    from d2ldrop.backends.kernels import Noise
    from d2ldrop.models import Init, Kind
    from d2ldrop.training import Updater


#: Quick form (tests, CI): data size, epochs and seeds.
QUICK_TRAIN, QUICK_TEST, QUICK_EPOCHS, QUICK_SEEDS = 3000, 1000, 2, 2
#: Full form: seeds, and epochs unless the experiment sets its own.
FULL_EPOCHS, FULL_SEEDS = 10, 3
#: Training accuracy "with dropout off" is measured on this many training images.
EVAL_TRAIN_SIZE = 10000

#: Receives one line per run.
Log = Callable[[str], None]
#: What a run function returns: {"metrics": {...}, "curves": {...}, "extra": {...},
#: "error": "..."} (only "metrics" is required; "error" marks a diverged run).
RunResult = dict[str, Any]
#: An experiment's own analysis of its :class:`~d2ldrop.experiments.results.ExperimentResult`:
#: a JSON-able dict for the table file and lines of notes for the report. (Typed
#: ``Any`` here: the result type is defined on top of this module, not below it.)
Analyse = Callable[[Any], tuple[dict[str, Any], list[str]]]
#: Draws an ExperimentResult's figure to the given path and returns the path.
Plot = Callable[[Any, Path], Path]


@dataclass(frozen=True)
class Config:
    """One arm of an experiment, one row of its table."""

    label: str
    dropout1: float = 0.0
    dropout2: float = 0.0
    noise: Noise = "dropout"
    weight_decay: float = 0.0

    @property
    def key(self) -> str:
        """The label as a file-name-safe string."""
        return re.sub(r"[^A-Za-z0-9.=+-]+", "_", self.label).strip("_")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Settings:
    """What is the same for every run of an experiment (apart from the seed)."""

    backend: str
    epochs: int
    seeds: tuple[int, ...]
    quick: bool = False
    train_size: int | None = None  # None: all 60000 images
    test_size: int | None = None  # None: all 10000
    lr: float = 0.5
    batch_size: int = 256
    model: Kind = "scratch"  # the noise variants exist only for the scratch model
    init: Init = "normal"
    updater: Updater = "scratch"

    def identity(self) -> dict[str, Any]:
        """The fields that determine one run (the seeds list is not one of them)."""
        d = asdict(self)
        del d["seeds"], d["quick"]
        return d


@dataclass
class Data:
    """The numpy arrays of a run: training, test, and the evaluation subset of training."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray

    @property
    def eval_train(self) -> tuple[np.ndarray, np.ndarray]:
        n = min(EVAL_TRAIN_SIZE, len(self.train_images))
        return self.train_images[:n], self.train_labels[:n]

    @property
    def test(self) -> tuple[np.ndarray, np.ndarray]:
        return self.test_images, self.test_labels

    @classmethod
    def subset(cls, data: FashionMNIST, train: int | None, test: int | None) -> Data:
        # Fashion-MNIST's files are already in random class order, so a prefix
        # is a fair sample.
        return cls(data.train_images[:train], data.train_labels[:train],
                   data.test_images[:test], data.test_labels[:test])


@dataclass(frozen=True)
class Column:
    """A metric of the table: its key in a run's metrics and how to show it."""

    key: str
    label: str
    digits: int = 4


@dataclass(frozen=True)
class Experiment:
    """One entry of the registry: configurations, how a run goes, what is reported."""

    name: str
    title: str
    question: str
    configs: tuple[Config, ...]
    columns: tuple[Column, ...]
    plot: Plot
    run: Callable[[RunContext], RunResult] | None = None  # None: train_and_evaluate
    baseline: str | None = None  # label of the row others are compared with, paired
    compare: tuple[str, ...] = ("test_acc",)  # metrics compared with the baseline
    analyse: Analyse | None = None
    epochs: int = FULL_EPOCHS  # full form
    options: dict[str, Any] = field(default_factory=dict)  # full form
    quick_options: dict[str, Any] = field(default_factory=dict)  # overrides in quick form

    def options_for(self, quick: bool) -> dict[str, Any]:
        return {**self.options, **(self.quick_options if quick else {})}

    def config(self, label: str) -> Config:
        for c in self.configs:
            if c.label == label:
                return c
        raise NotFoundError(label)


@dataclass
class RunContext:
    """Everything a run function gets: one configuration and one seed."""

    settings: Settings
    config: Config
    seed: int
    options: dict[str, Any]
    data: Data

    @property
    def backend(self) -> str:
        return self.settings.backend


@dataclass
class Row:
    """Aggregate of one configuration over its seeds."""

    config: Config
    metrics: dict[str, Summary]
    vs_baseline: dict[str, Summary]  # paired difference, this row minus the baseline
    errors: list[str]

    @property
    def n(self) -> int:
        """Runs that finished without an error (each metric's own count is in its Summary)."""
        return max((s.n for s in self.metrics.values()), default=0)


def epochs_and_seeds(experiment: Experiment, *, epochs: int | None = None,
                     seeds: int | None = None, seed: int = 0,
                     quick: bool = False) -> tuple[int, tuple[int, ...]]:
    """Epochs and seeds of the quick or full form, ``epochs`` / ``seeds`` overriding them.

    ValueError for a count below 1 or a seed range outside [0, 2**32). Imports
    no framework (the command line checks its arguments with it).
    """
    if epochs is None:
        epochs = QUICK_EPOCHS if quick else experiment.epochs
    if seeds is None:
        seeds = QUICK_SEEDS if quick else FULL_SEEDS
    for name, value in (("epochs", epochs), ("seeds", seeds)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise InvalidArgumentError(f"Expected an integer {name} >= 1. Received: {value!r}")
    check_seed_range(seed, seeds)
    return epochs, tuple(range(int(seed), int(seed) + seeds))


def make_settings(experiment: Experiment, backend: str | None = None, *,
                  epochs: int | None = None, seeds: int | None = None, seed: int = 0,
                  quick: bool = False) -> Settings:
    """Settings of the quick or full form, with ``epochs`` / ``seeds`` overriding them.

    The backend is resolved (and its framework imported) here, so a missing
    framework fails before any data is read.
    """
    epochs, seed_list = epochs_and_seeds(experiment, epochs=epochs, seeds=seeds, seed=seed,
                                         quick=quick)
    return Settings(
        backend=get_adapter(backend).name, epochs=epochs, seeds=seed_list, quick=quick,
        train_size=QUICK_TRAIN if quick else None, test_size=QUICK_TEST if quick else None,
    )
