"""Downloading the four files from the upstream mirrors into a directory.

Only on request (``download=True``, ``d2ldrop data --download``). Each file is
written under a temporary name beside its target (:func:`d2ldrop._io.atomic_path`),
decoded and checked against its sha256, and only then renamed into place: a failed,
corrupt or interrupted download leaves the directory as it was.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from d2ldrop._io import atomic_path
from d2ldrop._version import __version__
from d2ldrop.data.files import FILES, FileSpec, _load_verified, _variants, _verifies, cache_dir
from d2ldrop.data.idx import PathLike, _WrongContent
from d2ldrop.display.progress import Progress
from d2ldrop.errors import D2LDropError, DataError

#: Download mirrors, tried in order; each holds ``<name>.gz``.
MIRRORS: tuple[str, ...] = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
)
#: Attempts per mirror, the first pause between them (doubled each time), the
#: socket timeout and the read size of a download.
RETRIES = 3
BACKOFF_S = 1.0
TIMEOUT_S = 30.0
CHUNK_BYTES = 1 << 16


# urllib (and with it http.client and ssl) is imported when a download starts,
# so that importing d2ldrop stays quick.


def _open_url(request: Any, timeout: float) -> Any:
    """``urllib.request.urlopen``; the tests replace this, so they never reach a network."""
    import urllib.request

    return urllib.request.urlopen(request, timeout=timeout)


def _sleep(seconds: float) -> None:
    time.sleep(seconds)


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


class _IncompleteDownload(D2LDropError, OSError):
    """The connection closed before the announced length arrived (the next mirror is tried)."""


class _Uncreatable(DataError):
    """The target directory cannot be created (a path problem, not a network one)."""


def _transient_http(err: Exception) -> bool:
    code = getattr(err, "code", None)
    return code is None or code in (408, 425, 429) or code >= 500


def _fetch(url: str, spec: FileSpec, directory: Path, progress: bool) -> None:
    """Download ``url`` to a temporary file beside its target and move it in once verified."""
    import urllib.request

    target = directory / f"{spec.name}.gz"
    # Whatever stops us (an error, Ctrl-C), atomic_path removes the temporary file,
    # so the directory keeps what it had.
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as out:
            request = urllib.request.Request(url, headers={"User-Agent": f"d2ldrop/{__version__}"})
            with _open_url(request, TIMEOUT_S) as response:
                length = response.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                bar = Progress(target.name, total, enabled=progress, stream=sys.stderr, fmt=_mib)
                done = 0
                try:
                    while chunk := response.read(CHUNK_BYTES):
                        out.write(chunk)
                        done += len(chunk)
                        bar.update(done)
                finally:
                    bar.close()
        if total is not None and done != total:
            raise _IncompleteDownload(f"connection closed after {done} of {total} bytes")
        _load_verified(tmp, spec, gzip_expected=True)


def _download_one(spec: FileSpec, directory: Path, progress: bool) -> None:
    import http.client
    import urllib.error

    errors: list[str] = []
    for mirror in MIRRORS:
        url = f"{mirror}{spec.name}.gz"
        for attempt in range(1, RETRIES + 1):
            try:
                _fetch(url, spec, directory, progress)
                return
            except _WrongContent as err:
                errors.append(f"{url}: {err}")
                break
            except urllib.error.HTTPError as err:
                errors.append(f"{url} (attempt {attempt}/{RETRIES}): HTTP {err.code} {err.reason}")
                if not _transient_http(err):
                    break
            except (OSError, http.client.HTTPException, DataError) as err:
                reason = getattr(err, "reason", None) or err
                errors.append(f"{url} (attempt {attempt}/{RETRIES}): {reason}")
            if attempt < RETRIES:
                _sleep(BACKOFF_S * 2 ** (attempt - 1))
    raise DataError(
        f"could not download {spec.name}.gz ({directory} is unchanged):\n"
        + "\n".join(f"  {e}" for e in errors)
    )


def download_fashion_mnist(
    directory: PathLike | None = None, *, progress: bool | None = None
) -> Path:
    """Download the files that ``directory`` (default: :func:`cache_dir`) lacks.

    Files already there that verify are kept, others are replaced (the lookup
    never asks this of a directory the user named that holds unusable files).
    Each download goes to a temporary file, is decoded and checked against its
    sha256, and only then is moved in; a failed, corrupt or interrupted download
    leaves the directory as it was.
    Each mirror is tried :data:`RETRIES` times with exponential backoff. The
    progress bar goes to stderr, by default only when stderr is a terminal.

    Args:
        directory: where the files go (created if need be); None: the user cache.
        progress: show a progress bar on stderr; None: when stderr is a terminal.

    Returns:
        The directory, now holding the four verified files.

    Raises:
        DataError: a file could not be fetched from any mirror or did not
            verify, or the directory cannot be created.

    Example:
        >>> d2ldrop.data.download_fashion_mnist()  # into ~/.cache/d2ldrop/fashion-mnist
    """
    directory = cache_dir() if directory is None else Path(directory).expanduser()
    show = sys.stderr.isatty() if progress is None else progress
    created = [p for p in (directory, *directory.parents) if not p.exists()]
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise _Uncreatable(f"cannot create {directory}: {err.strerror or err}") from err
    try:
        for spec in FILES:
            if any(_verifies(path, spec) for path in _variants(directory, spec)):
                continue
            _download_one(spec, directory, show)
    except BaseException:
        for path in created:  # leaf first; only the empty directories we made
            try:
                path.rmdir()
            except OSError:
                break
        raise
    return directory
