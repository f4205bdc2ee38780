"""Why float32 lockstep runs cannot agree: the chapter's run amplifies rounding.

The numpy reference (no framework) trains the chapter's scratch model on the
lockstep run's inputs (seed, batch order, dropout masks) several times:

- ``f64``: in float64, the baseline;
- ``f64 + 2^-24``: in float64, from initial weights perturbed by float32's unit
  roundoff (each weight times 1 +- 2^-24): one float32 rounding, nothing else;
- ``f64 + 2^-52``: the same with float64's rounding (each weight times 1 +- 2^-52);
- ``f32``: in float32, the error every float32 framework makes at each step.

and prints, at some steps and after each epoch, the largest parameter difference
to the baseline, the difference of the batch loss and of the epoch's mean loss.
A difference the size of one float32 rounding grows to the size of the
differences between frameworks; one float64 rounding stays far below the bounds.

    python scripts/lockstep.py [--epochs 3] [--seed 0] [--data-dir D]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from d2ldrop.data import load_fashion_mnist_arrays
from d2ldrop.lockstep import draw_masks, mask_generator
from d2ldrop.models import normal_init
from d2ldrop.reference import ReferenceMLP

CHECKPOINTS = (1, 10, 20, 40, 50, 60, 70, 80, 100, 150, 235)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lr", type=float, default=0.5)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()

    data = load_fashion_mnist_arrays(data_dir=args.data_dir)
    images = data.train_images.reshape(len(data.train_images), -1)
    dropout = (0.2, 0.5)
    init = normal_init((784, 256, 256, 10), 0.01, args.seed)
    signs = np.random.default_rng(12345)

    def perturbed(rel: float) -> list[np.ndarray]:
        return [p.astype(np.float64) * (1 + rel * signs.choice([-1.0, 1.0], p.shape))
                for p in init]

    runs = {
        "f64": ReferenceMLP(init, dropout, "float64"),
        "f64 + 2^-24": ReferenceMLP(perturbed(2.0**-24), dropout, "float64"),
        "f64 + 2^-52": ReferenceMLP(perturbed(2.0**-52), dropout, "float64"),
        "f32": ReferenceMLP(init, dropout, "float32"),
    }
    others = [k for k in runs if k != "f64"]
    masks_rng = mask_generator(args.seed)
    order_rng = np.random.default_rng(args.seed)  # what data.Batches draws its orders from
    print(f"{'':>12}  {'f64 loss':>8}  " + "  ".join(
        f"{k + ': Δparams':>20} {'Δloss':>8}" for k in others))
    step, start = 0, time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        sums = dict.fromkeys(runs, 0.0)
        order = order_rng.permutation(len(images))
        for lo in range(0, len(images), args.batch_size):
            index = order[lo : lo + args.batch_size]
            x = images[index].astype(np.float32) / np.float32(255)
            y = data.train_labels[index].astype(np.int64)
            masks = draw_masks(masks_rng, len(index), (256, 256), dropout)
            losses = {k: r.step(x, y, masks, args.lr)[0] for k, r in runs.items()}
            for k, v in losses.items():
                sums[k] += v
            step += 1
            if step in CHECKPOINTS:
                print(_row(f"step {step}", runs, {k: v / len(index) for k, v in losses.items()},
                           others), flush=True)
        means = {k: v / len(images) for k, v in sums.items()}
        print(_row(f"epoch {epoch} mean", runs, means, others), flush=True)
    print(f"({time.perf_counter() - start:.0f} s)")
    return 0


def _row(label: str, runs: dict, losses: dict, others: list[str]) -> str:
    base = runs["f64"].params
    cells = []
    for k in others:
        dp = max(float(np.abs(a - b).max()) for a, b in zip(runs[k].params, base))
        cells.append(f"{dp:>20.1e} {abs(losses[k] - losses['f64']):>8.1e}")
    return f"{label:>12}  {losses['f64']:>8.4f}  " + "  ".join(cells)


if __name__ == "__main__":
    raise SystemExit(main())
