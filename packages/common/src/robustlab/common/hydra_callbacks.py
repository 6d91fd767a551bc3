"""Hydra callbacks of the command-line apps (named in their primary configs' ``hydra.callbacks``).

Kept apart from :mod:`robustlab.common.hydra_app` so that importing an app's command-line module
(or asking it for ``--help``) does not import Hydra; Hydra imports this module itself when it
composes a run.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback

from robustlab.common.errors import RobustlabError
from robustlab.common.hydra_app import check_writable, launch_rank, report_and_exit, verbose
from robustlab.common.hydra_errors import select
from robustlab.common.runfolder import RunFolder


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
    """A Hydra callback: the run folder protocol (:class:`~robustlab.common.runfolder.RunFolder`)
    on every run folder, before Hydra writes its ``.hydra/`` files and log there.

    A single run claims ``hydra.run.dir``; a multirun claims ``hydra.sweep.dir`` in the launching
    process (the app only) and each job its own subfolder when it starts (Hydra has written the
    job's ``.hydra/`` and opened its log there by then: both are kept). Ranks other than 0 of a
    torchrun launch share rank 0's folder and claim nothing. A refused folder, or one another
    process holds, ends the run with one line and exit status 2.

    Args (the callback's keys in the app's primary config):
        app: the app (default: the primary config's name, ``hydra.job.config_name``).
        identity: config keys whose values name what a run folder holds (the study); a folder
            holding the outputs of other values is refused.
        outputs: glob patterns of what the app's runs write; a folder holding anything else is
            refused. Absent: not checked.
        fresh: an earlier run's outputs are removed before the run (all but ``keep``).
        keep: entries ``fresh`` keeps (state the app resumes from).
    """

    def __init__(self, app: str | None = None, identity: Sequence[str] = (),
                 outputs: Sequence[str] | None = None, fresh: bool = False, keep: Sequence[str] = ()):
        self.app = app
        self.identity = list(identity)
        self.outputs = None if outputs is None else list(outputs)
        self.fresh = fresh
        self.keep = list(keep)
        self.claims: list[RunFolder] = []

    def on_run_start(self, config: Any, **kwargs: Any) -> None:
        self._take(config, "hydra.run.dir")

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        self._take(config, "hydra.sweep.dir", sweep=True)

    def on_job_start(self, config: Any, **kwargs: Any) -> None:
        if str(config.hydra.mode) == "RunMode.MULTIRUN":
            log_file = f"{config.hydra.job.name}.log"
            self._take(config, "hydra.runtime.output_dir", keep=(".hydra", log_file))

    def on_job_end(self, config: Any, job_return: Any = None, **kwargs: Any) -> None:
        if str(config.hydra.mode) == "RunMode.MULTIRUN":
            self._leave()

    def on_run_end(self, config: Any, **kwargs: Any) -> None:
        self._leave()

    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        self._leave()

    def _take(self, config: Any, key: str, sweep: bool = False, keep: Sequence[str] = ()) -> None:
        if launch_rank() != 0:
            return
        try:
            app = self.app or str(select(config, "hydra.job.config_name"))
            folder = Path(str(select(config, key)))
            if sweep:  # the sweep folder holds the jobs' folders: only its app is checked
                claim = RunFolder(folder, app, what=key)
            else:
                identity = {k: _plain(select(config, k)) for k in self.identity}
                claim = RunFolder(folder, app, identity=identity, outputs=self.outputs, fresh=self.fresh,
                                  keep=[*self.keep, *keep], what=key)
            self.claims.append(claim.__enter__())
        except RobustlabError as exc:
            _fail(exc)

    def _leave(self) -> None:
        if self.claims:
            self.claims.pop().__exit__(None, None, None)


def _plain(value: Any) -> Any:
    """A config value as plain Python (a config node as dicts and lists)."""
    from omegaconf import OmegaConf

    return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value
