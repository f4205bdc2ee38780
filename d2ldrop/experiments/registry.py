"""The eight experiments: the chapter's seven exercises and Monte Carlo dropout.

Each entry says which configurations are trained (one row each), which metrics
the table shows, which row the others are compared with (paired by seed), what
a run does beyond :func:`train_and_evaluate`, and how the figure is drawn.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from d2ldrop.experiments import plots
from d2ldrop.experiments.inference import compare_groups, paired, summarize
from d2ldrop.experiments.runner import (
    Column,
    Config,
    Experiment,
    ExperimentResult,
    RunContext,
    RunResult,
    build_net,
    evaluate,
    fmt_summary,
    log_softmax,
    logits_of,
    train_and_evaluate,
)

# The chapter's dropout and the model without it.
NONE = Config("none")
DROPOUT = Config("dropout 0.2/0.5", 0.2, 0.5)
#: Weight decay of the `weight-decay` experiment: with lr 0.5 it shrinks every
#: weight by 0.5 * 1e-4 per step, a factor e^-0.12 over ten epochs of 235 steps
#: (before the gradient pulls back). A one-seed pilot with 3e-4 and 1e-3 lost
#: more test accuracy (about 2 points at 10 epochs, no dropout).
WEIGHT_DECAY = 1e-4

TEST_ACC = Column("test_acc", "test acc")
TRAIN_EVAL = Column("train_eval_acc", "train acc (dropout off)")
#: The final epoch's test accuracy swings by a point or more from epoch to epoch
#: at lr 0.5; the mean of the last three epochs is steadier.
LAST3 = Column("test_acc_last3", "test acc, last 3 epochs")
GAP = Column("gap", "gap")
STANDARD = (TRAIN_EVAL, TEST_ACC, LAST3, GAP)
COMPARE = ("test_acc", "test_acc_last3", "gap")


def _p(x: float) -> str:
    """A p-value for text: '3.1e-05', or '< 1e-300' where double precision ends."""
    if not math.isfinite(x):
        return "n/a"
    return "< 1e-300" if x < 1e-300 else f"{x:.2g}"


def _verdict(s: Any) -> str:
    if s.n < 2:
        return "one seed: no interval"
    return "the 95% CI excludes 0" if s.excludes_zero else "within the spread (CI includes 0)"


# -- 1. dropout-grid ---------------------------------------------------------------------

GRID = (0.0, 0.2, 0.5)


def _grid_label(p1: float, p2: float) -> str:
    return f"p1={p1} p2={p2}"


def _analyse_grid(result: ExperimentResult) -> tuple[dict[str, Any], list[str]]:
    best = max(result.rows, key=lambda r: r.metrics["test_acc"].mean)
    swapped = result.row(_grid_label(0.5, 0.2)).vs_baseline["test_acc"]
    notes = [
        f"best mean test accuracy: {best.config.label} "
        f"({fmt_summary(best.metrics['test_acc'])})",
        f"swapped (p1=0.5, p2=0.2) minus the chapter's (p1=0.2, p2=0.5): test acc "
        f"{fmt_summary(swapped, signed=True)}: {_verdict(swapped)}",
    ]
    return {"best": best.config.label, "swapped_minus_chapter": swapped.to_dict()}, notes


# -- 2. epochs ---------------------------------------------------------------------------


def _analyse_epochs(result: ExperimentResult) -> tuple[dict[str, Any], list[str]]:
    analysis, notes = {}, []
    for row in result.rows:
        loss = result.curves(row.config, "test_loss")
        if loss.size == 0:
            continue
        best = np.nanargmin(loss, axis=1)
        rise = loss[:, -1] - np.nanmin(loss, axis=1)
        analysis[row.config.label] = {
            "min_test_loss_epoch": summarize(best + 1.0).to_dict(),
            "test_loss_rise_after_min": summarize(rise).to_dict(),
        }
        notes.append(
            f"{row.config.label}: test loss lowest at epoch "
            f"{fmt_summary(summarize(best + 1.0), 1)}, then rises by "
            f"{fmt_summary(summarize(rise))}; final gap {fmt_summary(row.metrics['gap'])}"
        )
    return analysis, notes


# -- 3. activations ----------------------------------------------------------------------

PROBE = 1000  # training images whose hidden activations are measured
STATS = ("mean", "var", "zeros")


def activation_stats(H: np.ndarray) -> dict[str, float]:
    """Mean activation, mean per-unit variance over the images, share of exact zeros."""
    H = np.asarray(H, np.float64)
    return {"mean": float(H.mean()), "var": float(H.var(axis=0, ddof=1).mean()),
            "zeros": float(np.mean(H == 0.0))}


def _run_activations(ctx: RunContext) -> RunResult:
    from d2ldrop.data import Batches

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


# -- 4. test-time ------------------------------------------------------------------------


def _run_test_time(ctx: RunContext) -> RunResult:
    net = build_net(ctx)
    result = train_and_evaluate(ctx, net)
    if result.get("error"):
        return result
    # Dropout kept on at test time: every pass draws new masks; the mean over a
    # few passes of the accuracy (not of the predictions, that is mc-dropout).
    repeats = ctx.options["repeats"]
    m = result["metrics"]
    for split, (images, labels) in (("test", ctx.data.test), ("train_eval", ctx.data.eval_train)):
        accs, losses = zip(*(evaluate(net, images, labels, training=True)
                             for _ in range(repeats)))
        m[f"{split}_acc_on"] = float(np.mean(accs))
        m[f"{split}_loss_on"] = float(np.mean(losses))
        m[f"{split}_acc_on_mask_sd"] = float(np.std(accs, ddof=1)) if repeats > 1 else math.nan
    return result


def _analyse_test_time(result: ExperimentResult) -> tuple[dict[str, Any], list[str]]:
    analysis, notes = {}, []
    for row in result.rows:
        c = row.config
        off_on = paired(result.metric(c, "test_acc"), result.metric(c, "test_acc_on"))
        train = paired(result.metric(c, "train_eval_acc"), result.metric(c, "train_eval_acc_on"))
        loss = paired(result.metric(c, "test_loss_on"), result.metric(c, "test_loss"))
        analysis[c.label] = {"test_acc_off_minus_on": off_on.to_dict(),
                             "train_acc_off_minus_on": train.to_dict(),
                             "test_loss_on_minus_off": loss.to_dict()}
        notes.append(f"{c.label}: test acc off - on {fmt_summary(off_on, signed=True)} "
                     f"({_verdict(off_on)}); test loss on - off "
                     f"{fmt_summary(loss, signed=True)}")
    return analysis, notes


# -- 5. weight-decay ---------------------------------------------------------------------

WD = Config(f"weight decay {WEIGHT_DECAY:g}", weight_decay=WEIGHT_DECAY)
BOTH = Config(f"dropout + weight decay {WEIGHT_DECAY:g}", 0.2, 0.5, weight_decay=WEIGHT_DECAY)


def _analyse_additivity(result: ExperimentResult) -> tuple[dict[str, Any], list[str]]:
    """Effects relative to neither, and the interaction both - dropout - wd + neither."""
    analysis, notes = {}, []
    for key in COMPARE:
        none, d, w, b = (np.array(result.metric(c, key)) for c in (NONE, DROPOUT, WD, BOTH))
        effects = {"dropout": paired(d, none), "weight decay": paired(w, none),
                   "both": paired(b, none), "sum of the two": summarize((d - none) + (w - none)),
                   "interaction": summarize(b - d - w + none)}
        analysis[key] = {k: s.to_dict() for k, s in effects.items()}
        inter = effects["interaction"]
        notes.append(f"{key}: effect vs neither: " + "; ".join(
            f"{k} {fmt_summary(s, signed=True)}" for k, s in effects.items() if k != "interaction"))
        notes.append(f"{key}: interaction (both - dropout - weight decay + neither) "
                     f"{fmt_summary(inter, signed=True)}: "
                     + ("additive within the spread" if not inter.excludes_zero and inter.n >= 2
                        else _verdict(inter) + ", not additive"))
    return analysis, notes


# -- 6, 7. dropconnect, noise ------------------------------------------------------------


def _analyse_vs_none(result: ExperimentResult) -> tuple[dict[str, Any], list[str]]:
    analysis, notes = {}, []
    for row in result.rows:
        if row.config == NONE:
            continue
        diffs = {k: paired(result.metric(row.config, k), result.metric(NONE, k)) for k in COMPARE}
        analysis[row.config.label] = {f"{k}_vs_none": d.to_dict() for k, d in diffs.items()}
        notes.append(f"{row.config.label} vs none: " + "; ".join(
            f"{k} {fmt_summary(d, signed=True)} ({_verdict(d)})" for k, d in diffs.items()))
    return analysis, notes


# -- 8. mc-dropout -----------------------------------------------------------------------

#: Bins of the spread histograms: the sd of a probability is at most 0.5.
SPREAD_BINS = np.linspace(0.0, 0.5, 51)


def softmax(logits: np.ndarray) -> np.ndarray:
    return np.exp(log_softmax(logits))


def mc_predict(net: Any, images: np.ndarray, labels: np.ndarray, samples: int) -> np.ndarray:
    """Class probabilities of ``samples`` passes with dropout on: (samples, N, classes)."""
    return np.stack([softmax(logits_of(net, images, labels, training=True))
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


def _run_mc(ctx: RunContext) -> RunResult:
    net = build_net(ctx)
    result = train_and_evaluate(ctx, net)
    if result.get("error"):
        return result
    images, labels = ctx.data.test
    mc = mc_summary(mc_predict(net, images, labels, ctx.options["samples"]), labels)
    result["metrics"].update(mc["metrics"])
    result["extra"] = mc["extra"]
    return result


def _analyse_mc(result: ExperimentResult) -> tuple[dict[str, Any], list[str]]:
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
            f"Welch t = {t['welch_t']:.1f}, p {_p(t['welch_p'])}; AUC {t['auc']:.3f}, "
            f"rank-sum p {_p(t['mw_p'])}")
    spread = paired(result.metric(c, "spread_wrong"), result.metric(c, "spread_correct"))
    gain = paired(result.metric(c, "mc_acc"), result.metric(c, "test_acc"))
    single = paired(result.metric(c, "single_acc"), result.metric(c, "test_acc"))
    analysis.update(spread_wrong_minus_correct=spread.to_dict(),
                    mc_minus_dropout_off=gain.to_dict(),
                    single_mask_minus_dropout_off=single.to_dict())
    notes += [
        f"over seeds: spread misclassified - correct {fmt_summary(spread, signed=True)} "
        f"({_verdict(spread)})",
        f"accuracy of the averaged prediction ({result.options['samples']} masks) - dropout off: "
        f"{fmt_summary(gain, signed=True)} ({_verdict(gain)}); one mask - dropout off: "
        f"{fmt_summary(single, signed=True)}",
    ]
    return analysis, notes


# -- the registry ------------------------------------------------------------------------

_EXPERIMENTS = (
    Experiment(
        name="dropout-grid",
        title="Exercise 1: the two dropout probabilities, including swapped",
        question="What happens if you change the dropout probabilities of the first and "
        "second layers, in particular if you swap them (0.5 first, then 0.2)?",
        configs=tuple(Config(_grid_label(a, b), a, b) for a in GRID for b in GRID),
        columns=STANDARD,
        baseline=_grid_label(0.2, 0.5),
        compare=COMPARE,
        analyse=_analyse_grid,
        plot=plots.plot_grid,
    ),
    Experiment(
        name="epochs",
        title="Exercise 2: many more epochs, with and without dropout",
        question="Increase the number of epochs and compare the results obtained when "
        "using dropout with those when not using it.",
        configs=(NONE, DROPOUT),
        columns=(*STANDARD, Column("test_loss", "test loss"),
                 Column("best_test_acc", "best test acc"), Column("best_epoch", "best epoch", 1)),
        baseline="none",
        compare=(*COMPARE, "test_loss"),
        analyse=_analyse_epochs,
        epochs=30,
        plot=plots.plot_epochs,
    ),
    Experiment(
        name="activations",
        title="Exercise 3: hidden activations over training, with and without dropout",
        question="What is the variance of the activations in each hidden layer when dropout "
        "is and is not applied? Draw a plot to show how this quantity evolves over time.",
        configs=(NONE, DROPOUT),
        columns=(*(Column(f"h{i}_{s}_eval", f"h{i} {s}") for i in (1, 2) for s in STATS),
                 TEST_ACC),
        run=_run_activations,
        baseline="none",
        compare=("h1_var_eval", "h2_var_eval"),
        options={"probe": PROBE},
        plot=plots.plot_activations,
    ),
    Experiment(
        name="test-time",
        title="Exercise 4: dropout off at test time, against kept on",
        question="Why is dropout not typically used at test time?",
        configs=(DROPOUT, Config("dropout 0.5/0.5", 0.5, 0.5)),
        columns=(TEST_ACC, Column("test_acc_on", "test acc (dropout on)"), TRAIN_EVAL,
                 Column("train_eval_acc_on", "train acc (dropout on)"),
                 Column("test_loss", "test loss"), Column("test_loss_on", "test loss (on)")),
        run=_run_test_time,
        analyse=_analyse_test_time,
        options={"repeats": 5},
        quick_options={"repeats": 2},
        plot=plots.plot_test_time,
    ),
    Experiment(
        name="weight-decay",
        title="Exercise 5: dropout and weight decay, alone and together",
        question="Compare the effects of using dropout and weight decay. What happens when "
        "dropout and weight decay are used at the same time? Are the results additive?",
        configs=(NONE, DROPOUT, WD, BOTH),
        columns=STANDARD,
        baseline="none",
        compare=COMPARE,
        analyse=_analyse_additivity,
        plot=plots.plot_interaction,
    ),
    Experiment(
        name="dropconnect",
        title="Exercise 6: dropout on individual weights (DropConnect)",
        question="What happens if we apply dropout to the individual weights of the weight "
        "matrix rather than the activations?",
        configs=(NONE, DROPOUT, Config("dropconnect 0.2/0.5", 0.2, 0.5, noise="dropconnect")),
        columns=STANDARD,
        baseline=DROPOUT.label,
        compare=COMPARE,
        analyse=_analyse_vs_none,
        plot=plots.plot_curves_and_bars,
    ),
    Experiment(
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
        analyse=_analyse_vs_none,
        plot=plots.plot_curves_and_bars,
    ),
    Experiment(
        name="mc-dropout",
        title="Monte Carlo dropout: predictive mean and spread over dropout masks",
        question="Keep dropout on at test time and average T passes: how accurate is the "
        "averaged prediction, and is its spread larger on misclassified images?",
        configs=(DROPOUT,),
        columns=(TEST_ACC, Column("single_acc", "one mask acc"),
                 Column("mc_acc", "MC mean acc"), Column("spread_correct", "spread (correct)"),
                 Column("spread_wrong", "spread (misclassified)"), Column("auc", "AUC", 3),
                 Column("auc_entropy", "AUC (entropy)", 3)),
        run=_run_mc,
        analyse=_analyse_mc,
        options={"samples": 50},
        quick_options={"samples": 10},
        plot=plots.plot_mc,
    ),
)

#: The experiments by name, in the chapter's order.
EXPERIMENTS: dict[str, Experiment] = {e.name: e for e in _EXPERIMENTS}
NAMES: tuple[str, ...] = tuple(EXPERIMENTS)


def get_experiment(name: str) -> Experiment:
    """The experiment called ``name``; ValueError listing the names otherwise."""
    try:
        return EXPERIMENTS[name]
    except KeyError:
        raise ValueError(f"Unknown experiment {name!r}. Known: {', '.join(NAMES)}") from None
