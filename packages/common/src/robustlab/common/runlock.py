"""One writer per run folder: an advisory lock that names its holder.

A run folder is written by one process at a time. :class:`RunLock` takes an exclusive
``fcntl.flock`` on ``<folder>/.robustlab.lock`` (atomic: the kernel grants it to one open file
at a time, and releases it when its process ends, even on ``kill -9``) and writes the holder's
pid, host and start time into that file. A second process asking for the lock gets a
:class:`~robustlab.common.errors.RunLockedError` naming the holder, at once (no waiting). A lock
file that still names a process although nobody holds the lock was left by a process that died
without releasing it (``kill -9``, a node lost): it is taken over, with a warning naming the
dead holder.

The lock is re-entrant within one process (a Hydra callback and the library may both take it
around the same work); it is released when the last holder leaves, or at the process's exit.

Example:
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> with RunLock(folder):
    ...     with RunLock(folder):            # the same process: re-entrant
    ...         pass
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import fcntl
import json
import logging
import os
import socket
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from robustlab.common.errors import RunLockedError

LOCK_FILE = ".robustlab.lock"
log = logging.getLogger(__name__)
#: Locks this process holds: resolved folder -> [open file descriptor, depth].
_HELD: dict[str, list[int]] = {}


def holder_text(record: dict[str, Any]) -> str:
    """``pid 123 on host node1, started 2026-12-06 19:00:00 UTC`` (what a lock file records)."""
    return (f"pid {record.get('pid', '?')} on host {record.get('host', '?')}, started "
            f"{record.get('started', '?')}")


def _read(fd: int) -> dict[str, Any]:
    os.lseek(fd, 0, os.SEEK_SET)
    raw = os.read(fd, 4096)
    with contextlib.suppress(ValueError):
        record = json.loads(raw.decode("utf-8", "replace")) if raw.strip() else {}
        return record if isinstance(record, dict) else {}
    return {}


def _alive(pid: Any) -> bool:
    """Whether process ``pid`` exists on this host."""
    try:
        os.kill(int(pid), 0)
    except (OSError, ValueError, TypeError) as exc:
        return isinstance(exc, PermissionError)
    return True


class RunLock:
    """Hold ``<folder>/.robustlab.lock`` while the block runs (see the module docstring).

    Args:
        folder: the run folder (created when missing).
        what: how the error names the folder to the user (``"the run folder"``, a config key).
        wait: wait for the holder to finish instead of refusing (for a folder that processes
            share in turn, such as a simulated study of the planner's seeds).

    Raises:
        RunLockedError: another live process holds the lock (and ``wait`` is false); the
            message names it.
    """

    def __init__(self, folder: str | os.PathLike[str], what: str = "run folder", wait: bool = False):
        self.folder = Path(folder)
        self.what = what
        self.wait = wait
        self.key = str(self.folder.resolve())

    def __enter__(self) -> RunLock:
        if self.key in _HELD:
            _HELD[self.key][1] += 1
            return self
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / LOCK_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if not self.wait:
                    raise
                log.info("%s is in use by another process (%s); waiting for it", self.folder,
                         holder_text(_read(fd)))
                fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as exc:
            record = _read(fd)
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            raise RunLockedError(f"{self.what} {self.folder} is in use by another process ({holder_text(record)}); "
                                 f"wait for it to finish, or choose another folder (lock file {path})") from None
        self._take_over(fd, path)
        _HELD[self.key] = [fd, 1]
        return self

    def _take_over(self, fd: int, path: Path) -> None:
        """Warn about a dead holder's record, then write this process's."""
        old = _read(fd)
        if old:
            same_host = old.get("host") == socket.gethostname()
            state = "is gone" if not same_host or not _alive(old.get("pid")) else "no longer holds it"
            log.warning("%s: taking over a stale lock of %s (that process %s)", path, holder_text(old), state)
        record = {"pid": os.getpid(), "host": socket.gethostname(),
                  "started": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode(), 0)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        release(self.key)


def held(folder: str | os.PathLike[str]) -> bool:
    """Whether this process holds the lock of ``folder``."""
    return str(Path(folder).resolve()) in _HELD


def release(key: str, force: bool = False) -> None:
    """Leave the lock of folder ``key`` once (all levels with ``force``); clear it when free."""
    held = _HELD.get(key)
    if held is None:
        return
    held[1] = 0 if force else held[1] - 1
    if held[1] > 0:
        return
    del _HELD[key]
    with contextlib.suppress(OSError):
        os.ftruncate(held[0], 0)  # an empty lock file: released cleanly, nothing stale
    os.close(held[0])


@atexit.register
def _release_all() -> None:
    for key in list(_HELD):
        release(key, force=True)
