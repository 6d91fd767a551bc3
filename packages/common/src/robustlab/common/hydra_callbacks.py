"""Hydra callbacks of the command-line apps (named in their primary configs' ``hydra.callbacks``).

Kept apart from :mod:`robustlab.common.hydra_app` so that importing an app's command-line module
(or asking it for ``--help``) does not import Hydra; Hydra imports this module itself when it
composes a run.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback

from robustlab.common.errors import RobustlabError
from robustlab.common.hydra_app import check_writable, launch_rank, report_and_exit, verbose
from robustlab.common.hydra_errors import select
from robustlab.common.runlock import RunLock


def _fail(exc: RobustlabError) -> None:
    """End the run with ``exc`` as one line (its traceback with ``--verbose``)."""
    if verbose():
        raise exc
    report_and_exit(Path(sys.argv[0]).name, exc)


class RunDirCheck(Callback):
    """A Hydra callback: the run (or sweep) folder must be writable before logging starts.

    Without it, a read-only run folder ends in Hydra's ``Unable to configure handler 'file'``,
    and a folder named by an interpolation that cannot be resolved in a traceback (here: one
    line naming the key at fault, :mod:`robustlab.common.hydra_errors`). Named in the apps'
    primary configs under ``hydra.callbacks``; the hooks it does not define are Hydra's no-ops.
    """

    def on_run_start(self, config: Any, **kwargs: Any) -> None:
        self._check(config, "hydra.run.dir")

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        self._check(config, "hydra.sweep.dir")

    @staticmethod
    def _check(config: Any, key: str) -> None:
        try:
            check_writable(Path(str(select(config, key))), key)
        except RobustlabError as exc:
            _fail(exc)


class RunDirLock(Callback):
    """A Hydra callback: one process per run folder, locked before Hydra writes its ``.hydra/``
    files and log there (:class:`~robustlab.common.runlock.RunLock`); ``robustlab-prune`` names it.

    A single run locks ``hydra.run.dir``; a multirun locks ``hydra.sweep.dir`` in the launching
    process, and each job's sweep locks its own subfolder. Ranks other than 0 of a torchrun
    launch share rank 0's folder and take no lock. A second process gets one line naming the
    holder (pid, host, start time) and exit status 2.
    """

    def __init__(self) -> None:
        self.lock: RunLock | None = None

    def on_run_start(self, config: Any, **kwargs: Any) -> None:
        self._take(Path(str(config.hydra.run.dir)), "hydra.run.dir")

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        self._take(Path(str(config.hydra.sweep.dir)), "hydra.sweep.dir")

    def on_run_end(self, config: Any, **kwargs: Any) -> None:
        self._leave()

    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        self._leave()

    def _take(self, folder: Path, key: str) -> None:
        if launch_rank() != 0:
            return
        try:
            self.lock = RunLock(folder, what=key).__enter__()
        except RobustlabError as exc:
            _fail(exc)

    def _leave(self) -> None:
        if self.lock is not None:
            self.lock.__exit__(None, None, None)
            self.lock = None
