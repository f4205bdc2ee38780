"""Where the four files are found: the places searched, in order, and checking each.

First match wins; a place is used only when all four files are there, decode,
match their checksums and agree with each other:

1. the ``data_dir=`` argument (CLI ``--data-dir``), then ``$D2LDROP_DATA_DIR``;
2. the user cache, :func:`~d2ldrop.data.files.cache_dir`;
3. :data:`SYSTEM_DIR`, where Debian's package ``dataset-fashion-mnist`` puts them;
4. only when asked (``download=True``): the upstream mirrors, into the user cache.

A place that was checked and verified is decoded once per process (:data:`_MEMO`).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from d2ldrop.data.download import download_fashion_mnist
from d2ldrop.data.files import (
    FILES,
    SHA256,
    FashionMNIST,
    _assemble,
    _load_verified,
    _variants,
    cache_dir,
)
from d2ldrop.data.idx import PathLike
from d2ldrop.errors import DataError

#: Environment variable naming a directory that holds the files.
DATA_DIR_ENV = "D2LDROP_DATA_DIR"
#: Where Debian's ``dataset-fashion-mnist`` installs the upstream ``.gz`` files.
SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
DEBIAN_PACKAGE = "dataset-fashion-mnist"


class DataWarning(UserWarning):
    """A place in the lookup held unusable files and a later place was used."""


@dataclass(frozen=True)
class FileStatus:
    """What one of the four files looks like in one place."""

    name: str  # IDX name, without .gz
    path: Path | None  # the copy examined (None: neither name nor name.gz exists)
    ok: bool
    detail: str  # "sha256 ok", "missing", "not checked", or what is wrong


@dataclass(frozen=True)
class Location:
    """One place of the lookup and, once checked, why it can or cannot be used."""

    source: str  # "data_dir (--data-dir)", "$D2LDROP_DATA_DIR", "user cache", "system", "download"
    directory: Path | None
    problem: str = ""  # empty when the four files are there and verify
    files: tuple[FileStatus, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problem

    @property
    def has_bad_files(self) -> bool:
        """Some file is present but unusable (as opposed to merely missing)."""
        return any(f.path is not None and not f.ok for f in self.files) or (
            bool(self.files) and all(f.ok for f in self.files) and not self.ok
        )

    def describe(self) -> str:
        where = f"{self.source} {self.directory}" if self.directory else self.source
        return f"{where}: {self.problem or 'ok'}"


def _candidates(data_dir: PathLike | None) -> list[Location]:
    places = []
    if data_dir is not None:
        places.append(Location("data_dir (--data-dir)", Path(data_dir).expanduser()))
    env = os.environ.get(DATA_DIR_ENV, "").strip()
    places.append(
        Location(f"${DATA_DIR_ENV}", Path(env).expanduser())
        if env
        else Location(f"${DATA_DIR_ENV}", None, problem="not set")
    )
    places.append(Location("user cache", cache_dir()))
    places.append(Location("system", SYSTEM_DIR))
    return places


# Decoded data per place, keyed by the stat of its files and the expected
# checksums, so a file replaced on disk is decoded (and verified) again.
_MEMO: dict[tuple, tuple[tuple[FileStatus, ...], FashionMNIST]] = {}


def _signature(directory: Path) -> tuple:
    stats = []
    for spec in FILES:
        for path in (directory / f"{spec.name}.gz", directory / spec.name):
            try:
                st = path.stat()
            except OSError:
                continue
            stats.append((path.name, st.st_size, st.st_mtime_ns, st.st_ino))
    return (str(directory.resolve()), tuple(stats), tuple(SHA256.values()))


def _check(place: Location, *, stop_early: bool) -> tuple[Location, FashionMNIST | None]:
    """Check one place; with ``stop_early`` stop decoding at its first problem."""
    directory = place.directory
    if directory is None:
        return place, None
    if not directory.is_dir():
        problem = "not a directory" if directory.exists() else "no such directory"
        return Location(place.source, directory, problem), None
    key = _signature(directory)
    if key in _MEMO:
        files, data = _MEMO[key]
        return Location(place.source, directory, "", files), data

    variants = {spec.key: _variants(directory, spec) for spec in FILES}
    missing = [spec.name for spec in FILES if not variants[spec.key]]
    if missing and stop_early:
        return Location(place.source, directory, f"missing {', '.join(missing)}"), None
    statuses: list[FileStatus] = []
    arrays: dict[str, np.ndarray] = {}
    paths: dict[str, Path] = {}
    problems: list[str] = [f"missing {', '.join(missing)}"] if missing else []
    for spec in FILES:
        if not variants[spec.key]:
            statuses.append(FileStatus(spec.name, None, False, "missing"))
            continue
        if problems and stop_early:
            statuses.append(FileStatus(spec.name, variants[spec.key][0], False, "not checked"))
            continue
        errors = []
        for path in variants[spec.key]:
            try:
                arrays[spec.key] = _load_verified(path, spec)
            except DataError as err:
                errors.append(str(err))
                continue
            paths[spec.key] = path
            statuses.append(FileStatus(spec.name, path, True, "sha256 ok"))
            break
        else:
            # A bad name.gz next to a bad name: report the first (the .gz).
            path = variants[spec.key][0]
            detail = errors[0].removeprefix(f"{path}: ")
            statuses.append(FileStatus(spec.name, path, False, detail))
            problems.append(errors[0])
    data = None
    if not problems:
        try:
            data = _assemble(arrays, paths)
        except DataError as err:
            problems.append(str(err))
    location = Location(place.source, directory, "; ".join(problems), tuple(statuses))
    if data is not None:
        _MEMO[key] = (location.files, data)
    return location, data


def inspect_fashion_mnist(data_dir: PathLike | None = None) -> list[Location]:
    """Every place of the lookup, in order, each fully checked (for reports).

    Nothing is downloaded. The first :attr:`Location.ok` one is what loading uses.
    """
    return [_check(place, stop_early=False)[0] for place in _candidates(data_dir)]


def _find(
    data_dir: PathLike | None, download: bool, progress: bool | None
) -> tuple[Location, FashionMNIST]:
    tried: list[Location] = []
    for place in _candidates(data_dir):
        location, data = _check(place, stop_early=True)
        if data is not None:
            _warn_skipped(tried, location)
            return location, data
        tried.append(location)
    if not download:
        tried.append(Location("download", None, "not attempted (download=False)"))
    else:
        try:
            target = download_fashion_mnist(progress=progress)
        except DataError as err:
            tried.append(Location("download", None, str(err)))
        else:
            location, data = _check(Location("download", target), stop_early=True)
            if data is not None:
                _warn_skipped(tried, location)
                return location, data
            tried.append(location)
    raise DataError(_not_found_message(tried))


def _warn_skipped(tried: list[Location], used: Location) -> None:
    for place in tried:
        explicit = place.source != "user cache" and place.source != "system"
        if (explicit and place.directory is not None) or place.has_bad_files:
            # Levels: here, _find, its public caller, the user's code.
            warnings.warn(
                f"Fashion-MNIST: skipped {place.describe()}; using {used.source} "
                f"{used.directory}",
                DataWarning,
                stacklevel=4,
            )


def _not_found_message(tried: list[Location]) -> str:
    lines = ["Fashion-MNIST was not found. Places tried, in order:"]
    for place in tried:
        lines.append("  - " + place.describe().replace("\n", "\n      "))
    names = ", ".join(spec.name for spec in FILES)
    lines += [
        "Ways to fix it:",
        f"  - put the four files ({names}; each as name.gz or name) in a directory and pass "
        f"data_dir=DIR (CLI: --data-dir DIR) or set {DATA_DIR_ENV}=DIR",
        f"  - on Debian/Ubuntu: sudo apt-get install {DEBIAN_PACKAGE} (installs them in "
        f"{SYSTEM_DIR})",
        f"  - with a network connection: d2ldrop data --download, or pass download=True "
        f"(saves them in {cache_dir()})",
    ]
    return "\n".join(lines)


def find_fashion_mnist(
    data_dir: PathLike | None = None, *, download: bool = False, progress: bool | None = None
) -> Path:
    """The directory whose files loading uses (decoded and verified once per process).

    Raises :class:`DataError` listing every place tried, and why each failed.
    """
    location, _ = _find(data_dir, download, progress)
    return location.directory  # type: ignore[return-value]


def format_places(places: list[Location]) -> str:
    """The report of ``d2ldrop data``: each place of :func:`inspect_fashion_mnist`,
    numbered, with each file's status (``ok``, ``--`` missing, ``BAD``)."""
    lines = ["Fashion-MNIST, places searched in order (the first complete, verified one is used):"]
    for i, place in enumerate(places, 1):
        where = f"{place.source} {place.directory}" if place.directory else place.source
        status = "ok" if place.ok else place.problem.splitlines()[0]
        lines.append(f"  {i}. {where}: {status}")
        for f in place.files:
            shown = f.path.name if f.path is not None else f.name
            mark = "ok " if f.ok else "-- " if f.path is None else "BAD"
            lines.append(f"       {mark} {shown}: {f.detail}")
    return "\n".join(lines)


def ways_to_get_it() -> str:
    """What ``d2ldrop data`` suggests when no place holds the data set."""
    return (
        "Not found. Ways to get it:\n"
        f"  - d2ldrop data --data-dir DIR (or {DATA_DIR_ENV}=DIR), DIR holding "
        "the four files\n"
        f"  - sudo apt-get install {DEBIAN_PACKAGE} (Debian/Ubuntu)\n"
        f"  - d2ldrop data --download (needs a network connection; saves them in "
        f"{cache_dir()})"
    )
