"""Keras 3's dropout on the torch backend (KERAS_BACKEND=torch, set before keras is
imported): the targets of :mod:`ecosystem._keras3`."""

from __future__ import annotations

from ecosystem import Entry, _keras3

ENV = "ecosystem"
#: Set before the module is imported (Keras reads it once, at import).
ENV_VARS = {"KERAS_BACKEND": "torch"}

versions = _keras3.versions


def entries() -> list[Entry]:
    return _keras3.entries("torch", "Keras 3 / PyTorch")
