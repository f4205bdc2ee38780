"""Execute notebooks/dropout.ipynb (or another notebook) and write the executed copy.

    python scripts/run_notebook.py                       # quick form, default backend
    python scripts/run_notebook.py --backend mxnet --full --out runs/nb-mx/dropout.ipynb
    python scripts/run_notebook.py --figures runs/notebook/figures   # and its PNGs
    python scripts/run_notebook.py --strip notebooks/dropout.ipynb   # before committing

Parameters are injected without papermill: a cell setting ``BACKEND``, ``QUICK``
and ``OUT`` goes right after the notebook's cell tagged ``parameters``. The
notebook runs in a fresh ``python3`` kernel of this interpreter (nbclient,
ipykernel), with the repository root as its working directory; any cell that
raises fails the run (exit 1), and the executed copy is written either way, so
that the error can be read in it. Needs ``pip install -e ".[test]"``.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "dropout.ipynb"
DEFAULT_OUT = ROOT / "runs" / "notebook" / "dropout.ipynb"


def inject_parameters(nb: Any, **values: Any) -> None:
    """Insert a cell assigning ``values`` after the cell tagged ``parameters``
    (at the top if there is none); values that are None are left out."""
    import nbformat

    lines = [f"{name} = {value!r}" for name, value in values.items() if value is not None]
    if not lines:
        return
    cell = nbformat.v4.new_code_cell("# injected by scripts/run_notebook.py\n" + "\n".join(lines),
                                     metadata={"tags": ["injected-parameters"]})
    at = next((i + 1 for i, c in enumerate(nb.cells)
               if "parameters" in c.get("metadata", {}).get("tags", [])), 0)
    nb.cells.insert(at, cell)


def run_notebook(
    path: str | Path = NOTEBOOK,
    out: str | Path = DEFAULT_OUT,
    *,
    backend: str | None = None,
    quick: bool = True,
    work: str | Path | None = None,
    timeout: int = 1800,
    cwd: str | Path = ROOT,
) -> Any:
    """Execute the notebook at ``path`` and write the executed copy to ``out``.

    ``backend`` and ``quick`` set the notebook's ``BACKEND`` and ``QUICK``
    (``backend`` None keeps the notebook's); ``work`` its ``OUT`` (default: the
    directory of ``out``). ``timeout``: seconds per cell. Returns the executed
    notebook; raises nbclient's CellExecutionError if a cell fails (after
    writing what ran).
    """
    import nbformat
    from nbclient import NotebookClient

    out = Path(out)
    nb = nbformat.read(path, as_version=4)
    inject_parameters(nb, BACKEND=backend, QUICK=quick,
                      OUT=str(Path(work) if work is not None else out.parent))
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(cwd)}})
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        client.execute()
    finally:
        nbformat.write(nb, out)
    return nb


def images(nb: Any) -> list[tuple[int, bytes]]:
    """(cell number, PNG bytes) of every image the executed notebook shows."""
    found = []
    for number, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "image/png" in data:
                found.append((number, base64.b64decode(data["image/png"])))
    return found


def write_figures(nb: Any, directory: str | Path) -> list[Path]:
    """Write each PNG the notebook shows to ``directory`` as ``cell<NN>-<k>.png``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths, counts = [], {}
    for number, png in images(nb):
        counts[number] = counts.get(number, 0) + 1
        path = directory / f"cell{number:02d}-{counts[number]}.png"
        path.write_bytes(png)
        paths.append(path)
    return paths


def strip_outputs(path: str | Path) -> bool:
    """Remove the outputs and execution counts of ``path`` in place; True if it changed."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    nb = json.loads(text)
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
        cell.get("metadata", {}).pop("execution", None)
    new = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
    if new != text:
        path.write_text(new, encoding="utf-8")
    return new != text


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("notebook", nargs="?", type=Path, default=NOTEBOOK,
                   help="the notebook (default: notebooks/dropout.ipynb)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT,
                   help="the executed copy (default: runs/notebook/dropout.ipynb)")
    p.add_argument("--backend", default=None, help="the notebook's BACKEND (default: its own)")
    p.add_argument("--full", action="store_true",
                   help="QUICK = False: every epoch and every installed backend (slow)")
    p.add_argument("--work", type=Path, default=None,
                   help="the notebook's OUT, for the experiment's files (default: --out's dir)")
    p.add_argument("--timeout", type=int, default=1800, help="seconds per cell (1800)")
    p.add_argument("--figures", type=Path, default=None,
                   help="also write every figure the notebook shows, as PNG, to this directory")
    p.add_argument("--strip", action="store_true",
                   help="only remove the notebook's outputs, in place (nothing is run)")
    args = p.parse_args(argv)
    if args.strip:
        changed = strip_outputs(args.notebook)
        print(f"{args.notebook}: {'outputs removed' if changed else 'no outputs'}")
        return 0
    from nbclient.exceptions import CellExecutionError

    start = time.perf_counter()
    try:
        nb = run_notebook(args.notebook, args.out, backend=args.backend, quick=not args.full,
                          work=args.work, timeout=args.timeout)
    except CellExecutionError as err:
        print(f"{args.notebook}: a cell failed (the executed copy is {args.out}):\n{err}",
              file=sys.stderr)
        return 1
    print(f"executed {args.notebook} in {time.perf_counter() - start:.0f} s: wrote {args.out}")
    if args.figures is not None:
        for path in write_figures(nb, args.figures):
            print(f"  {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
