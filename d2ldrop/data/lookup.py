"""Where the four files are found: a directory the user names, or the places searched.

A directory the user names is used as it is, or refused: never replaced by
another copy, so a mistyped path cannot go unnoticed.

1. ``data_dir=`` (CLI ``--data-dir``), else ``$D2LDROP_DATA_DIR``, when given: it
   must hold the four files, decoding to the right kind (images 0x00000803, 3
   dimensions; labels 0x00000801, 1 dimension), matching their checksums and
   agreeing with each other. Otherwise :class:`~d2ldrop.errors.DataPathError`
   (exit status 2 on the command line) names the directory, each file and its
   problem. With ``download=True`` the *missing* files are fetched into it (the
   directory is created if need be); a file that is there but unusable is the
   user's and is never overwritten: that is refused too.
2. Only when nothing is named, the implicit places, in order, the first usable
   one wins (a broken one is skipped with a :class:`DataWarning`): the user cache,
   :func:`~d2ldrop.data.files.cache_dir`, then :data:`SYSTEM_DIR`, where Debian's
   package ``dataset-fashion-mnist`` puts them; then, only when asked
   (``download=True``), the upstream mirrors, into the user cache.

A place that was checked and verified is decoded once per process (:data:`_MEMO`).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import cast

import numpy as np

from d2ldrop.data.download import _Uncreatable, download_fashion_mnist
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
from d2ldrop.errors import DataError, DataPathError

#: Environment variable naming a directory that holds the files.
DATA_DIR_ENV = "D2LDROP_DATA_DIR"
#: Where Debian's ``dataset-fashion-mnist`` installs the upstream ``.gz`` files.
SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
DEBIAN_PACKAGE = "dataset-fashion-mnist"

_ARG = "data_dir (--data-dir)"
_ENV = f"${DATA_DIR_ENV}"
_NOT_SEARCHED = "not searched (a directory is named)"


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
    named: bool = False  # named by the user: used as it is, or refused

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


def _environment() -> Path | None:
    env = os.environ.get(DATA_DIR_ENV, "").strip()
    return Path(env).expanduser() if env else None


def _named(data_dir: PathLike | None) -> Location | None:
    """The directory the user named (``data_dir``, else the environment), if any."""
    if data_dir is not None:
        return Location(_ARG, Path(data_dir).expanduser(), named=True)
    env = _environment()
    return None if env is None else Location(_ENV, env, named=True)


def _implicit() -> list[Location]:
    return [Location("user cache", cache_dir()), Location("system", SYSTEM_DIR)]


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
        return replace(place, problem=problem, files=()), None
    key = _signature(directory)
    if key in _MEMO:
        files, data = _MEMO[key]
        return replace(place, problem="", files=files), data

    variants = {spec.key: _variants(directory, spec) for spec in FILES}
    missing = [spec.name for spec in FILES if not variants[spec.key]]
    if missing and stop_early:
        return replace(place, problem=f"missing {', '.join(missing)}", files=()), None
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
    assembled = None
    if not problems:
        try:
            assembled = _assemble(arrays, paths)
        except DataError as err:
            problems.append(str(err))
    location = replace(place, problem="; ".join(problems), files=tuple(statuses))
    if assembled is not None:
        _MEMO[key] = (location.files, assembled)
    return location, assembled


def inspect_fashion_mnist(data_dir: PathLike | None = None) -> list[Location]:
    """Every place of the lookup, in order, as loading sees it (for reports).

    Nothing is downloaded. When a directory is named, it is fully checked and the
    other places are listed as not searched; otherwise each place is fully
    checked. The first :attr:`Location.ok` one is what loading uses.
    """
    named = _named(data_dir)
    if named is None:
        places = [Location(_ENV, None, problem="not set"), *_implicit()]
        return [_check(place, stop_early=False)[0] for place in places]
    listed = [_check(named, stop_early=False)[0]]
    if named.source == _ARG:
        env = _environment()
        listed.append(Location(_ENV, env, problem=_NOT_SEARCHED if env else "not set"))
    listed += [replace(place, problem=_NOT_SEARCHED) for place in _implicit()]
    return listed


def _use_named(
    named: Location, download: bool, progress: bool | None
) -> tuple[Location, FashionMNIST]:
    location, data = _check(named, stop_early=False)
    if data is not None:
        return location, data
    directory = cast(Path, named.directory)  # a named place always has one
    missing_only = not location.has_bad_files and (directory.is_dir() or not directory.exists())
    if download and missing_only:
        try:
            download_fashion_mnist(directory, progress=progress)
        except _Uncreatable as err:
            raise DataPathError(f"{named.source} {directory}: {err}") from err
        location, data = _check(named, stop_early=False)
        if data is not None:
            return location, data
    raise named_place_error(location, download=download)


def named_place_error(place: Location, *, download: bool = False) -> DataPathError:
    """The refusal of a named directory that :func:`_check` found unusable: one line
    naming the directory, each file and its problem, and what to do."""
    if place.source == _ARG:
        fix = "correct the path"
    else:
        fix = f"correct the path or unset {_ENV} to search the user cache and {SYSTEM_DIR}"
    directory = cast(Path, place.directory)
    if directory.exists() and not directory.is_dir():
        advice = f"{fix}; it must be a directory holding the four files"
    elif place.has_bad_files and download:
        advice = "files that are there are not overwritten by a download: replace or remove them"
    elif place.has_bad_files:
        advice = f"replace or remove those files, or {fix}"
    elif not directory.exists():
        advice = f"{fix}, or add --download (download=True) to create it and fetch the files"
    else:
        advice = f"{fix}, or add --download (download=True) to fetch the missing files into it"
    return DataPathError(
        f"{place.describe()} (a directory you name is used or refused, never replaced by "
        f"another copy: {advice})"
    )


def _find(
    data_dir: PathLike | None, download: bool, progress: bool | None
) -> tuple[Location, FashionMNIST]:
    named = _named(data_dir)
    if named is not None:
        return _use_named(named, download, progress)
    tried: list[Location] = [Location(_ENV, None, "not set")]
    for place in _implicit():
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
        if place.has_bad_files:
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

    Args:
        data_dir: a directory to use, and the only place looked at; None:
            ``$D2LDROP_DATA_DIR``, else the user cache, else Debian's directory.
        download: fetch missing files (into ``data_dir`` or the user cache).
        progress: show the download's progress; None: on a terminal.

    Returns:
        The directory the four files are read from.

    Raises:
        DataPathError: a named directory is missing or broken.
        DataError: nothing usable was found; the message lists every place
            tried, and why each failed.
    """
    location, _ = _find(data_dir, download, progress)
    return location.directory  # type: ignore[return-value]


def format_places(places: list[Location]) -> str:
    """The report of ``d2ldrop data``: each place of :func:`inspect_fashion_mnist`,
    numbered, with each file's status (``ok``, ``--`` missing, ``BAD``)."""
    if any(place.named for place in places):
        header = ("Fashion-MNIST, from the directory you named (used as it is or refused; "
                  "no other place is searched):")
    else:
        header = ("Fashion-MNIST, places searched in order (the first complete, verified one "
                  "is used):")
    lines = [header]
    for i, place in enumerate(places, 1):
        where = f"{place.source} {place.directory}" if place.directory else place.source
        status = "ok" if place.ok else _summary(place)
        lines.append(f"  {i}. {where}: {status}")
        for f in place.files:
            shown = f.path.name if f.path is not None else f.name
            mark = "ok " if f.ok else "-- " if f.path is None else "BAD"
            lines.append(f"       {mark} {shown}: {f.detail}")
    return "\n".join(lines)


def _summary(place: Location) -> str:
    """A place's problem in a few words when its files are listed below it."""
    missing = sum(f.path is None for f in place.files)
    bad = sum(f.path is not None and not f.ok for f in place.files)
    if not missing and not bad:  # every file fine, or none listed: say the problem itself
        return place.problem.splitlines()[0]
    counts = [f"{n} {word} file{'s' * (n > 1)}" for n, word in ((missing, "missing"), (bad, "bad"))
              if n]
    return f"unusable: {', '.join(counts)}"


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
