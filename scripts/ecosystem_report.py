"""The conformance suite against the dropouts people use; writes docs/ecosystem.md.

Each library's dropouts are declared as targets in a module of their own
(``scripts/ecosystem/<module>.py``). The libraries cannot share one environment
(MXNet 1.9.1 needs numpy < 1.24; flax, equinox, haiku, Keras 3 on JAX and
PaddlePaddle need numpy 2), so each environment runs its modules and writes one
JSON file per module, and ``render`` merges every file into one page::

    # the `all` environment (numpy 1.23.5): TensorFlow + Keras, MXNet
    PYTHONPATH=$PWD /work/main/.venv/bin/python scripts/ecosystem_report.py run --env all
    # the numpy-2 environment (tox.ini's `ecosystem`): the others
    tox -e ecosystem            # = scripts/ecosystem_report.py run --env ecosystem
    # (each run renders docs/ecosystem.md from all the JSON files there)

Each module runs in a process of its own (Keras reads KERAS_BACKEND once, at
import; a library that crashes takes only its own rows with it). ``--quick`` runs
at a reduced size into ``runs/ecosystem-quick/`` (CI); the full size writes
``docs/ecosystem/`` and ``docs/ecosystem.md``.
"""

from __future__ import annotations

import argparse
import ast
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
# The worktree's d2ldrop (not an installed copy) and the ecosystem package.
for path in (str(ROOT), str(HERE)):
    if path not in sys.path:
        sys.path.insert(0, path)



def _declared(path: Path) -> tuple[str, dict[str, str]]:
    """A module's ``ENV`` and ``ENV_VARS`` (environment variables its library reads at
    import), read without importing it (importing loads its framework)."""
    found: dict[str, object] = {}
    for node in ast.parse(path.read_text()).body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)):
            try:
                found[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                continue
    return str(found.get("ENV", "")), dict(found.get("ENV_VARS", {}))


#: module -> (environment, variables to set for its process): every
#: scripts/ecosystem module that declares an ENV.
MODULES: dict[str, tuple[str, dict[str, str]]] = {
    p.stem: _declared(p) for p in sorted((HERE / "ecosystem").glob("*.py"))
    if _declared(p)[0]
}
ENVS = ("all", "ecosystem")
FULL_SIZE = 2**18
QUICK_SIZE = 2**14
PS = (0.001, 0.01, 0.1, 0.5, 0.9)
#: The p values a reduced size allows (n min(p, 1 - p) >= 100 at --quick).
QUICK_PS = (0.01, 0.1, 0.5, 0.9)
FULL_DIR = ROOT / "docs" / "ecosystem"
QUICK_DIR = ROOT / "runs" / "ecosystem-quick"
PAGE = ROOT / "docs" / "ecosystem.md"


# -- one module, in its own process ---------------------------------------------------------


def _probe_shape(ndim: int) -> tuple[int, ...]:
    return (8,) * max(2, ndim)


def _dtype(name: str):
    import numpy as np

    try:
        from d2ldrop._dtypes import np_dtype
    except ImportError:  # a d2ldrop without bfloat16
        return np.dtype(name)
    return np_dtype(name)


def _run_entry(entry, size: int, ps: tuple[float, ...]) -> dict:
    import numpy as np
    from ecosystem import CANDIDATE_DTYPES, DIFFERENT_METHODS, first_line

    from d2ldrop.conformance import ConformanceSuite
    from d2ldrop.conformance.edges import TARGET_EDGE_CASES
    from d2ldrop.conformance.target import TARGET_DTYPES

    out = {"key": entry.key, "library": entry.library, "method": entry.method,
           "capabilities": {k: list(v) if isinstance(v, tuple) else v
                            for k, v in entry.capabilities.items()},
           "note": entry.note, "rows": []}
    missing = entry.missing_capabilities()
    if missing:
        out["rows"].append({"dtype": "all", "status": "not checkable here", "error": (
            f"this d2ldrop's Target has no {', '.join(missing)}: the suite would check it "
            "as the elementwise dropout it is not")})
        return out
    unsupported, supported = {}, []
    for name in CANDIDATE_DTYPES:
        if name not in TARGET_DTYPES:
            unsupported[name] = "this d2ldrop's suite has no such dtype"
            continue
        try:
            target = entry.target((name,))
            target.check_available()
            x = np.ones(_probe_shape(entry.capabilities.get("ndim", 2)), dtype=_dtype(name))
            y = target.to_numpy(target.dropout(target.from_numpy(x), 0.5))
            if y.shape != x.shape:
                raise ValueError(f"returned shape {y.shape} for {x.shape}")
        except Exception as err:  # a dtype the library refuses is recorded, not raised
            unsupported[name] = first_line(err)
            continue
        supported.append(name)
    for name, why in unsupported.items():
        out["rows"].append({"dtype": name, "status": "unsupported", "error": why})
    if not supported:
        return out
    target = entry.target(tuple(supported))
    fallback = "float32" if "float32" in supported else supported[0]
    edge_dtype = {c.id: c.dtype if c.dtype in supported else fallback
                  for c in TARGET_EDGE_CASES}
    edges: list = []
    for i, name in enumerate(supported):
        t0 = time.perf_counter()
        try:
            suite = ConformanceSuite(target, ps=ps, size=size, seed=0, dtype=name)
            kinds = ("check", "edge") if i == 0 else ("check",)
            verdicts = suite.verdicts(kinds)
        except Exception as err:
            out["rows"].append({"dtype": name, "status": "error", "error": first_line(err)})
            continue
        if i == 0:
            edges = [(item, v) for item, v in verdicts if item.kind == "edge"]
        mine = [(item, v) for item, v in verdicts if item.kind == "check"]
        mine += [(item, v) for item, v in edges if edge_dtype[item.key] == name]
        failed = [{"item": item.id, "message": v.message} for item, v in mine
                  if v.status == "failed"]
        status = "conforms" if not failed else "departs"
        if entry.method != "dropout":
            status = "different method"
        out["rows"].append({
            "dtype": name, "status": status, "failures": failed,
            "passed": sum(v.status == "passed" for _, v in mine),
            "not_applicable": sorted(item.id for item, v in mine if v.status == "n/a"),
            "seconds": round(time.perf_counter() - t0, 1),
        })
    if entry.method != "dropout":
        out["method_note"] = DIFFERENT_METHODS.get(entry.method, entry.method)
    order = {d: i for i, d in enumerate(CANDIDATE_DTYPES)}
    out["rows"].sort(key=lambda r: order.get(r["dtype"], -1))
    return out


def _ps_for(size: int) -> tuple[float, ...]:
    """:data:`PS` where the size allows the normal bounds at p = 0.001, else :data:`QUICK_PS`."""
    return PS if size * 0.001 >= 100 else QUICK_PS


def run_module(module: str, size: int, ps: tuple[float, ...], path: Path) -> None:
    """Import ``module`` (its framework loads now), run its entries, write JSON."""
    import importlib

    from ecosystem import first_line

    import d2ldrop

    env = MODULES[module][0]
    doc = {"module": module, "env": env, "size": size, "ps": list(ps),
           "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
           "python": platform.python_version(), "d2ldrop": d2ldrop.__version__,
           "entries": []}
    try:
        mod = importlib.import_module(f"ecosystem.{module}")
        if mod.ENV != env:
            raise RuntimeError(f"{module}.ENV is {mod.ENV!r}, the script says {env!r}")
        import numpy as np

        doc["versions"] = {"numpy": np.__version__, **mod.versions()}
        for entry in mod.entries():
            t0 = time.perf_counter()
            doc["entries"].append(_run_entry(entry, size, ps))
            print(f"  {entry.key}: {time.perf_counter() - t0:.0f} s", flush=True)
    except Exception as err:  # the module's own failure is its result
        doc["error"] = first_line(err)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1, allow_nan=False) + "\n")
    tmp.replace(path)


# -- the driver -------------------------------------------------------------------------------


def run(env: str, modules: list[str], size: int, out: Path, timeout: float) -> int:
    chosen = [m for m in modules or MODULES if MODULES[m][0] == env]
    if not chosen:
        print(f"no module runs in the {env!r} environment", file=sys.stderr)
        return 2
    failures = 0
    for module in chosen:
        child_env = {**os.environ, **MODULES[module][1]}
        path = out / f"{module}.json"
        print(f"{module} ({env}):", flush=True)
        t0 = time.perf_counter()
        argv = [sys.executable, str(Path(__file__).resolve()), "one", module,
                "--size", str(size), "--json", str(path)]
        try:
            rc = subprocess.run(argv, env=child_env, timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            rc = "timeout"
        if rc != 0:
            failures += 1
            _write_crash(module, env, size, path, f"the run ended with {rc}")
        print(f"{module}: {time.perf_counter() - t0:.0f} s", flush=True)
    render(out, out.parent / "ecosystem.md" if out == FULL_DIR else out / "ecosystem.md")
    return 1 if failures else 0


def _write_crash(module: str, env: str, size: int, path: Path, why: str) -> None:
    doc = {"module": module, "env": env, "size": size, "ps": list(_ps_for(size)),
           "entries": [],
           "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
           "error": why}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1) + "\n")


def render(results: Path, page: Path) -> None:
    from ecosystem.render import render_page

    docs = [json.loads(p.read_text()) for p in sorted(results.glob("*.json"))]
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(render_page(docs, root=ROOT))
    print(f"wrote {page.relative_to(ROOT) if page.is_relative_to(ROOT) else page}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run this environment's modules, then render")
    r.add_argument("--env", choices=ENVS, required=True)
    r.add_argument("--only", nargs="+", choices=sorted(MODULES), default=[])
    r.add_argument("--size", type=int, default=None, help=f"elements per draw ({FULL_SIZE})")
    r.add_argument("--quick", action="store_true",
                   help=f"size {QUICK_SIZE}, results in {QUICK_DIR.relative_to(ROOT)}/")
    r.add_argument("--out", type=Path, default=None)
    r.add_argument("--timeout", type=float, default=1800, help="seconds per module")
    o = sub.add_parser("one", help="(internal) one module, in this process")
    o.add_argument("module", choices=sorted(MODULES))
    o.add_argument("--size", type=int, default=FULL_SIZE)
    o.add_argument("--json", type=Path, required=True)
    g = sub.add_parser("render", help="merge the JSON files into the page")
    g.add_argument("--results", type=Path, default=FULL_DIR)
    g.add_argument("--output", type=Path, default=PAGE)
    args = parser.parse_args(argv)
    if args.command == "one":
        run_module(args.module, args.size, _ps_for(args.size), args.json)
        return 0
    if args.command == "render":
        render(args.results, args.output)
        return 0
    size = args.size or (QUICK_SIZE if args.quick else FULL_SIZE)
    out = args.out or (QUICK_DIR if args.quick or size != FULL_SIZE else FULL_DIR)
    return run(args.env, args.only, size, out.resolve(), args.timeout)


if __name__ == "__main__":
    sys.exit(main())
