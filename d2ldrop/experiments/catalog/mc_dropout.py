"""Monte Carlo dropout: the predictive mean and spread over dropout masks.

Dropout is kept on at test time and the class probabilities of many passes
(each with new masks) are averaged; the spread over the passes is compared
between misclassified and correct test images.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from d2ldrop.experiments.catalog.common import DROPOUT, TEST_ACC, p_text, verdict
from d2ldrop.experiments.inference import compare_groups, paired
from d2ldrop.experiments.plots import band, figure, legend, save, style
from d2ldrop.experiments.results import ExperimentResult
from d2ldrop.experiments.runner import build_net, logits_of, train_and_evaluate
from d2ldrop.experiments.spec import Column, Experiment, RunContext, RunResult
from d2ldrop.experiments.tables import fmt_summary
from d2ldrop.reference import cross_entropy

#: Bins of the spread histograms: the sd of a probability is at most 0.5.
SPREAD_BINS = np.linspace(0.0, 0.5, 51)


def mc_predict(net: Any, images: np.ndarray, labels: np.ndarray, samples: int) -> np.ndarray:
    """Class probabilities of ``samples`` passes with dropout on: (samples, N, classes)."""
    y = np.asarray(labels, np.int64)
    return np.stack([cross_entropy(logits_of(net, images, labels, training=True), y)[1]
                     for _ in range(samples)])


def mc_summary(probs: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """Predictive mean and spread of Monte Carlo dropout, and their comparison.

    The prediction is the argmax of the mean probability over the passes; its
    spread is the standard deviation over the passes of the probability of that
    class. Misclassified and correct images are compared with Welch's t-test and
    the rank-sum test (AUC: the chance that a misclassified image has the larger
    spread); the entropy of the mean prediction is compared the same way.
    """
    labels = np.asarray(labels, np.int64)
    samples = len(probs)
    mean = probs.mean(axis=0)
    pred = mean.argmax(axis=1)
    correct = pred == labels
    spread = probs[:, np.arange(len(labels)), pred].std(axis=0, ddof=1)
    test = compare_groups(spread[~correct], spread[correct])
    # A second uncertainty measure for comparison: the entropy of the mean prediction.
    entropy = -np.sum(mean * np.log(np.clip(mean, 1e-30, None)), axis=1)
    test_entropy = compare_groups(entropy[~correct], entropy[correct])
    # Accuracy of the mean over the first t passes, t = 1..samples.
    running = np.cumsum(probs, axis=0)
    acc_vs_t = [float(np.mean(running[t].argmax(axis=1) == labels)) for t in range(samples)]
    single = [float(np.mean(p.argmax(axis=1) == labels)) for p in probs]
    return {
        "metrics": {
            "mc_acc": float(np.mean(correct)),
            "single_acc": float(np.mean(single)),
            "spread_correct": test.mean_y,
            "spread_wrong": test.mean_x,
            "spread_diff": test.mean_x - test.mean_y,
            "auc": test.auc,
            "auc_entropy": test_entropy.auc,
            "welch_t": test.welch_t,
            "n_wrong": test.n_x,
        },
        "extra": {
            "test": test.to_dict(),
            "test_entropy": test_entropy.to_dict(),
            "acc_vs_samples": acc_vs_t,
            "bins": SPREAD_BINS.tolist(),
            "hist_correct": np.histogram(spread[correct], SPREAD_BINS)[0].tolist(),
            "hist_wrong": np.histogram(spread[~correct], SPREAD_BINS)[0].tolist(),
        },
    }


def _run(ctx: RunContext) -> RunResult:
    net = build_net(ctx)
    result = train_and_evaluate(ctx, net)
    if result.get("error"):
        return result
    images, labels = ctx.data.test
    mc = mc_summary(mc_predict(net, images, labels, ctx.options["samples"]), labels)
    result["metrics"].update(mc["metrics"])
    result["extra"] = mc["extra"]
    return result


def _analyse(result: ExperimentResult) -> tuple[dict[str, Any], list[str]]:
    analysis: dict[str, Any] = {"per_seed": {}}
    notes = []
    row = result.rows[0]
    c = row.config
    for seed, run in zip(result.settings.seeds, result.runs_of(c)):
        t = run.get("extra", {}).get("test")
        if not t:
            continue
        analysis["per_seed"][str(seed)] = t
        notes.append(
            f"seed {seed}: spread on misclassified {t['mean_x']:.4f} ± {t['se_x']:.4f} (SE, "
            f"n={t['n_x']}) vs correct {t['mean_y']:.4f} ± {t['se_y']:.4f} (n={t['n_y']}); "
            f"Welch t = {t['welch_t']:.1f}, p {p_text(t['welch_p'])}; AUC {t['auc']:.3f}, "
            f"rank-sum p {p_text(t['mw_p'])}")
    spread = paired(result.metric(c, "spread_wrong"), result.metric(c, "spread_correct"))
    gain = paired(result.metric(c, "mc_acc"), result.metric(c, "test_acc"))
    single = paired(result.metric(c, "single_acc"), result.metric(c, "test_acc"))
    analysis.update(spread_wrong_minus_correct=spread.to_dict(),
                    mc_minus_dropout_off=gain.to_dict(),
                    single_mask_minus_dropout_off=single.to_dict())
    notes += [
        f"over seeds: spread misclassified - correct {fmt_summary(spread, signed=True)} "
        f"({verdict(spread)})",
        f"accuracy of the averaged prediction ({result.options['samples']} masks) - dropout off: "
        f"{fmt_summary(gain, signed=True)} ({verdict(gain)}); one mask - dropout off: "
        f"{fmt_summary(single, signed=True)}",
    ]
    return analysis, notes


def plot_mc(result: ExperimentResult, path: Path) -> Path:
    """Spread of the MC prediction on correct and misclassified images; accuracy against T."""
    fig = figure(2)
    axes = fig.subplots(1, 2)
    runs = [r for r in result.runs_of(result.experiment.configs[0]) if r.get("extra")]
    if runs:
        bins = np.array(runs[0]["extra"]["bins"])
        centers = (bins[:-1] + bins[1:]) / 2
        for key, label, color in (("hist_correct", "correct", "C0"),
                                  ("hist_wrong", "misclassified", "C3")):
            counts = np.sum([r["extra"][key] for r in runs], axis=0).astype(float)
            density = counts / max(counts.sum(), 1.0) / np.diff(bins)
            axes[0].step(centers, density, where="mid", label=f"{label} ({int(counts.sum())})",
                         color=color)
        legend(axes[0], fontsize="small")
        acc = np.array([r["extra"]["acc_vs_samples"] for r in runs])
        band(axes[1], acc, "mean of T masks")
        off = result.rows[0].metrics["test_acc"]
        axes[1].axhline(off.mean, color="k", ls="--", label="dropout off (one pass)")
        single = result.rows[0].metrics["single_acc"]
        axes[1].axhline(single.mean, color="C3", ls=":", label="one mask")
        legend(axes[1], fontsize="small")
    style(axes[0], "sd over masks of the predicted class's probability "
          "(all seeds)", xlabel="spread")
    axes[0].set_ylabel("density")
    style(axes[1], "test accuracy of the averaged prediction", xlabel="T (masks averaged)")
    return save(fig, result, path)


EXPERIMENT = Experiment(
    name="mc-dropout",
    title="Monte Carlo dropout: predictive mean and spread over dropout masks",
    question="Keep dropout on at test time and average T passes: how accurate is the "
    "averaged prediction, and is its spread larger on misclassified images?",
    configs=(DROPOUT,),
    columns=(TEST_ACC, Column("single_acc", "one mask acc"),
             Column("mc_acc", "MC mean acc"), Column("spread_correct", "spread (correct)"),
             Column("spread_wrong", "spread (misclassified)"), Column("auc", "AUC", 3),
             Column("auc_entropy", "AUC (entropy)", 3)),
    run=_run,
    analyse=_analyse,
    options={"samples": 50},
    quick_options={"samples": 10},
    plot=plot_mc,
)
