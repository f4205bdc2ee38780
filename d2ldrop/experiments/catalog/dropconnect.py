"""Exercise 6: dropout on individual weights (DropConnect) rather than activations."""

from __future__ import annotations

from d2ldrop.experiments.catalog.common import (
    COMPARE,
    DROPOUT,
    NONE,
    STANDARD,
    analyse_vs_none,
)
from d2ldrop.experiments.plots import plot_curves_and_bars
from d2ldrop.experiments.spec import Config, Experiment

EXPERIMENT = Experiment(
    name="dropconnect",
    title="Exercise 6: dropout on individual weights (DropConnect)",
    question="What happens if we apply dropout to the individual weights of the weight "
    "matrix rather than the activations?",
    configs=(NONE, DROPOUT, Config("dropconnect 0.2/0.5", 0.2, 0.5, noise="dropconnect")),
    columns=STANDARD,
    baseline=DROPOUT.label,
    compare=COMPARE,
    analyse=analyse_vs_none,
    plot=plot_curves_and_bars,
)
