"""Shipped dropout bugs of state and structure: training flags, seeds, traced
randomness and structured masks (the others are in :mod:`targets.shipped`, whose
:data:`~targets.shipped.SHIPPED` says what each must fail).
"""

from __future__ import annotations

import math
from dataclasses import fields

import numpy as np

from d2ldrop.conformance import Target
from targets.shipped import _correct, _guarded, _scale, _zero

# -- structured dropout -----------------------------------------------------------------------


def _structured(x: np.ndarray, p: float, training: bool, mask_shape) -> np.ndarray:
    early = _guarded(x, p, training)
    if early is not None:
        return early
    keep = np.random.random_sample(mask_shape(x.shape)) >= p
    return np.where(keep, x * _scale(x, p), _zero(x))


def _channels(x: np.ndarray, p: float, *, training: bool = True) -> np.ndarray:
    return _structured(x, p, training, lambda s: s[:2] + (1,) * (len(s) - 2))


#: The control: channel dropout of (N, C, L), one mask value per sample and channel.
channel_dropout = Target(
    _channels, backend="numpy", name="targets.shipped_state:channel_dropout",
    broadcast_axes=(2,), ndim=3,
) if "broadcast_axes" in {f.name for f in fields(Target)} else None


def _dropout2d_on_3d(x: np.ndarray, p: float, *, training: bool = True) -> np.ndarray:
    """Channel dropout of (N, C, L) inputs that reads them as one unbatched (C, H, W)
    image: one mask value per *first* axis, shared along the other two, so whole
    samples are dropped instead of channels.

    pytorch/pytorch #69801 ("Dropout2d doesn't drop channels for (C, H, W)") led to
    pytorch/pytorch #69885, which made Dropout2d read 3-D input as (C, H, W) and
    silently changed what it drops for (N, C, L) users (pytorch/pytorch #77081, "Did
    Dropout2d change for Pytorch 1.11?"; reverted with a warning in
    pytorch/pytorch #79549).
    """
    return _structured(x, p, training, lambda s: (s[0],) + (1,) * (len(s) - 1)
                       if len(s) > 2 else s)


#: Declared as channel dropout of (N, C, L) (a mask value per sample and channel,
#: shared along L); the mask is shared along C too, so the units are not independent.
dropout2d_on_3d_input = Target(
    _dropout2d_on_3d, backend="numpy", name="targets.shipped_state:dropout2d_on_3d_input",
    broadcast_axes=(2,), ndim=3,
) if "broadcast_axes" in {f.name for f in fields(Target)} else None


def _channels_first(x: np.ndarray, p: float, *, training: bool = True) -> np.ndarray:
    """SpatialDropout1D of channels-last (N, L, C) inputs that shares its mask along the
    last axis, as if the input were channels-first (N, C, L): it drops time steps,
    not channels.

    keras-team/keras #18802 ("Support channels_first in SpatialDropout": the layers
    assumed one layout); keras-team/keras #9841 ("The noise_shape param in Dropout is
    strange": which axes share the mask is easy to get backwards).
    """
    return _structured(x, p, training, lambda s: s[:-1] + (1,) if len(s) > 2 else s)


#: Declared as Keras' SpatialDropout1D on (N, L, C): shared along L (axis 1).
spatial_dropout_channels_first = Target(
    _channels_first, backend="numpy", name="targets.shipped_state:spatial_dropout_channels_first",
    broadcast_axes=(1,), ndim=3,
) if "broadcast_axes" in {f.name for f in fields(Target)} else None



# -- training and evaluation -----------------------------------------------------------------


def ignores_training(x: np.ndarray, p: float, *, training: bool = True) -> np.ndarray:
    """A functional dropout that drops whatever ``training`` says.

    pytorch/pytorch #26338 ("Behavior of F.dropout in eval mode": the functional form
    keeps dropping after ``model.eval()``); pytorch/pytorch #11999 (the same report).
    """
    return _correct(x, p, training=True)


class _LayerIgnoringEval:
    """A layer that keeps dropping in evaluation.

    torch/nn's SpatialDropout did not check its train flag
    (cardwing/Codes-for-Lane-Detection #116 had to disable it by hand);
    miguelvr/dropblock #29 asks the same of a dropout-like layer.
    """

    def __init__(self, p: float) -> None:
        self.p = p

    def __call__(self, x: np.ndarray, *, training: bool) -> np.ndarray:
        return _correct(x, self.p, training=True)


#: The bug is in the declared layer (its docstring cites the reports).
layer_drops_in_eval = Target(
    _correct, backend="numpy", name="targets.shipped_state:layer_drops_in_eval",
    layer=_LayerIgnoringEval,
)


# -- randomness -------------------------------------------------------------------------------

_traced: dict[tuple, np.random.Generator] = {}


def seed_read_at_trace(x: np.ndarray, p: float, *, training: bool = True) -> np.ndarray:
    """A compiled dropout whose generator is seeded once, when the function is traced
    for an input signature: later ``seed(s)`` calls do not reach it, so the same seed
    does not repeat the mask.

    tensorflow/tensorflow #33297 ("Surprising random seed behavior when using
    @tf.function": the global seed is read when a function is traced, not when it
    is called); keras-team/keras #17548 (a Dropout seed changed by each new
    tf.function).
    """
    early = _guarded(x, p, training)
    if early is not None:
        return early
    key = (x.shape, str(x.dtype), p)
    if key not in _traced:  # "tracing": the seed is read now, once
        _traced[key] = np.random.default_rng(np.random.randint(2**31))
    keep = _traced[key].random(x.shape) >= p
    return np.where(keep, x * _scale(x, p), _zero(x))


_frozen: dict[tuple, np.ndarray] = {}


def key_frozen_at_trace(x: np.ndarray, p: float, *, training: bool = True) -> np.ndarray:
    """The mask is drawn once, when the function is traced, and baked in: every call
    with that input signature drops the same elements, whatever the seed.

    jax-ml/jax #170 (a fixed key in stax.Dropout: "always use the same fixed pattern
    of dropped out units"); patrick-kidger/equinox #498 (a key stored on the module:
    "the exact same dropout mask every time"); tinygrad/tinygrad #1957 ("JIT doesn't
    work with dropout").
    """
    early = _guarded(x, p, training)
    if early is not None:
        return early
    key = (x.shape, str(x.dtype), p)
    if key not in _frozen:
        _frozen[key] = np.random.random_sample(x.shape) >= p
    return np.where(_frozen[key], x * _scale(x, p), _zero(x))


_seed_arrays: list[np.ndarray] = []
_address_rng = [np.random.default_rng(0)]


def _seed_by_address(s: int) -> None:
    """Seeds the generator with the memory address of the seed, not its value.

    facebookresearch/xformers #173 ("Dropout uses the *memory address* of seeds
    instead of reading seeds from memory": the same seed, a different mask).
    """
    # Kept alive, so that every seed array has an address of its own.
    _seed_arrays.append(np.array([s], dtype=np.int64))
    _address_rng[0] = np.random.default_rng(_seed_arrays[-1].ctypes.data)


def _address_dropout(x: np.ndarray, p: float, *, training: bool = True) -> np.ndarray:
    early = _guarded(x, p, training)
    if early is not None:
        return early
    keep = _address_rng[0].random(x.shape) >= p
    return np.where(keep, x * _scale(x, p), _zero(x))


#: The bug is in the declared seeding (its docstring cites the report).
seed_by_address = Target(
    _address_dropout, backend="numpy", name="targets.shipped_state:seed_by_address",
    seed=_seed_by_address,
)


def bernoulli_of_int(x: np.ndarray, p: float, *, training: bool = True) -> np.ndarray:
    """Keeps with bernoulli(int(1 - p)): the probability truncated to 0, so every
    p in (0, 1) drops everything.

    BVLC/caffe #63 ("Bernoullirngbugfix": ``boost::bernoulli_distribution<int>``
    generated all 0s unless p == 1 exactly).
    """
    early = _guarded(x, p, training)
    if early is not None:
        return early
    keep = np.random.random_sample(x.shape) < math.trunc(1 - p)
    return np.where(keep, x * _scale(x, p), _zero(x))
