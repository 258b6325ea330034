"""Atomic file writes and the contracts lock: what every writer (contract rewrite, evidence, caches)
shares. A write goes to a temp file beside its target, is fsynced and renamed, so a reader sees the
old file or the new one, never half of one."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path


class WriteError(Exception):
    """A contract or evidence file could not be written; the old file is untouched."""


def write_atomic(path: Path, data: str | bytes, *, default_mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` atomically: temp file beside it, fsync, rename; mode kept.

    A new file gets ``default_mode`` (minus the umask), never the 0600 that mkstemp gives.
    """
    path = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = default_mode & ~umask
    except OSError as exc:
        raise WriteError(f"{path}: {exc.strerror or exc}") from None
    tmp_name = None
    try:
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name[:96]}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, mode)
        os.replace(tmp_name, path)
        tmp_name = None
        with contextlib.suppress(OSError):
            dir_fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
    except OSError as exc:
        raise WriteError(f"{path}: cannot write ({exc.strerror or exc}); the old file is unchanged") from None
    finally:
        if tmp_name is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)


def writable_target(path: Path, root: Path | None = None) -> Path:
    """The file to write for ``path``: the target of a symlink (only inside the project), never a
    read-only file (mode without write bits: respected even when running as root)."""
    path = Path(path)
    target = path
    if path.is_symlink():
        target = Path(os.path.realpath(path))
        if root is not None:
            root_real = os.path.realpath(root)
            if not str(target).startswith(root_real + os.sep):
                raise WriteError(f"{path}: a symlink to {target}, outside the project; not rewritten")
    try:
        mode = stat.S_IMODE(target.stat().st_mode)
    except OSError as exc:
        raise WriteError(f"{path}: {exc.strerror or exc}") from None
    if not mode & 0o222:
        raise WriteError(f"{path}: read-only (mode {mode:04o}); not rewritten — make it writable to record this run")
    return target


def remove_stale_temp_files(directory: Path) -> list[Path]:
    """Temp files a killed writer left behind (``.NAME.*.tmp``); removed so no run trips on them."""
    removed = []
    for leftover in Path(directory).glob(".*.tmp"):
        with contextlib.suppress(OSError):
            leftover.unlink()
            removed.append(leftover)
    return removed


@contextlib.contextmanager
def contracts_lock(directory: Path, timeout: float = 120.0) -> Iterator[None]:
    """An OS-level lock (flock) on the contracts directory: released when its holder dies."""
    from filelock import FileLock, Timeout

    try:
        mode = stat.S_IMODE(Path(directory).stat().st_mode)
    except OSError as exc:
        raise WriteError(f"{directory}: {exc.strerror or exc}") from None
    if not mode & 0o222:
        raise WriteError(f"{directory}: read-only (mode {mode:04o}); no contract rewritten — this run's changes are in the summary above")
    if _flock_directory_works():
        with _directory_flock(Path(directory), timeout):
            yield
        return
    lock = FileLock(str(Path(directory) / ".harness.lock"), timeout=timeout)  # Windows: a lock file beside the contracts
    try:
        with lock:
            yield
    except Timeout:
        raise WriteError(f"{directory}: another harness session held the contracts lock for {timeout:.0f}s") from None
    except OSError as exc:
        raise WriteError(f"{directory}: cannot take the contracts lock ({exc.strerror or exc}); is the folder read-only?") from None


def _flock_directory_works() -> bool:
    try:
        import fcntl  # noqa: F401
    except ImportError:
        return False
    return True


@contextlib.contextmanager
def _directory_flock(directory: Path, timeout: float) -> Iterator[None]:
    """flock on the contracts folder itself (POSIX): the lock leaves no file behind in the user's
    tree (a lock file would show up in ``git status`` after every run) and dies with its holder."""
    import fcntl
    import time

    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError as exc:
        raise WriteError(f"{directory}: cannot take the contracts lock ({exc.strerror or exc})") from None
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise WriteError(f"{directory}: another harness session held the contracts lock for {timeout:.0f}s") from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
