"""The experiments by name: one per module of :mod:`d2ldrop.experiments.catalog`."""

from __future__ import annotations

from d2ldrop.errors import InvalidArgumentError
from d2ldrop.experiments.catalog import (
    activations,
    dropconnect,
    dropout_grid,
    epochs,
    mc_dropout,
    noise,
    test_time,
    weight_decay,
)
from d2ldrop.experiments.spec import Experiment

#: The experiment modules, in the chapter's order (the exercises, then MC dropout).
MODULES = (dropout_grid, epochs, activations, test_time, weight_decay, dropconnect, noise,
           mc_dropout)

#: The experiments by name, in the chapter's order.
EXPERIMENTS: dict[str, Experiment] = {m.EXPERIMENT.name: m.EXPERIMENT for m in MODULES}
NAMES: tuple[str, ...] = tuple(EXPERIMENTS)


def get_experiment(name: str) -> Experiment:
    """The experiment called ``name``; ValueError listing the names otherwise."""
    try:
        return EXPERIMENTS[name]
    except KeyError:
        raise InvalidArgumentError(
            f"Unknown experiment {name!r}. Known: {', '.join(NAMES)}"
        ) from None
