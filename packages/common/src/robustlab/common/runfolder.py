"""One protocol for the run folders of both apps: locked, owned by one app and one study, and
cleared of an earlier run's outputs.

A run folder is claimed (:class:`RunFolder`) before anything is written into it. It is then

- **new**: missing, or empty;
- **resumed**: a folder of the same app whose identity (the config values that name the study or
  the sweep, :func:`identity_of`) is the same, or whose earlier run wrote nothing but its
  records (``.hydra/``, ``run_info.json``, a log: a run stopped by bad input);
- **refused**, with one line (:class:`~robustlab.common.errors.RunFolderError`): a folder of the
  other app; one of the same app holding the outputs of another study; a folder that is no run
  of either app but holds files (a study's inputs, anything else).

The folder's app and identity are kept in its marker ``.robustlab-run.json``; a folder written
before markers existed is known by Hydra's record of its primary config (``.hydra/hydra.yaml``,
or a multirun's ``multirun.yaml``) or by the first file either app's library writes
(``sweep_spec.json``, ``extraction.json``). While claimed, the folder is locked
(:class:`~robustlab.common.runlock.RunLock`: one process at a time). An app that declares the
entries its runs write (``outputs``) has a resumed folder holding anything else refused; with
``fresh`` (an app whose every run writes all its outputs again), what an earlier run left there
is removed before this run writes anything, except the entries named in ``keep`` (state the app
resumes from), so that no report links a table of an earlier run as this run's.

Example:
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> with RunFolder(folder, "radiomics", identity={"study": "a.yaml"}) as run:
    ...     run.state
    'new'
"""

from __future__ import annotations

import contextlib
import fnmatch
import functools
import inspect
import json
import os
import re
import shutil
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from robustlab.common.errors import RunFolderError
from robustlab.common.runlock import LOCK_FILE, RunLock, held

F = TypeVar("F", bound=Callable[..., Any])
MARKER = ".robustlab-run.json"
#: What a run writes about itself, not as a result: a folder holding only these has no outputs.
RECORDS = (".hydra", "run_info.json", LOCK_FILE, MARKER)
#: Files whose presence names the app of a folder written before markers existed.
LEGACY_FILES = {"sweep_spec.json": "pruning", "extraction.json": "radiomics"}
_CONFIG_NAME = re.compile(r"^\s+config_name: ['\"]?([\w.-]+)", re.MULTILINE)
#: Folders claimed by this process (resolved path), while their lock is held.
_CLAIMED: set[str] = set()


def folder_app(folder: Path) -> str | None:
    """The app whose run folder ``folder`` is (its marker, else the legacy signs); None if none."""
    marker = read_marker(folder)
    if marker is not None:
        return str(marker.get("app"))
    for record in (folder / ".hydra" / "hydra.yaml", folder / "multirun.yaml"):
        with contextlib.suppress(OSError):
            found = _CONFIG_NAME.search(record.read_text(encoding="utf-8", errors="replace"))
            if found:
                return found.group(1)
    return next((app for name, app in LEGACY_FILES.items() if (folder / name).is_file()), None)


def read_marker(folder: Path) -> dict[str, Any] | None:
    """The marker of ``folder`` (``{"app": ..., "identity": ...}``); None when it has none."""
    try:
        record = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and "app" in record else None


def identity_of(values: Mapping[str, Any]) -> dict[str, Any]:
    """Config values as an identity: a string naming an existing path stands for its resolved path
    (``a.yaml`` and ``./a.yaml`` are one study), everything else as JSON keeps it."""
    out = {}
    for key, value in values.items():
        if isinstance(value, str) and value and Path(value).expanduser().exists():
            value = str(Path(value).expanduser().resolve())
        out[key] = json.loads(json.dumps(value, default=str))
    return out


def _is_record(name: str) -> bool:
    return name in RECORDS or name.endswith(".log")


def _names(entries: Iterable[Path], most: int = 4) -> str:
    names = sorted(p.name + ("/" if p.is_dir() and not p.is_symlink() else "") for p in entries)
    return ", ".join(names[:most]) + (f" and {len(names) - most} more" if len(names) > most else "")


class RunFolder:
    """Claim ``folder`` for a run of ``app`` while the block runs (see the module docstring).

    Re-entrant within one process: a folder this process has claimed already (a Hydra callback
    before the task, the library inside it) is locked again and neither checked nor cleared.

    Args:
        folder: the run folder (created when missing).
        app: the app writing it (``"radiomics"``, ``"pruning"``).
        identity: the config values naming what the folder holds (:func:`identity_of`); None:
            any run of ``app`` resumes it (the app checks the rest itself). A value naming a
            path inside the folder (a study file there) is refused: a run writes its outputs
            beside it.
        outputs: glob patterns of the entries runs of ``app`` write; a resumed folder holding
            anything else is refused, naming it. None: not checked.
        fresh: remove what an earlier run left there (but ``keep``) before this run writes;
            only entries matching ``outputs`` (or the run's records) are ever removed.
        keep: names of entries ``fresh`` keeps (state the app resumes from).
        what: how the error names the folder (a config key such as ``hydra.run.dir``).

    Attributes:
        state: ``"new"``, ``"resumed"`` or ``"held"`` (claimed already by this process).

    Raises:
        RunFolderError: the folder belongs to another app or study, or holds other files.
        RunLockedError: another live process holds the folder.
    """

    def __init__(self, folder: str | os.PathLike[str], app: str, *, identity: Mapping[str, Any] | None = None,
                 outputs: Iterable[str] | None = None, fresh: bool = False, keep: Iterable[str] = (),
                 what: str = "run folder"):
        self.folder = Path(folder)
        self.app = app
        self.identity = identity_of(identity) if identity is not None else None
        self.outputs = None if outputs is None else tuple(outputs)
        self.fresh = fresh and self.outputs is not None
        self.keep = set(keep)
        self.what = what
        self.state = "held"
        self._lock = RunLock(self.folder, what=what)

    def __enter__(self) -> RunFolder:
        claimed = self._lock.key in _CLAIMED and held(self.folder)
        lock_file = self.folder / LOCK_FILE
        had_lock_file = lock_file.exists()
        self._lock.__enter__()
        if claimed:
            return self
        try:
            self.state = self._claim()
        except BaseException as exc:
            if isinstance(exc, RunFolderError) and not had_lock_file:
                lock_file.unlink(missing_ok=True)  # a refused folder is left as it was
            self._lock.__exit__(None, None, None)
            raise
        _CLAIMED.add(self._lock.key)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._lock.__exit__(exc_type, exc, tb)
        if not held(self.folder):
            _CLAIMED.discard(self._lock.key)

    def _claim(self) -> str:
        """Check the folder, clear it when ``fresh``, write its marker; the state."""
        entries = [p for p in self.folder.iterdir() if p.name not in (LOCK_FILE, MARKER)]
        owner = folder_app(self.folder)
        marker = read_marker(self.folder) or {}
        self._check(entries, owner, marker.get("identity"))
        if self.fresh:
            for entry in entries:
                if entry.name not in self.keep:
                    _remove(entry)
        from robustlab.common.io import write_json

        identity = self.identity if self.identity is not None else marker.get("identity")
        write_json(self.folder / MARKER, {"app": self.app, "identity": identity})
        return "new" if owner is None else "resumed"

    def _check(self, entries: list[Path], owner: str | None, recorded: dict[str, Any] | None) -> None:
        """Raise :class:`RunFolderError` unless the folder is new or resumable by this run."""
        where = f"{self.what} {self.folder}"
        # A log is a record (another rank of the launch may have opened its log first).
        if owner is None and (foreign := [p for p in entries if not _is_record(p.name)]):
            raise RunFolderError(f"{where} holds files of no robustlab run ({_names(foreign)}); choose a "
                                 "new or empty folder (a run writes its outputs there)")
        if owner is not None and owner != self.app:
            raise RunFolderError(f"{where} is a run folder of the {owner} app, not of {self.app}; "
                                 "choose another folder")
        root = self.folder.resolve()
        for key, value in (self.identity or {}).items():
            if isinstance(value, str) and Path(value).is_absolute() and root in Path(value).parents:
                raise RunFolderError(f"{where} holds this run's input ({key}={value}); a run writes its "
                                     "outputs there: choose another folder")
        outputs = [p for p in entries if not _is_record(p.name)]
        if self.identity is not None and recorded is not None and recorded != self.identity and outputs:
            differ = "; ".join(f"{k}: {recorded.get(k)!r} there, {self.identity.get(k)!r} now"
                               for k in sorted(set(recorded) | set(self.identity))
                               if recorded.get(k) != self.identity.get(k))
            raise RunFolderError(f"{where} holds the outputs of another {self.app} run ({differ}); "
                                 "choose another folder, or remove that one")
        foreign = [p for p in outputs if self.outputs is not None and p.name not in self.keep
                   and not any(fnmatch.fnmatch(p.name, pattern) for pattern in self.outputs)]
        if foreign:
            raise RunFolderError(f"{where} holds files no {self.app} run writes ({_names(foreign)}); "
                                 "choose another folder (a run would write its outputs beside them)")


def _remove(entry: Path) -> None:
    """Remove a file, a link (not what it points to) or a folder tree."""
    if entry.is_dir() and not entry.is_symlink():
        shutil.rmtree(entry)
    else:
        entry.unlink(missing_ok=True)


def claims_run_folder(argument: str, app: str, **layout: Any) -> Callable[[F], F]:
    """Decorate a library entry point whose ``argument`` names its run folder: each call runs
    with that folder claimed (:class:`RunFolder` with ``app`` and ``layout``'s keywords).

    A call from a command-line run whose folder is claimed already (same process) just holds it.
    """

    def decorate(func: F) -> F:
        signature = inspect.signature(func)

        @functools.wraps(func)
        def claimed(*args: Any, **kwargs: Any) -> Any:
            folder = signature.bind(*args, **kwargs).arguments[argument]
            with RunFolder(folder, app, **layout):
                return func(*args, **kwargs)

        return claimed  # type: ignore[return-value]  # functools.wraps keeps func's signature

    return decorate
