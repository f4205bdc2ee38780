"""A run as a plain, picklable spec whose content hash is its identity.

:class:`RunSpec` holds everything that determines one training run: what the
run does (its ``procedure``), the backend and model, every hyperparameter, the
seed, the epochs, the data (sizes and a digest of the arrays) and the
procedure's own options. Two specs with the same fields are the same run,
wherever they come from (two experiments asking for the same configuration
share it); :attr:`RunSpec.key`, a hash of the fields, names its file in the run
store. The thread count is not part of it: it is recorded beside the result.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any

import numpy as np

from d2ldrop._io import json_safe

if TYPE_CHECKING:
    from d2ldrop.backends.kernels import Noise
    from d2ldrop.models import Init, Kind
    from d2ldrop.training import Updater


#: Bumped when what a procedure computes changes meaning: every key changes, so
#: runs of the older format are neither reused nor overwritten. 3: the jax
#: backend's keys became rbg keys (other masks, other initial weights).
RUN_FORMAT = 3
#: Hex digits of the SHA-256 kept in a key (64 bits: collisions are checked anyway).
KEY_DIGITS = 16

_FLOATS = ("lr", "dropout1", "dropout2", "weight_decay")
_INTS = ("seed", "epochs", "batch_size")


@dataclass(frozen=True)
class RunSpec:
    """One training run, as plain data (see the module docstring)."""

    procedure: str  # "train", an experiment's own run, "book" (train_ch3 as the chapter)
    backend: str
    seed: int
    epochs: int
    model: Kind = "scratch"
    lr: float = 0.5
    batch_size: int = 256
    dropout1: float = 0.0
    dropout2: float = 0.0
    noise: Noise = "dropout"
    weight_decay: float = 0.0
    init: Init = "normal"
    updater: Updater = "scratch"
    dtype: str = "float32"
    train_size: int | None = None  # None: every training image
    test_size: int | None = None
    data: str = ""  # digest of the arrays, see data_digest
    options: tuple[tuple[str, Any], ...] = ()  # sorted (name, value) pairs
    format: int = field(default=RUN_FORMAT)

    def __post_init__(self) -> None:
        # 0 and 0.0 (or numpy scalars) must give the same key.
        for name in _FLOATS:
            object.__setattr__(self, name, float(getattr(self, name)))
        for name in _INTS:
            object.__setattr__(self, name, int(getattr(self, name)))
        options = self.options.items() if isinstance(self.options, dict) else self.options
        object.__setattr__(self, "options",
                           tuple(sorted((str(k), _frozen(v)) for k, v in options)))

    def to_dict(self) -> dict[str, Any]:
        """The fields as JSON-able data (options as a dict)."""
        d = asdict(self)
        d["options"] = dict(self.options)
        return json_safe(d)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunSpec:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    @property
    def key(self) -> str:
        """The run's identity: a hash of its canonical JSON."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"),
                          allow_nan=False)
        return hashlib.sha256(text.encode()).hexdigest()[:KEY_DIGITS]

    @property
    def label(self) -> str:
        """A short description for log lines."""
        noise = "" if self.noise == "dropout" else f" {self.noise}"
        wd = f" wd {self.weight_decay:g}" if self.weight_decay else ""
        return (f"{self.backend} {self.model} p={self.dropout1:g}/{self.dropout2:g}{noise}{wd}"
                f" ({self.procedure}), seed {self.seed}")


def _frozen(value: Any) -> Any:
    """Lists as tuples, so that a spec stays hashable and picklable."""
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(v) for v in value)
    return json_safe(value)


def data_digest(*arrays: np.ndarray) -> str:
    """SHA-256 (first 16 hex digits) of the arrays' shapes, dtypes and bytes."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape};".encode())
        h.update(a.data.cast("B"))
    return h.hexdigest()[:KEY_DIGITS]
