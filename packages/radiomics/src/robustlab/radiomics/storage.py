"""Writes that fail for want of room or rights, named: the path, and the file system it is on.

A full disk or a read-only folder surfaces deep inside a library as ``[Errno 28] No space left
on device``, without the file, and a run writes to two places that are often on different file
systems (its run folder and the shared cache). :func:`writing` raises such an error again as
one that names what was being written, where, and the file system there (its type, where it is
mounted, and the room left).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

#: The errors of room or rights: named with the file system where they happened.
STORAGE_ERRORS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EACCES, errno.EPERM,
                            errno.EROFS})


def in_units(n_bytes: float) -> str:
    """``n_bytes`` in the largest binary unit that keeps it at least 1 (``4.0 GiB``)."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n_bytes < 1024 or unit == "GiB":
            return f"{n_bytes:.1f} {unit}" if unit != "B" else f"{int(n_bytes)} B"
        n_bytes /= 1024
    raise AssertionError("unreachable")


def file_system(path: Path) -> str:
    """The file system holding ``path`` (or its nearest existing folder): its type where the
    system says it, its mount point, and its free and total room."""
    here = Path(os.path.abspath(path))
    while not here.exists() and here != here.parent:
        here = here.parent
    mount = here
    while not os.path.ismount(mount) and mount != mount.parent:
        mount = mount.parent
    kind = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mounts").read_text().splitlines():
            fields = line.split()
            if len(fields) > 2 and fields[1] == str(mount):
                kind = f"{fields[2]} "
    try:
        usage = shutil.disk_usage(here)
        room = f"{in_units(usage.free)} free of {in_units(usage.total)}"
    except OSError:
        room = ""
    return f"the {kind}file system mounted at {mount} ({room})" if room else \
        f"the {kind}file system mounted at {mount}"


def storage_error(exc: OSError, path: Path, what: str) -> OSError:
    """``exc`` (an error of room or rights) as an ``OSError`` naming ``what`` was written under
    ``path``, the file that failed there, and the file system.

    The file is the one of ``exc`` that lies under ``path``: a failed copy names its source first
    (``shutil.copyfile`` sets ``filename`` to the source, ``filename2`` to the target), and the
    source's file system is not the one that is full.
    """
    folder = Path(os.path.abspath(path))
    named = [Path(os.path.abspath(f)) for f in (exc.filename2, exc.filename) if f]
    target = next((f for f in named if f == folder or f.is_relative_to(folder)), folder)
    reason = exc.strerror or os.strerror(exc.errno or 0)
    return type(exc)(exc.errno, f"{reason}, writing {what} on {file_system(target)}", str(target))


@contextlib.contextmanager
def writing(path: Path, what: str) -> Iterator[None]:
    """Raise an error of room or rights inside the block as :func:`storage_error` names it."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in STORAGE_ERRORS:
            raise
        raise storage_error(exc, path, what) from exc
