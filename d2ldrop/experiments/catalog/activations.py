"""Exercise 3: hidden activations over training, with and without dropout."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from d2ldrop.data import Batches
from d2ldrop.experiments.catalog.common import DROPOUT, NONE, TEST_ACC
from d2ldrop.experiments.plots import band, figure, legend, save, style
from d2ldrop.experiments.results import ExperimentResult
from d2ldrop.experiments.runner import train_and_evaluate
from d2ldrop.experiments.spec import Column, Experiment, RunContext, RunResult

PROBE = 1000  # training images whose hidden activations are measured
STATS = ("mean", "var", "zeros")


def activation_stats(H: np.ndarray) -> dict[str, float]:
    """Mean activation, mean per-unit variance over the images, share of exact zeros."""
    H = np.asarray(H, np.float64)
    return {"mean": float(H.mean()), "var": float(H.var(axis=0, ddof=1).mean()),
            "zeros": float(np.mean(H == 0.0))}


def _run(ctx: RunContext) -> RunResult:
    n = ctx.options["probe"]
    images, labels = ctx.data.train_images[:n], ctx.data.train_labels[:n]
    X, _ = next(iter(Batches(images, labels, len(images), shuffle=False, backend=ctx.backend)))
    curves: dict[str, list[float]] = {}

    def on_epoch(net: Any, epoch: int) -> None:
        # "eval": what each layer computes (noise off); "train": what the next
        # layer sees while training (after dropout). The training-mode pass
        # draws masks from the backend's generator, the same ones on a re-run.
        for mode, training in (("eval", False), ("train", True)):
            hidden = [net.adapter.to_numpy(h) for h in net.hidden(X, training=training)]
            for layer, H in enumerate(hidden, start=1):
                for stat, value in activation_stats(H).items():
                    curves.setdefault(f"h{layer}_{stat}_{mode}", []).append(value)

    result = train_and_evaluate(ctx, on_epoch=on_epoch)
    result["curves"].update(curves)  # these start at epoch 0 (before training)
    result["metrics"].update({k: v[-1] for k, v in curves.items()})
    return result


def plot_activations(result: ExperimentResult, path: Path) -> Path:
    """Mean, variance and share of zeros of each hidden layer over training."""
    fig = figure(3, 2, height=3.0)
    axes = fig.subplots(2, 3)
    names = {"mean": "mean", "var": "variance (per unit, over images)", "zeros": "share of zeros"}
    for layer in (1, 2):
        for j, stat in enumerate(STATS):
            ax = axes[layer - 1, j]
            for i, row in enumerate(result.rows):
                c = row.config
                # Without noise, training mode computes the same activations.
                noisy = c.dropout1 > 0 or c.dropout2 > 0
                for mode, ls in (("eval", "-"), ("train", ":"))[: 2 if noisy else 1]:
                    curves = result.curves(c, f"h{layer}_{stat}_{mode}")
                    band(ax, curves, f"{row.config.label}, {mode} mode", start=0,
                         color=f"C{i}", ls=ls)
            style(ax, f"hidden layer {layer}: {names[stat]}")
    legend(axes[0, 0], fontsize="x-small")
    return save(fig, result, path, "solid: dropout off (what the layer computes), dotted: "
                "training mode (after dropout,\nwhat the next layer sees); "
                f"{result.options['probe']} training images; epoch 0: initialization")


EXPERIMENT = Experiment(
    name="activations",
    title="Exercise 3: hidden activations over training, with and without dropout",
    question="What is the variance of the activations in each hidden layer when dropout "
    "is and is not applied? Draw a plot to show how this quantity evolves over time.",
    configs=(NONE, DROPOUT),
    columns=(*(Column(f"h{i}_{s}_eval", f"h{i} {s}") for i in (1, 2) for s in STATS),
             TEST_ACC),
    run=_run,
    baseline="none",
    compare=("h1_var_eval", "h2_var_eval"),
    options={"probe": PROBE},
    plot=plot_activations,
)
