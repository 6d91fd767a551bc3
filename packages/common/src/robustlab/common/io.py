"""Atomic writes: a reader never sees a half-written file, a crash never leaves one.

Every file is written to a temporary file in the same directory, flushed to disk, then moved
over the target with ``os.replace`` (atomic on POSIX and Windows for one filesystem). The file
gets the permissions a plain ``open()`` would give it (``0o666`` less the umask), not the
``0o600`` of :func:`tempfile.mkstemp`: a lab shares its results folders.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:  # pandas is imported by the table functions only: light processes skip it
    import pandas as pd


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` atomically.

    Example:
        >>> import tempfile, pathlib
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "x.txt"
        >>> with atomic_path(target) as tmp:
        ...     _ = tmp.write_text("hello")
        >>> target.read_text()
        'hello'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        os.chmod(tmp, shared_mode())
        yield tmp
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


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
