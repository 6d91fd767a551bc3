"""Atomic writes: a reader never sees a half-written file, a crash never leaves one.

Every file is written to a temporary file in the same directory, flushed to disk, then moved
over the target with ``os.replace`` (atomic on POSIX and Windows for one filesystem). The file
gets the permissions a plain ``open()`` would give it (``0o666`` less the umask), not the
``0o600`` of :func:`tempfile.mkstemp`: a lab shares its results folders. A write that fails for
want of space or permission (``ENOSPC``, ``EDQUOT``, ``EACCES``, ``EPERM``, ``EROFS``) raises an
``OSError`` of the same ``errno`` naming the target (not the temporary file) and the file system
that refused it (:func:`file_system`).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:  # pandas is imported by the table functions only: light processes skip it
    import pandas as pd


#: Errors of a write that say which file system refused it: no space (or quota), no permission,
#: read-only.
FILE_SYSTEM_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` atomically.

    Raises:
        OSError: out of space or permission, naming ``path`` and its file system.

    Example:
        >>> import tempfile, pathlib
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "x.txt"
        >>> with atomic_path(target) as tmp:
        ...     _ = tmp.write_text("hello")
        >>> target.read_text()
        'hello'
    """
    path = Path(path)
    tmp: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        os.chmod(tmp, shared_mode())
        yield tmp
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        if exc.errno not in FILE_SYSTEM_ERRORS:
            raise
        raise OSError(exc.errno, f"{exc.strerror or os.strerror(exc.errno)} (writing it on "
                                 f"{file_system(path.parent)})", str(path)) from exc
    finally:
        if tmp is not None and tmp.exists():
            tmp.unlink()


def file_system(path: str | os.PathLike[str]) -> str:
    """The file system holding ``path`` (or its nearest existing folder), for an error message:
    ``the file system mounted at /data (ext4, 1.2 MB free)``."""
    where = Path(os.path.abspath(path))
    while not where.exists() and where != where.parent:
        where = where.parent
    while not os.path.ismount(where) and where != where.parent:
        where = where.parent
    details = [kind for kind in [_mount_type(where)] if kind]
    with contextlib.suppress(OSError):
        details.append(f"{_size(shutil.disk_usage(where).free)} free")
    return f"the file system mounted at {where}" + (f" ({', '.join(details)})" if details else "")


def _mount_type(mount: Path) -> str | None:
    """The type of the file system mounted at ``mount`` (``/proc/self/mounts``; None elsewhere)."""
    kind = None
    with contextlib.suppress(OSError):
        with open("/proc/self/mounts", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                fields = line.split()
                # the table writes a space in a mount point as \040
                if len(fields) > 2 and fields[1].replace("\\040", " ") == str(mount):
                    kind = fields[2]  # the last mount on a point is the one in use
    return kind


def _size(n: float) -> str:
    """``1.2 MB``: a byte count in decimal units."""
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000:
            return f"{n:.0f} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def current_umask() -> int:
    """The process's umask.

    Read from ``/proc/self/status`` where Linux offers it; elsewhere by setting it and setting it
    back (POSIX has no getter; a thread creating a file in that instant would get ``0o022``).
    """
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def shared_mode(directory: bool = False) -> int:
    """The mode ``open()`` (``0o666``) or ``mkdir()`` (``0o777``) gives under the current umask."""
    return (0o777 if directory else 0o666) & ~current_umask()


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "w", **kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temporary file for writing that replaces ``path`` when the block succeeds."""
    if not any(m in mode for m in "wx"):
        raise ValueError(f"atomic_open writes only; got mode {mode!r}")
    with atomic_path(path) as tmp, open(tmp, mode.replace("x", "w"), **kwargs) as fh:
        yield fh


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; return the path."""
    with atomic_open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    return Path(path)


def write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write ``obj`` as indented JSON atomically (NumPy scalars and paths are converted)."""
    return write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def write_table(
    df: pd.DataFrame, path: str | os.PathLike[str], formats: tuple[str, ...] = ("csv", "parquet")
) -> list[Path]:
    """Write ``df`` atomically as CSV and/or Parquet next to each other.

    Args:
        df: the table; its index is written only when it is named.
        path: the target without or with a suffix; each format replaces the suffix.
        formats: any of ``"csv"`` and ``"parquet"``.

    Returns:
        The written paths, in the order of ``formats``.
    """
    path = Path(path)
    keep_index = any(name is not None for name in df.index.names)
    written = []
    for fmt in formats:
        target = path.with_suffix(f".{fmt}")
        with atomic_path(target) as tmp:
            if fmt == "csv":
                df.to_csv(tmp, index=keep_index)
            elif fmt == "parquet":
                df.to_parquet(tmp, index=keep_index)
            else:
                raise ValueError(f"unknown table format {fmt!r}; expected 'csv' or 'parquet'")
        written.append(target)
    return written


def read_table(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a table written by :func:`write_table` (Parquet preferred when both exist)."""
    import pandas as pd

    path = Path(path)
    parquet, csv = path.with_suffix(".parquet"), path.with_suffix(".csv")
    if path.suffix == ".csv" or (not parquet.exists() and csv.exists()):
        return pd.read_csv(csv)
    if parquet.exists():
        return pd.read_parquet(parquet)
    raise FileNotFoundError(f"no table at {path} (looked for {parquet.name} and {csv.name})")
