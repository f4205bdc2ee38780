"""The run store: one JSON file per finished run, named by the run's key.

``ROOT/<key>.json`` holds ``{"key", "spec", "result", "seconds", "threads", ...}``,
written atomically (:func:`d2ldrop._io.write_json`) by the one process that
drives the sweep, never by its workers. A run is computed once and then read
from here by every experiment (and every later sweep) that needs it, so an
interrupted sweep continues where it stopped. A file is trusted only if it
holds exactly the spec its name stands for: anything else (an edited or damaged
file, a hash collision) is a :class:`RunStoreError`, and the file is left as it
is: a finished run is never silently replaced.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from d2ldrop._io import json_safe, write_json
from d2ldrop.errors import D2LDropError
from d2ldrop.sweep.spec import RunSpec

#: A stored run: the saved JSON object (``record["result"]`` is what the run returned).
Record = dict[str, Any]


class RunStoreError(D2LDropError, ValueError):
    """A run file that does not hold the run its name says, or cannot be read."""


class RunStore:
    """Finished runs in a directory, one file each (see the module docstring)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"RunStore({str(self.root)!r})"

    def path(self, spec: RunSpec) -> Path:
        """Where the run of ``spec`` is (or will be) saved."""
        return self.root / f"{spec.key}.json"

    def load(self, spec: RunSpec) -> Record | None:
        """The stored record of ``spec``; None when it was never saved.

        RunStoreError when the file exists but does not hold this spec's run.
        """
        path = self.path(spec)
        if not path.exists():
            return None
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise RunStoreError(self._refusal(path, f"it cannot be read ({err})")) from None
        if not isinstance(saved, dict) or not isinstance(saved.get("result"), dict):
            raise RunStoreError(self._refusal(path, "it holds no run result"))
        if saved.get("spec") != spec.to_dict() or saved.get("key") != spec.key:
            raise RunStoreError(self._refusal(
                path, "the run it holds is not the one its name stands for "
                f"(differs in: {', '.join(_differences(saved.get('spec'), spec)) or 'key'})"))
        return saved

    def save(self, spec: RunSpec, result: dict[str, Any], **meta: Any) -> Path:
        """Write a finished run (``meta``: seconds, threads, ...) atomically."""
        self.root.mkdir(parents=True, exist_ok=True)
        record = {"key": spec.key, "spec": spec.to_dict(), "result": json_safe(result),
                  **json_safe(meta)}
        return write_json(self.path(spec), record)

    def keys(self) -> list[str]:
        """Keys of the files in the store (temporary files of unfinished writes left out)."""
        if not self.root.is_dir():
            return []
        return sorted(p.stem for p in self.root.glob("*.json") if not p.name.startswith("."))

    @staticmethod
    def _refusal(path: Path, why: str) -> str:
        return (f"run file {path} is left as it is: {why}. Move it away to compute that "
                "run again")


def _differences(saved: object, spec: RunSpec) -> list[str]:
    want = spec.to_dict()
    if not isinstance(saved, dict):
        return ["spec"]
    return [k for k in sorted(set(want) | set(saved)) if saved.get(k) != want.get(k)]
