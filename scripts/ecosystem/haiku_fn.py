"""dm-haiku's functional ``hk.dropout(rng, rate, x)`` (it has no evaluation mode: the
caller skips it, as haiku's examples do)."""

from __future__ import annotations

import haiku as hk
import jax

from d2ldrop.conformance import Target
from ecosystem import Entry, KeyStream

ENV = "ecosystem"
KEYS = KeyStream()


def versions() -> dict[str, str]:
    return {"dm-haiku": hk.__version__, "jax": jax.__version__}


def _dropout(x: jax.Array, p: float, *, training: bool = True) -> jax.Array:
    return hk.dropout(KEYS.next(), p, x) if training else x


def entries() -> list[Entry]:
    return [Entry("haiku.dropout", "dm-haiku",
                  lambda **c: Target(_dropout, backend="jax", seed=KEYS.seed, **c))]
