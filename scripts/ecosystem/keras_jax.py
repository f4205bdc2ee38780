"""Keras 3's dropout on the jax backend (KERAS_BACKEND=jax, set before keras is
imported): the targets of :mod:`ecosystem._keras3`."""

from __future__ import annotations

from ecosystem import Entry, _keras3

ENV = "ecosystem"
#: Set before the module is imported (Keras reads it once, at import).
ENV_VARS = {"KERAS_BACKEND": "jax"}

versions = _keras3.versions


def entries() -> list[Entry]:
    return _keras3.entries("jax", "Keras 3 / JAX")
