"""Dropouts with bugs that shipped in real libraries, one bug each, on numpy arrays.

Each function (or :class:`~d2ldrop.conformance.Target`) reproduces one bug class
as it shipped upstream; its docstring cites the issue or pull request, by
repository and number, where it was reported or fixed. Apart from its bug each is
the correct inverted dropout of :mod:`targets.correct`. :data:`SHIPPED` says, for
each (here and in :mod:`targets.shipped_state`), the dtype and p values of the run
that shows it and the suite items that must fail (exactly those); tests/test_zoo.py
runs them all.

Uniforms are drawn as the library drew them: a random integer of the dtype's
mantissa width, scaled to [0, 1) (``_uniform``), so a bug of low precision shows
at the precision where it shipped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

import numpy as np

from d2ldrop.conformance import Target
from d2ldrop.conformance.target import TARGET_DTYPES

#: Every float dtype this suite knows (bfloat16 where it does): the low-precision
#: bugs declare them all, so that the bfloat16 edge cases and statistics run.
ALL_DTYPES = tuple(d for d in ("bfloat16", "float16", "float32", "float64")
                   if d in TARGET_DTYPES)

#: Random mantissa bits of a uniform drawn in each dtype (the explicit bits: a
#: generator that fills the mantissa of a float in [1, 2) and subtracts 1).
_MANTISSA = {"bfloat16": 7, "float16": 10, "float32": 23, "float64": 52}


def _in_all_dtypes(fn) -> Target:
    """``fn`` as a target declaring :data:`ALL_DTYPES` (its docstring cites the bug)."""
    return Target(fn, backend="numpy", name=f"targets.shipped:{fn.__name__[1:]}",
                  dtypes=ALL_DTYPES)


def _check(x: np.ndarray, p: float) -> None:
    """targets.correct's validation, bfloat16 (ml_dtypes, not np.floating) included."""
    if not isinstance(p, (int, float)) or math.isnan(p) or not 0 <= p <= 1:
        raise ValueError(f"p must be in [0, 1], got {p!r}")
    if not (np.issubdtype(x.dtype, np.floating) or str(x.dtype) == "bfloat16"):
        raise TypeError(f"x must be floating, got {x.dtype}")


def _uniform(x: np.ndarray) -> np.ndarray:
    """U[0, 1) on a grid of 2^-m, m the mantissa width of ``x``'s dtype."""
    bits = _MANTISSA[str(x.dtype)]
    return np.random.randint(0, 2**bits, x.shape, dtype=np.int64) / float(2**bits)


def _scale(x: np.ndarray, p: float) -> np.generic:
    return x.dtype.type(1 / (1 - p))


def _zero(x: np.ndarray) -> np.generic:
    return x.dtype.type(0)


def _guarded(x: np.ndarray, p: float, training: bool) -> np.ndarray | None:
    """Validate, then x itself (p = 0, evaluation) or zeros (p = 1); None: go on."""
    _check(x, p)
    if not training or p == 0:
        return x
    if p == 1:
        return np.zeros_like(x)
    return None


def _correct(x: np.ndarray, p: float, *, training: bool = True) -> np.ndarray:
    early = _guarded(x, p, training)
    if early is not None:
        return early
    keep = np.random.random_sample(x.shape) >= p
    return np.where(keep, x * _scale(x, p), _zero(x))


#: The correct dropout these bugs depart from, in every dtype (the zoo's control).
correct = _in_all_dtypes(_correct)


# -- low precision ----------------------------------------------------------------------


def _uniforms_in_input_dtype(x: np.ndarray, p: float, *, training: bool = True) -> np.ndarray:
    """Uniforms drawn in the input's dtype: in bfloat16 they are multiples of 2^-7.

    TensorFlow 2.17's ``tf.nn.dropout`` on bfloat16 does this (measured for issue 21:
    it drops 0.00787 at rate 0.001 and 0.3045 at 0.3, i.e. 1/128 and 39/128);
    jwohlwend/boltz #553 is the same bug class in PyTorch code (``torch.rand`` in the
    input's bfloat16), fixed by drawing in float32 in jwohlwend/boltz #554. The drop
    fraction is ceil(128 p) / 128 instead of p.
    """
    early = _guarded(x, p, training)
    if early is not None:
        return early
    return np.where(_uniform(x) >= p, x * _scale(x, p), _zero(x))


uniforms_in_input_dtype = _in_all_dtypes(_uniforms_in_input_dtype)


def _p0_drops_where_u_is_zero(x: np.ndarray, p: float, *, training: bool = True) -> np.ndarray:
    """Keeps where u > p with uniforms in the input's dtype and no p = 0 guard: at
    p = 0 it drops wherever u == 0, once in 128 draws in bfloat16.

    jwohlwend/boltz #553 ("Small MSA dropout enabled during inference when dropout
    set to 0": ``rand > dropout`` with bfloat16 ``torch.rand``; about 16 of 8192 rows
    dropped at p = 0), fixed in jwohlwend/boltz #554; the same strict comparison at
    p = 0 in csarofeen/pytorch #1799.
    """
    _check(x, p)
    if not training:
        return x
    if p == 1:
        return np.zeros_like(x)
    return np.where(_uniform(x) > p, x * _scale(x, p), _zero(x))


p0_drops_where_u_is_zero = _in_all_dtypes(_p0_drops_where_u_is_zero)


def _bernoulli_le(x: np.ndarray, p: float, *, training: bool = True) -> np.ndarray:
    """Drops where bernoulli(p) is 1, with a bernoulli that returns 1 where u <= p: so
    bernoulli(0) returns ones where u == 0 and bernoulli(p) is 1 for every u when p
    is the largest uniform below 1 (1 - 2^-11 in float16: the edge case keeps nothing).

    pytorch/pytorch #15356 ("Bernoulli with zero probability can yield 1s": ``<=``
    where ``<`` was meant); its uniforms here are drawn in the input's dtype.
    """
    _check(x, p)
    if not training:
        return x
    if p == 1:
        return np.zeros_like(x)
    return np.where(~(_uniform(x) <= p), x * _scale(x, p), _zero(x))


bernoulli_le = _in_all_dtypes(_bernoulli_le)


def _promotes_to_float32(x: np.ndarray, p: float, *, training: bool = True) -> np.ndarray:
    """Computes ``(1 / (1 - p)) * mask * x`` with a float32 mask: a half-precision
    input comes back float32.

    ml-explore/mlx #1321 ("Dropout not preserving dtype": bfloat16 in, float32 out,
    from the order of the product); pytorch/pytorch #195705 (``alpha_dropout``'s
    reference returns float32 for bfloat16 and float16 inputs).
    """
    early = _guarded(x, p, training)
    if early is not None:
        return early
    mask = (np.random.random_sample(x.shape) >= p).astype(np.float32)
    with np.errstate(invalid="ignore"):  # 0 * inf, as the library computes it
        return np.float32(1 / (1 - p)) * mask * x


promotes_to_float32 = _in_all_dtypes(_promotes_to_float32)


def float64_scaled_in_float32(x: np.ndarray, p: float, *, training: bool = True) -> np.ndarray:
    """Keeps the dtype, but the scale 1 / (1 - p) is a float32: float64 kept values
    carry float32 rounding (a relative error near 1e-8 at p = 0.1).

    MXNet 1.9.1's ``npx.dropout`` does this (its p is a float32 parameter;
    d2ldrop/backends/mxnet/quirks.py documents it, measured); flagos-ai/FlagGems #174
    shows how the bits of 1 - p depend on the precision it is computed in.
    """
    early = _guarded(x, p, training)
    if early is not None:
        return early
    keep = np.random.random_sample(x.shape) >= p
    return np.where(keep, x * x.dtype.type(np.float32(1 / (1 - p))), _zero(x))


# -- scaling --------------------------------------------------------------------------------


def scaled_by_inverse_p(x: np.ndarray, p: float, *, training: bool = True) -> np.ndarray:
    """Divides the kept values by p instead of 1 - p (right only at p = 0.5).

    lmjohns3/theanets #123 ("Fix bug in BernoulliDropout: divide activations by
    (1-weight) rather than weight").
    """
    early = _guarded(x, p, training)
    if early is not None:
        return early
    keep = np.random.random_sample(x.shape) >= p
    return np.where(keep, x * x.dtype.type(1 / p), _zero(x))


def _backward_times_p(x: np.ndarray, p: float) -> tuple[np.ndarray, np.ndarray]:
    """The right forward, but a hand-written backward that multiplies the kept
    gradients by p instead of 1 / (1 - p).

    The slip of lmjohns3/theanets #123 (p for 1 - p) in a backward written apart
    from its forward, as in HomericIntelligence/Odyssey #2068 (a dropout backward
    that does not scale by 1/(1-p)).
    """
    _check(x, p)
    keep = np.random.random_sample(x.shape) >= p
    y = np.where(keep, x * _scale(x, p), _zero(x))
    return y, np.where(keep, x.dtype.type(p), _zero(x))


#: The bug is in the declared gradient (its docstring cites the reports).
backward_scaled_by_p = Target(
    _correct, backend="numpy", name="targets.shipped:backward_scaled_by_p",
    gradient=_backward_times_p,
)


def downscale_as_upscale(x: np.ndarray, p: float, *, training: bool = True) -> np.ndarray:
    """Paddle's ``mode='downscale_in_infer'`` (training: x * mask; evaluation:
    x * (1 - p)), declared with the default, upscale, convention.

    tensorlayer/TensorLayerX #31 (a Paddle model ported to a library without the
    mode: outputs off by the factor 1 - p); PaddlePaddle/PaddleCustomDevice #1346
    ("Fix dropout bug in downscale_in_infer mode").
    """
    _check(x, p)
    if not training:
        return x * x.dtype.type(1 - p)
    if p == 1:
        return np.zeros_like(x)
    return np.where(np.random.random_sample(x.shape) >= p, x, _zero(x))


#: The same dropout declared as what it is: the control, which must pass.
downscale_declared = Target(
    downscale_as_upscale, backend="numpy", name="targets.shipped:downscale_declared",
    convention="downscale",
) if "convention" in {f.name for f in fields(Target)} else None


def rate_one_gives_nan(x: np.ndarray, p: float, *, training: bool = True) -> np.ndarray:
    """No p = 1 guard: ``x * mask / (1 - p)`` is 0 / 0 = NaN everywhere at p = 1.

    google/flax #2055 ("Handle edge-case of rate==1.0 in Dropout layer": NaNs from
    the rescaling); gorgonia/gorgonia #399 dropped its p = 1 test for the same NaN.
    """
    _check(x, p)
    if not training or p == 0:
        return x
    keep = (np.random.random_sample(x.shape) >= p).astype(x.dtype)
    with np.errstate(divide="ignore", invalid="ignore"):
        return x * keep / x.dtype.type(1 - p)


# -- p validation ---------------------------------------------------------------------------


def nan_rate_disables(x: np.ndarray, p: float, *, training: bool = True) -> np.ndarray:
    """Applies dropout only ``if rate > 0``, with no other validation: a NaN or a
    negative rate is a silent pass-through, a rate above 1 keeps nothing.

    google/flax #5497 (``flax.nnx.dot_product_attention``: "negative/NaN silently
    disables dropout", guarded by ``dropout_rate > 0.0``).
    """
    if not np.issubdtype(x.dtype, np.floating) and str(x.dtype) != "bfloat16":
        raise TypeError(f"x must be floating, got {x.dtype}")
    if not training or not p > 0:
        return x
    if p == 1:
        return np.zeros_like(x)
    keep = np.random.random_sample(x.shape) >= p
    return np.where(keep, x * _scale(x, p), _zero(x))


# -- what each must fail ------------------------------------------------------------------------


@dataclass(frozen=True)
class Shipped:
    """How a shipped bug is shown: the run (dtype, p values) and what fails in it."""

    fails: frozenset[str]
    dtype: str = "float32"
    ps: tuple[float, ...] = (0.1, 0.5, 0.9)
    #: The module that defines it.
    module: str = "targets.shipped"
    #: What the run needs of this d2ldrop's suite: a dtype ("bfloat16") or a Target
    #: capability ("broadcast_axes"), else "".
    needs: str = ""


def _at(checks: str, ps: tuple[float, ...] = (0.1, 0.5, 0.9)) -> set[str]:
    return {f"{c}[p={p:g}]" for c in checks.split() for p in ps}


#: Each shipped bug -> the run that shows it and exactly the items that fail in it.
SHIPPED: dict[str, Shipped] = {
    # In bfloat16 the uniforms are multiples of 2^-7: the drop fraction at p = 0.01
    # is 2/128, and the masks of two calls agree too often; in float16 (multiples
    # of 2^-10) the edge cases just below p = 1 keep nothing.
    "uniforms_in_input_dtype": Shipped(frozenset(
        {"fraction[p=0.01]", "variance[p=0.01]", "agreement[p=0.01]", "rows[p=0.01]",
         "columns[p=0.01]", "mean[p=0.9]", "agreement[p=0.9]",
         "edge[p=1-2^-11,f16]", "edge[p=1-1e-4,f16]"}),
        dtype="bfloat16", ps=(0.01, 0.1, 0.5, 0.9), needs="bfloat16"),
    # p = 0 over 2^20 elements drops where u == 0: once in 128 in bfloat16, once in
    # 1024 in float16.
    "p0_drops_where_u_is_zero": Shipped(frozenset(
        {"edge[p=0,large,bf16]", "edge[p=0,large,f16]", "edge[p=1-2^-11,f16]",
         "edge[p=1-1e-4,f16]"}), needs="bfloat16"),
    "bernoulli_le": Shipped(frozenset(
        {"edge[p=0,large,bf16]", "edge[p=0,large,f16]", "edge[p=1-2^-11,f16]",
         "edge[p=1-1e-4,f16]"}), needs="bfloat16"),
    "promotes_to_float32": Shipped(frozenset(
        {"edge[bfloat16]", "edge[float16]", "edge[float64]", "edge[p=1-2^-11,f16]",
         "edge[p=1-1e-4,f16]"}), needs="bfloat16"),
    "float64_scaled_in_float32": Shipped(
        frozenset({"edge[float64]", "values[p=0.1]"}), dtype="float64"),
    "scaled_by_inverse_p": Shipped(frozenset(
        _at("mean variance values", (0.1, 0.9))
        | {"edge[float16]", "edge[float64]", "edge[p=1-2^-11,f16]", "edge[p=1-1e-4,f16]",
           "edge[p=1-1e-4,f32]"})),
    "backward_scaled_by_p": Shipped(frozenset(_at("gradient"))),
    "downscale_as_upscale": Shipped(frozenset(
        _at("mean variance values eval_call")
        | {"edge[float16]", "edge[float64]", "edge[0-d]", "edge[nonfinite]",
           "edge[p=1-2^-11,f16]", "edge[p=1-1e-4,f16]", "edge[p=1-1e-4,f32]"})),
    "rate_one_gives_nan": Shipped(frozenset({"edge[p=1]", "edge[p=1,nonfinite]"})),
    "nan_rate_disables": Shipped(frozenset({"edge[p=nan]", "edge[p<0]", "edge[p>1]"})),
    "ignores_training": Shipped(frozenset(_at("eval_call"))),
    "layer_drops_in_eval": Shipped(frozenset(_at("layer_eval"))),
    "seed_read_at_trace": Shipped(frozenset(_at("seed_same"))),
    "key_frozen_at_trace": Shipped(frozenset(_at("agreement seed_different"))),
    "seed_by_address": Shipped(frozenset(_at("seed_same"))),
    # Whole samples dropped where channels were declared: the units (sample,
    # channel) are not independent, so every statistic of them fails.
    "dropout2d_on_3d_input": Shipped(frozenset(
        _at("fraction mean variance rows columns lag1") - {"mean[p=0.1]"}
        | {"edge[nonfinite]"}), needs="broadcast_axes"),
    # Shared along the wrong axis: the structure check names it.
    "spatial_dropout_channels_first": Shipped(frozenset(
        _at("structure rows lag1 agreement")
        | {"fraction[p=0.1]", "fraction[p=0.5]", "mean[p=0.1]", "mean[p=0.9]",
           "variance[p=0.1]", "variance[p=0.5]", "columns[p=0.5]", "columns[p=0.9]"}),
        needs="broadcast_axes"),
    # Everything dropped: every statistic of the mask fails, and every edge case
    # that expects some kept values.
    "bernoulli_of_int": Shipped(frozenset(
        _at("fraction mean variance agreement rows columns lag1 seed_different")
        | {"edge[float16]", "edge[float64]", "edge[nonfinite]", "edge[p=1-2^-11,f16]",
           "edge[p=1-1e-4,f16]", "edge[p=1-1e-4,f32]"})),
}

#: The bugs defined in :mod:`targets.shipped_state` (state and structure).
STATE = ("ignores_training", "layer_drops_in_eval", "seed_read_at_trace",
         "key_frozen_at_trace", "seed_by_address", "dropout2d_on_3d_input",
         "spatial_dropout_channels_first", "bernoulli_of_int")
SHIPPED.update({name: replace(SHIPPED[name], module="targets.shipped_state")
                for name in STATE})
