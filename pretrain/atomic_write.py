"""Crash-safe file writes: a reader sees the old complete file or the new complete one.

Write to a temporary file in the same folder, flush and fsync it, rename it over the target
(atomic on POSIX), then fsync the folder so the rename itself survives a power cut.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from pretrain.errors import SequenceTutorError

MIN_FREE_BYTES = 16 * 1024 * 1024


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path`` atomically.

    On an exception the temporary file is removed and ``path`` is left untouched.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    umask = os.umask(0)
    os.umask(umask)
    try:
        yield tmp
        # mkstemp makes 0600, and writers such as safetensors' save_file replace the file with a
        # new 0600 one: set normal permissions after the body, so the result looks like any file
        tmp.chmod(0o666 & ~umask)
        with open(tmp, "rb+") as handle:
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) or type(exc).__name__ == "SafetensorError":
            raise _write_error(exc, target) from exc
        raise
    _fsync_dir(target.parent)


_TEMPORARY = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")
"""Names :func:`atomic_path` and :func:`ensure_writable_dir` give their temporary files."""


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files that a killed writer left in ``folder`` (and below).

    Only names of the form :func:`atomic_path` creates (``.<target>.<8 characters>.tmp``) are
    removed. Call it when resuming a run whose folder no other process writes to; returns the
    removed paths.
    """
    removed = []
    root = Path(folder)
    if not root.is_dir():
        return removed
    for directory, _, files in os.walk(root):
        for name in files:
            if _TEMPORARY.match(name):
                path = Path(directory) / name
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    removed.append(path)
    return removed


def _write_error(exc: BaseException, target: Path) -> OSError:
    """An ``OSError`` naming ``target`` (not the temporary file) for a failed write.

    safetensors reports a full disk as ``SafetensorError("... (os error 28)")``, which is not an
    ``OSError``: callers and the command line would show a traceback instead of one line.
    """
    if isinstance(exc, OSError) and exc.errno is not None:
        return OSError(exc.errno, exc.strerror or str(exc), str(target))
    match = re.search(r"os error (\d+)", str(exc))
    code = int(match.group(1)) if match else errno.EIO
    return OSError(code, os.strerror(code), str(target))


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def ensure_writable_dir(
    path: str | os.PathLike, *, min_free_bytes: int = MIN_FREE_BYTES, what: str = "output folder"
) -> Path:
    """Create ``path`` if needed and prove now that files can be written there.

    Call it at the start of a long job, so a read-only or full disk fails in a second instead of
    at the first checkpoint hours later. Writes, fsyncs and removes a small probe file, then
    checks that at least ``min_free_bytes`` are free. Raises :class:`SequenceTutorError` naming
    the folder.
    """
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise SequenceTutorError(f"{folder}: {what} exists and is not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test.", suffix=".tmp", dir=folder)
        try:
            os.write(fd, b"\0" * 4096)
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(probe)
        free = shutil.disk_usage(folder).free
    except OSError as exc:
        raise SequenceTutorError(
            f"{folder}: {what} is not writable ({exc.strerror or exc})"
        ) from None
    if free < min_free_bytes:
        raise SequenceTutorError(
            f"{folder}: {what} has only {free / 2**20:.1f} MiB free; "
            f"at least {min_free_bytes / 2**20:.0f} MiB are needed"
        )
    return folder


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)
