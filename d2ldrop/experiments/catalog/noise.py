"""Exercise 7: other noise in each layer (Gaussian), against standard dropout."""

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
    name="noise",
    title="Exercise 7: other noise in each layer, against standard dropout",
    question="Invent another technique for injecting random noise at each layer that is "
    "different from the standard dropout technique.",
    configs=(NONE, DROPOUT,
             Config("gaussian-mult 0.2/0.5", 0.2, 0.5, noise="gaussian-mult"),
             Config("gaussian-add 0.2/0.5", 0.2, 0.5, noise="gaussian-add")),
    columns=STANDARD,
    baseline=DROPOUT.label,
    compare=COMPARE,
    analyse=analyse_vs_none,
    plot=plot_curves_and_bars,
)
