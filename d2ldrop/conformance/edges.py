"""Edge cases of dropout (p at and beyond its limits, odd dtypes and inputs).

Each case is run on one backend and implementation; what comes out is
described by a deterministic label (:func:`describe_output`) or, for an
exception, its type. The chapter's ``dropout_layer`` must give
:data:`SCRATCH_EXPECTED` on every backend; where a framework's own dropout
differs, the difference is documented in its quirks module
(``d2ldrop/backends/<name>/quirks.py``, docs/conformance.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from d2ldrop._backend import get_adapter
from d2ldrop._dtypes import is_float, np_dtype
from d2ldrop._io import json_safe
from d2ldrop.backends.quirks import quirks_of
from d2ldrop.conformance.bounds import rtol_of
from d2ldrop.conformance.impls import check_impl, impl_target
from d2ldrop.conformance.target import NUMPY, Target
from d2ldrop.errors import InvalidArgumentError, builtin_name

_P16 = float(np.nextafter(np.float16(1), np.float16(0)))  # 1 - 2**-11
_P32 = float(np.nextafter(np.float32(1), np.float32(0)))  # 1 - 2**-24


@dataclass(frozen=True)
class EdgeCase:
    """One edge case: p, input dtype and the kind of input."""

    id: str
    title: str
    p: float
    dtype: str = "float32"
    #: "finite" (values 1..1.75), "mixed" (NaN, +-inf, +-0, finite), "special"
    #: (64 each of NaN, +inf, -inf, finite), "empty", "scalar", "int".
    input: str = "finite"
    size: int = 1024
    #: A correct dropout may keep none or all (one element; expected keeps << 1):
    #: any mix of 0 and x/(1-p) is labelled "0 or x/(1-p)".
    merge_dropout: bool = False

    def make_input(self) -> np.ndarray:
        if self.input == "finite":
            a = 1.0 + (np.arange(self.size) % 7) / 8.0  # exact in float16
            return a.reshape(-1, 64).astype(np_dtype(self.dtype))
        if self.input == "int":
            return np.arange(1, 65, dtype=np_dtype(self.dtype)).reshape(8, 8)
        if self.input == "mixed":
            mixed = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -2.0, 0.5, 3.25, -1e-3]
            return np.array(mixed, dtype=np_dtype(self.dtype))
        if self.input == "special":
            rows = [np.nan, np.inf, -np.inf, None]
            a = np.empty((4, 64))
            for i, v in enumerate(rows):
                a[i] = (1.0 + (np.arange(64) % 7) / 8.0) if v is None else v
            return a.astype(np_dtype(self.dtype))
        if self.input == "empty":
            return np.zeros((0, 3), dtype=np_dtype(self.dtype))
        if self.input == "scalar":
            return np.array(1.5, dtype=np_dtype(self.dtype))
        raise InvalidArgumentError(f"unknown edge-case input {self.input!r}")


#: The edge cases of ``d2ldrop compare``: ``p`` at and beyond its limits, odd dtypes,
#: NaN and infinities in ``x``.
EDGE_CASES: tuple[EdgeCase, ...] = (
    EdgeCase("p=0", "p = 0, x has NaN, +-inf, +-0", 0.0, input="mixed"),
    EdgeCase("p=1", "p = 1", 1.0),
    EdgeCase("p=1,nonfinite", "p = 1, x has NaN and +-inf", 1.0, input="special"),
    EdgeCase("p=1-2^-11,f16", "p = 1 - 2^-11 (float16 below 1), float16 x", _P16, "float16",
             size=2**18),
    EdgeCase("p=1-1e-4,f16", "p = 1 - 1e-4, float16 x", 1.0 - 1e-4, "float16", size=2**18),
    EdgeCase("p=1-2^-24,f32", "p = 1 - 2^-24 (float32 below 1), float32 x", _P32, "float32",
             size=2**18, merge_dropout=True),
    EdgeCase("p=1-1e-4,f32", "p = 1 - 1e-4, float32 x", 1.0 - 1e-4, "float32", size=2**18),
    EdgeCase("p<0", "p = -0.1", -0.1),
    EdgeCase("p>1", "p = 1.1", 1.1),
    EdgeCase("p=nan", "p = NaN", math.nan),
    EdgeCase("int", "int32 x, p = 0.5", 0.5, "int32", input="int"),
    EdgeCase("float16", "float16 x, p = 0.1", 0.1, "float16"),
    EdgeCase("float64", "float64 x, p = 0.1", 0.1, "float64"),
    EdgeCase("empty", "empty x (shape (0, 3)), p = 0.5", 0.5, input="empty"),
    EdgeCase("0-d", "0-d x, p = 0.5", 0.5, input="scalar", merge_dropout=True),
    EdgeCase("nonfinite", "p = 0.5, x has NaN and +-inf", 0.5, input="special"),
    EdgeCase("bfloat16", "bfloat16 x, p = 0.1", 0.1, "bfloat16"),
    EdgeCase("p=0,large,bf16", "p = 0, 2^20 finite bfloat16 x", 0.0, "bfloat16", size=2**20),
)
#: The ids of :data:`EDGE_CASES`, in order.
EDGE_CASE_IDS: tuple[str, ...] = tuple(c.id for c in EDGE_CASES)
#: p = 0 on 2^20 elements in each dtype: a dropout that keeps where u > p drops
#: where u == 0, which coarse (low-precision) uniforms hit about n / 2^8 times.
P0_LARGE: tuple[EdgeCase, ...] = (
    EdgeCase("p=0,large", "p = 0, 2^20 finite float32 x", 0.0, size=2**20),
    EdgeCase("p=0,large,f16", "p = 0, 2^20 finite float16 x", 0.0, "float16", size=2**20),
    next(c for c in EDGE_CASES if c.id == "p=0,large,bf16"),
    EdgeCase("p=0,large,f64", "p = 0, 2^20 finite float64 x", 0.0, "float64", size=2**20),
)
#: The edge cases a target (anyone's dropout) is held to: :data:`EDGE_CASES`
#: (bfloat16 included) and the rest of :data:`P0_LARGE`.
TARGET_EDGE_CASES: tuple[EdgeCase, ...] = (
    *EDGE_CASES,
    *(c for c in P0_LARGE if c.id not in EDGE_CASE_IDS),
)

#: The label of an edge case whose dtype the framework does not have.
NOT_APPLICABLE = "n/a"

_DROPOUT = "0 or x/(1-p)"
_NONFINITE = "x: 0 or x/(1-p); nan: nan; +inf: +inf or nan; -inf: -inf or nan"

#: What the chapter's ``dropout_layer`` does in each edge case, on every backend.
#: A value label describes each element (see :func:`describe_output`); an error
#: label is the exception type (its message is in ``EdgeOutcome.message``).
SCRATCH_EXPECTED: dict[str, str] = {
    "p=0": "identity",
    "p=0,large": "identity",
    "p=0,large,f16": "identity",
    "p=0,large,bf16": "identity",
    "p=0,large,f64": "identity",
    "bfloat16": _DROPOUT,
    "p=1": "zeros",
    "p=1,nonfinite": "zeros",
    "p=1-2^-11,f16": _DROPOUT,
    "p=1-1e-4,f16": _DROPOUT,
    "p=1-2^-24,f32": _DROPOUT,
    "p=1-1e-4,f32": _DROPOUT,
    "p<0": "ValueError",
    "p>1": "ValueError",
    "p=nan": "ValueError",
    "int": "TypeError",
    "float16": _DROPOUT,
    "float64": _DROPOUT,
    "empty": "empty",
    "0-d": _DROPOUT,
    # mask * x with mask = 0 gives 0 * inf = NaN, as in the chapter's formula.
    "nonfinite": _NONFINITE,
}


def documented_difference(backend: str, case: str) -> tuple[str, str] | None:
    """``(label, why)`` where ``backend``'s builtin is documented to differ in ``case``."""
    return quirks_of(backend).builtin_differences.get(case)


def expected_label(backend: str, impl: str, case: str) -> str:
    """The documented outcome label of an edge case (scratch spec or builtin)."""
    documented = documented_difference(backend, case) if impl == "builtin" else None
    return documented[0] if documented else SCRATCH_EXPECTED[case]


_ORDER = ("0", "x", "x/(1-p)", "+inf", "-inf", "nan", "other")


def describe_output(x: np.ndarray, y: np.ndarray, p: float, merge_dropout: bool = False,
                    downscale: bool = False) -> str:
    """A deterministic label of what dropout made of ``x``.

    Whole-array labels: "identity" (bitwise, NaN and signed zeros included),
    "zeros", "all NaN", "empty". Otherwise each input class (x: finite,
    nan, +inf, -inf) lists what its elements became: "0", "x/(1-p)" (up to 4
    ulps), "~x/(1-p)" (within 1e-2, with the largest relative error appended),
    "x" (unscaled), "+inf", "-inf", "nan" or "other". Classes are omitted when
    the input has only finite values; dtype and shape changes are appended.
    ``downscale``: a kept value is x itself (what ``merge_dropout`` merges with 0).
    """
    kept = "x" if downscale else "x/(1-p)"
    suffix = ""
    if y.shape != x.shape:
        suffix += f" [shape {x.shape} -> {y.shape}]"
    if y.dtype != x.dtype:
        suffix += f" [dtype {x.dtype} -> {y.dtype}]"
    if y.shape != x.shape:
        return "value" + suffix
    if y.size == 0:
        return "empty" + suffix
    xf = x.astype(np.float64)
    yf = y.astype(np.float64)
    if y.dtype == x.dtype and np.array_equal(xf, yf, equal_nan=True) and np.array_equal(
        np.signbit(xf), np.signbit(yf)
    ):
        return "identity" + suffix
    if np.all(yf == 0) and not merge_dropout:
        return "zeros" + suffix
    if np.all(np.isnan(yf)):
        return "all NaN" + suffix

    out_dtype = y.dtype if is_float(y.dtype) else np.dtype(np.float64)
    tol = rtol_of(str(out_dtype))
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        want = xf / (1.0 - p) if p < 1 else np.full_like(xf, np.nan)
        want_cast = want.astype(out_dtype).astype(np.float64)
        rel = np.abs(yf - want) / np.abs(want)
    finite_x = np.isfinite(xf)
    is_kept = (yf == want_cast) | (rel <= tol)
    conditions = [
        np.isnan(yf),
        (yf == 0) & (xf != 0),
        ~finite_x & (yf == np.inf),
        ~finite_x & (yf == -np.inf),
        ~finite_x,
        is_kept if p < 1 else np.zeros_like(finite_x),
        yf == xf,
        (rel <= 1e-2) if p < 1 else np.zeros_like(finite_x),
        yf == np.inf,
        yf == -np.inf,
    ]
    kept_name = "x/(1-p)" if p > 0 else "x"
    choices = ["nan", "0", "+inf", "-inf", "other", kept_name, "x", "~x/(1-p)", "+inf", "-inf"]
    cats = np.select(conditions, choices, default="other")
    approx = cats == "~x/(1-p)"
    worst = float(np.max(rel[approx])) if np.any(approx) else 0.0
    names = np.where(np.isnan(xf), "nan", np.where(xf == np.inf, "+inf",
                     np.where(xf == -np.inf, "-inf", "x")))
    classes: dict[str, set[str]] = {
        str(c): {str(v) for v in np.unique(cats[names == c])} for c in np.unique(names)
    }

    def join(cats: set[str]) -> str:
        approximate = "~x/(1-p)" in cats
        if approximate:  # some kept values are off by more than rounding
            cats = (cats - {"~x/(1-p)"}) | {"x/(1-p)"}
        if merge_dropout and cats <= {"0", kept}:
            cats = {"0", kept}
        text = " or ".join(c for c in _ORDER if c in cats)
        return text + (f" [rel. err. {worst:.0e}]" if approximate else "")

    if set(classes) == {"x"}:
        return join(classes["x"]) + suffix
    order = ("x", "nan", "+inf", "-inf")
    return "; ".join(f"{c}: {join(classes[c])}" for c in order if c in classes) + suffix


def error_message(backend: str, err: BaseException) -> str:
    """The first informative line of an error, as ``backend``'s quirks normalise it."""
    return first_line(quirks_of(backend).normalize_message(str(err)))


def first_line(text: str) -> str:
    """The first non-blank line of ``text``, stripped, at most 200 characters."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[0][:200] if lines else ""


def target_message(target: Target, err: BaseException) -> str:
    """The first informative line of an error raised by ``target``."""
    if target.normalize_message is not None:
        return first_line(target.normalize_message(str(err)))
    if target.backend == NUMPY:
        return first_line(str(err))
    return error_message(target.backend, err)


@dataclass
class EdgeOutcome:
    """What one implementation did in one edge case (plain data)."""

    case: str
    title: str
    backend: str
    impl: str
    p: float
    dtype_in: str
    kind: str  # "value", "error" or "n/a" (the dtype does not exist there)
    label: str
    message: str = ""
    dtype_out: str | None = None
    shape_out: tuple[int, ...] | None = None
    detail: str = ""
    expected: str = ""
    as_expected: bool = True

    @property
    def signature(self) -> tuple[str, str]:
        """What must agree across backends for the scratch implementation."""
        return self.label, self.message

    def to_dict(self) -> dict[str, Any]:
        """Plain, strict-JSON data (NaN and infinities as None)."""
        return json_safe(asdict(self))


def run_edge_case(backend: str | None, impl: str, case: EdgeCase, *, seed: int = 0) -> EdgeOutcome:
    """Run one edge case; an exception is an outcome, not a failure.

    The builtin op is called directly through the adapter, without d2ldrop's
    validation, so the outcome is the framework's own behaviour.
    """
    impl = check_impl(impl)
    target = impl_target(backend, impl)
    if case.input != "int" and case.dtype not in target.dtypes:
        return not_applicable(target.backend, impl, case)
    expected = expected_label(target.backend, impl, case.id)
    return run_case(target, case, impl=impl, expected=expected, seed=seed,
                    accepts=lambda kind, label: label == expected)


def not_applicable(backend: str, impl: str, case: EdgeCase) -> EdgeOutcome:
    """The outcome of ``case`` on a backend whose framework has no tensors of its
    dtype: "n/a", with the framework's limit as the detail (never run, never a
    failure, left out of the backends' agreement)."""
    try:
        get_adapter(backend).check_dtype(case.dtype)
        why = f"{case.dtype} is not among the {impl} implementation's dtypes"
    except TypeError as err:
        why = str(err)
    return EdgeOutcome(
        case=case.id, title=case.title, backend=backend, impl=impl, p=case.p,
        dtype_in=case.dtype, kind="n/a", label=NOT_APPLICABLE, detail=why,
        expected=NOT_APPLICABLE,
    )


def with_ndim(x: np.ndarray, ndim: int | None) -> np.ndarray:
    """``x`` with ``ndim`` dimensions, for a target that declares its inputs' rank.

    A 2-D input of 64 = 2^6 columns has them split as evenly as powers of two
    allow ((N, 8, 8) for 3 dimensions); any other input gets trailing axes of
    length 1. None: ``x`` as it is.
    """
    if ndim is None or x.ndim >= ndim:
        return x
    if x.ndim == 2 and x.shape[1] == 64:
        k = ndim - 1
        bits = [6 // k + (1 if i < 6 % k else 0) for i in range(k)]
        return x.reshape(x.shape[0], *(2**b for b in bits))
    return x.reshape(x.shape + (1,) * (ndim - x.ndim))


def run_case(
    target: Target, case: EdgeCase, *, impl: str, expected: str,
    accepts: Callable[[str, str], bool], seed: int = 0,
) -> EdgeOutcome:
    """Run ``case`` on ``target`` (seeded first if it can be); ``accepts(kind,
    label)`` says whether the outcome is the expected one. A target that declares
    ``ndim`` gets the input with that many dimensions (:func:`with_ndim`)."""
    x = with_ndim(case.make_input(), target.ndim)
    base: dict[str, Any] = {
        "case": case.id, "title": case.title, "backend": target.backend, "impl": impl,
        "p": case.p, "dtype_in": case.dtype, "expected": expected,
    }
    try:
        if target.seedable:
            target.reseed(seed)
        t = target.from_numpy(x)
        out = target.dropout(t, case.p)
        # An asynchronous framework may raise only here, on the copy to numpy.
        y = target.to_numpy(out)
    except Exception as err:  # the point is to report whatever the framework raises
        label = builtin_name(err)
        return EdgeOutcome(
            **base, kind="error", label=label, message=target_message(target, err),
            as_expected=accepts("error", label),
        )
    label = describe_output(x, y, case.p, case.merge_dropout, target.downscale)
    detail = []
    if out is t:
        detail.append("returns its input object")
    if y.size and case.input == "finite" and is_float(y.dtype):
        nan = int(np.count_nonzero(np.isnan(y)))
        detail.append(f"{int(np.count_nonzero((y != 0) & ~np.isnan(y)))} of {y.size} nonzero")
        if nan:
            detail.append(f"{nan} NaN")
    return EdgeOutcome(
        **base, kind="value", label=label, dtype_out=str(y.dtype), shape_out=tuple(y.shape),
        detail="; ".join(detail), as_expected=accepts("value", label),
    )


def edge_cases(
    backend: str | None = None, impl: str = "scratch", *, seed: int = 0,
    cases: Sequence[EdgeCase] = EDGE_CASES,
) -> list[EdgeOutcome]:
    """Every edge case of ``cases`` (``EDGE_CASES``) on one backend and implementation."""
    return [run_edge_case(backend, impl, c, seed=seed) for c in cases]

