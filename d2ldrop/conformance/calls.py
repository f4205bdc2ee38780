"""The checks that call a target again: seeding, its layer, and evaluation mode.

Split from :mod:`d2ldrop.conformance.stats` (which draws the masks the
statistics are computed on); these repeat calls and compare them exactly.
Evaluation is the identity for the "upscale" convention and x (1 - p), up to
the rounding :func:`eval_tolerance` allows, for "downscale".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from d2ldrop._dtypes import FLOAT_DTYPES, is_float, unit_roundoff
from d2ldrop._validate import SEED_LIMIT
from d2ldrop.conformance.checks import (
    Check,
    exact_check,
    fraction_check,
    kept_value_errors,
    na_check,
)
from d2ldrop.conformance.layout import Layout
from d2ldrop.conformance.target import Target
from d2ldrop.errors import InvalidArgumentError

NO_LAYER = {
    "scratch": "the chapter calls dropout_layer only when training; there is no layer object",
    "target": "the target declares no layer factory (Target(layer=...))",
}
NO_SEED = "the target declares no seeding (Target(seed=False))"


def other_seed(seed: int) -> int:
    """The seed of the "new seed, new mask" draw: ``seed + 1``, wrapping to stay a seed."""
    return (seed + 1) % SEED_LIMIT


def read(target: Target, out: Any, x: np.ndarray) -> np.ndarray:
    """The target's output as numpy; ValueError if its shape is not the input's."""
    y = target.to_numpy(out)
    if y.shape != x.shape:
        raise InvalidArgumentError(
            f"the target returned shape {y.shape} for an input of shape {x.shape}"
        )
    return y


def eval_tolerance(dtype: str) -> float:
    """Relative tolerance of a downscale evaluation output against x (1 - p).

    (1 - p) held in the input's dtype and the product rounded once: two
    roundings, (1 + u)^2 - 1 = 2u + u^2 (u the dtype's unit roundoff).
    """
    u = unit_roundoff(dtype) if dtype in FLOAT_DTYPES else 0.0
    return 2.0 * u + u * u


def eval_errors(x: np.ndarray, ev: np.ndarray, p: float, downscale: bool) -> tuple[int, str]:
    """(elements of an evaluation output that are wrong, a detail line).

    Upscale: ``ev`` must be x exactly; downscale: x (1 - p) within
    :func:`eval_tolerance`. A changed dtype makes every element wrong.
    """
    n = x.size
    x64, e64 = x.astype(np.float64), ev.astype(np.float64)
    if downscale:
        want = x64 * (1.0 - p)
        with np.errstate(invalid="ignore", divide="ignore"):
            rel = np.abs(e64 - want) / np.abs(want)
        tol = eval_tolerance(str(x.dtype))
        differ = int(np.count_nonzero(~(rel <= tol)))
        detail = f"{differ} of {n} values off x(1-p) by more than {tol:.2g} relative"
    else:
        differ = int(np.count_nonzero(e64 != x64))
        detail = f"{differ} of {n} values differ"
    if ev.dtype != x.dtype or not is_float(ev.dtype):
        differ = n
        detail += f"; dtype {x.dtype} -> {ev.dtype}"
    return differ, detail


def seed_checks(target: Target, impl: str, call: Callable[[np.ndarray], np.ndarray],
                x_const: np.ndarray, d1: np.ndarray, seed: int) -> list[tuple[str, Check]]:
    """Same seed, same mask; new seed, new mask."""
    if not target.seedable:
        return [("seed_same", na_check("seed_same", "same seed, same mask", NO_SEED)),
                ("seed_different", na_check("seed_different", "new seed, new mask", NO_SEED))]
    n = d1.size
    hint = f"; seeded with {target.seed_text()}" if impl == "target" else ""
    target.reseed(seed)
    again = call(x_const) == 0
    diff = int(np.count_nonzero(again != d1))
    if diff and impl == "target" and target.seed is True:
        hint += " (a target with a generator of its own declares Target(seed=...))"
    same_seed = exact_check(
        "seed_same", "same seed, same mask", diff,
        "seed(s); dropout(H) twice: masks identical", f"{diff} of {n} differ" + hint,
    )
    target.reseed(other_seed(seed))
    other = call(x_const) == 0
    same = int(np.count_nonzero(other == d1))
    new_seed = exact_check(
        "seed_different", "new seed, new mask", int(same == n),
        "seed(s + 1): the mask differs somewhere", f"{same} of {n} agree" + hint,
    )
    return [("seed_same", same_seed), ("seed_different", new_seed)]


def layer_checks(target: Target, impl: str, p: float, x_const: np.ndarray,
                 x_var: np.ndarray, seed: int, z: float, lay: Layout) -> list[tuple[str, Check]]:
    """The layer: identity (downscale: x (1 - p)) in evaluation, drops at rate p in
    training (its units, for a structured target), seeded."""
    down = target.downscale
    eval_title = "layer: eval is x(1-p)" if down else "layer: eval is identity"
    if target.layer is None:
        why = NO_LAYER.get(impl, NO_LAYER["target"])
        return [("layer_eval", na_check("layer_eval", eval_title, why)),
                ("layer_train", na_check("layer_train", "layer: training drops", why)),
                ("layer_seed", na_check("layer_seed", "layer: same seed, same mask", why))]
    n = x_var.size

    def run(layer: Any, x: np.ndarray, training: bool) -> np.ndarray:
        return read(target, layer(target.from_numpy(x), training=training), x)

    if target.seedable:
        target.reseed(seed)
    layer = target.layer(p)
    differ, detail = eval_errors(x_var, run(layer, x_var, False), p, down)
    wanted = "x(1-p) up to rounding" if down else "x exactly"
    out = [("layer_eval", exact_check(
        "layer_eval", eval_title, differ,
        f"call_layer(training=False) returns {wanted}, dtype kept", detail,
    ))]
    tr = run(layer, x_const, True)
    c = fraction_check(lay.unit_grid(tr == 0), p, z, name="layer_train",
                       title="layer: training drops")
    bad, _ = kept_value_errors(x_const, tr, p, down)
    c.detail += f"; {bad} values neither 0 nor {'x' if down else 'x/(1-p)'}"
    if lay.axes:
        v = lay.unit_view(tr == 0)
        mixed = int(np.count_nonzero(np.any(v != v[:, :1], axis=1)))
        c.detail += f"; {mixed} units not shared along axes {lay.axes}"
        bad += mixed
    if tr.dtype != x_const.dtype:
        bad += 1
        c.detail += f"; dtype {x_const.dtype} -> {tr.dtype}"
    if bad:
        c.passed = False
    out.append(("layer_train", c))
    if not target.seedable:
        return [*out, ("layer_seed", na_check("layer_seed", "layer: same seed, same mask",
                                              NO_SEED))]
    # A layer may own its generator; the adapters build layers whose seed
    # d2ldrop.seed reaches, so seed(s) and a new layer repeat the mask.
    masks = []
    for _ in range(2):
        target.reseed(seed)
        masks.append(run(target.layer(p), x_const, True) == 0)
    diff = int(np.count_nonzero(masks[0] != masks[1]))
    out.append(("layer_seed", exact_check(
        "layer_seed", "layer: same seed, same mask", diff,
        "seed(s); new layer; training call - twice: masks identical",
        f"{diff} of {n} differ",
    )))
    return out


def eval_call(target: Target, p: float, x_var: np.ndarray) -> tuple[Check, np.ndarray | None]:
    """``dropout(x, p, training=False)`` returns x exactly, dtype kept (downscale:
    x (1 - p) up to :func:`eval_tolerance`); also the output, None if it raised."""
    down = target.downscale
    if down:
        title, bound = ("training=False returns x(1-p)",
                        "dropout(x, p, training=False) == x(1-p) up to rounding, dtype kept")
    else:
        title, bound = "training=False returns x", "dropout(x, p, training=False) == x, dtype kept"
    try:
        ev = read(target, target.dropout(target.from_numpy(x_var), p, training=False), x_var)
    except Exception as err:  # a target without the keyword fails this check only
        return exact_check("eval_call", title, x_var.size, bound,
                           f"raised {type(err).__name__}: {err}".splitlines()[0][:200]), None
    differ, detail = eval_errors(x_var, ev, p, down)
    return exact_check("eval_call", title, differ, bound, detail), ev
