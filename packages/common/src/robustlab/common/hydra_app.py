"""Hydra at the edge: the config root and one way to declare a command-line entry point.

Every command-line app of robustlab is declared with :func:`hydra_entry`: it composes the
config from ``conf/`` (found from any working directory), seeds every generator from the
config's ``seed``, writes ``run_info.json`` into Hydra's run directory, imports the modules
named in the config's ``plugins`` (so that what they register can be named in the config), and
calls the task with the config and that directory. Library code never sees a ``DictConfig``.

Bad input ends a run with one line on stderr and exit status 2: the project's own errors
(:class:`robustlab.common.errors.RobustlabError`) and ``OSError`` are printed as
``<app>: error: <what, where, what to do>``; the traceback goes to the run's log file. With
``--verbose`` (anywhere on the command line) or ``HYDRA_FULL_ERROR=1`` the traceback is shown.
Before Hydra opens its log file, :class:`robustlab.common.hydra_callbacks.RunDirCheck` makes
sure the run folder can be written. ``--help`` is answered without Hydra (:func:`app_help`): the
app's own text and its config groups, read from ``conf/<app>/``.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from robustlab.common.errors import ConfigError, RobustlabError
from robustlab.common.resources import CONFIG_ENV, config_dir

VERBOSE_ENV = "ROBUSTLAB_VERBOSE"
#: Exit status of a run stopped by bad input (argparse's status for a usage error).
BAD_INPUT_STATUS = 2
log = logging.getLogger(__name__)


def verbose() -> bool:
    """Whether errors show their traceback (``--verbose`` was given or ``HYDRA_FULL_ERROR=1``)."""
    return os.environ.get(VERBOSE_ENV) == "1" or os.environ.get("HYDRA_FULL_ERROR") == "1"


def one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line (an ``OSError`` keeps its file name and reason).

    An ``OSError`` of two files (a copy, a move) names both; out of space or permission
    (:data:`~robustlab.common.io.FILE_SYSTEM_ERRORS`), it names the file system written to
    (the second file's), unless its message does already (the atomic writes' do). An error
    re-raised from a ``DataLoader`` worker carries the worker's traceback in its message; its
    last line, the original error, is kept.
    """
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        from robustlab.common.io import FILE_SYSTEM_ERRORS, file_system

        target = exc.filename if exc.filename2 is None else exc.filename2
        names = exc.filename if exc.filename2 is None else f"{exc.filename} -> {exc.filename2}"
        text = f"{names}: {exc.strerror}"
        if exc.errno in FILE_SYSTEM_ERRORS and "file system mounted at" not in exc.strerror:
            text += f" (writing {target} on {file_system(Path(os.fsdecode(target)).parent)})"
    elif isinstance(exc, RobustlabError) and len(exc.args) == 1:
        text = str(exc.args[0])  # its lines as raised (str() writes line breaks as \n)
    else:
        text = str(exc) or type(exc).__name__
    lines = [part.strip() for part in text.splitlines() if part.strip()]
    if len(lines) > 1 and "Original Traceback" in lines[1]:
        lines = lines[-1:]
    return " ".join(lines)


def report_and_exit(app: str, exc: BaseException) -> NoReturn:
    """Print ``exc`` as one line, keep its traceback in the log files, exit with status 2."""
    record = log.makeRecord(log.name, logging.ERROR, __file__, 0, "%s", (one_line(exc),),
                            (type(exc), exc, exc.__traceback__))
    raising, logging.raiseExceptions = logging.raiseExceptions, False  # a full disk: no 2nd report
    try:
        for handler in logging.getLogger().handlers:  # the run's log file only, not the console
            if isinstance(handler, logging.FileHandler):
                handler.handle(record)
    finally:
        logging.raiseExceptions = raising
    hint = "" if verbose() else " (--verbose shows the traceback)"
    print(f"{app}: error: {one_line(exc)}{hint}", file=sys.stderr)
    raise SystemExit(BAD_INPUT_STATUS)


def apply_wait_policy() -> None:
    """OpenMP's waiting threads sleep (:func:`robustlab.common.threads.wait_passively`) unless
    ``$ROBUSTLAB_THREAD_POLICY=torch``: called first by every app, before anything loads an
    OpenMP runtime (the radiomics app loads none of its own; a plugin or a later import may).
    A policy name that does not exist is one line and exit status 2."""
    from robustlab.common.threads import thread_policy, wait_passively

    try:
        if thread_policy() == "shared":
            wait_passively()
    except ConfigError as exc:
        report_and_exit(Path(sys.argv[0]).name, exc)


def check_writable(folder: Path, key: str) -> None:
    """Create ``folder`` if needed and write a file in it; raise naming ``key`` when it fails."""
    import tempfile


    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{key}: {folder} is not a directory; choose a folder with {key}=<path>")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise ConfigError(f"{key}: cannot write in {folder} ({exc.strerror or exc}); choose a "
                          f"writable folder with {key}=<path>") from exc


def config_groups(root: Path, app: str) -> dict[str, list[str]]:
    """The config groups of app ``app`` (folders of ``root/<app>/``) and their options (YAML stems)."""
    base = root / app
    groups: dict[str, list[str]] = {}
    for folder in sorted(p for p in base.rglob("*") if p.is_dir()):
        options = sorted(f.stem for f in folder.glob("*.yaml"))
        if options:
            groups[folder.relative_to(base).as_posix()] = options
    return groups


def all_config_groups(root: Path, app: str, extra: Sequence[Path]) -> dict[str, list[str]]:
    """:func:`config_groups` of ``root``, with the options of each folder of ``extra`` (a
    ``--config-dir``: its groups at its top level, or under ``<app>/``) added."""
    groups = config_groups(root, app)
    for folder in extra:  # one level deep: a --config-dir may be a large folder
        for path in [*folder.glob("*/*.yaml"), *(folder / app).glob("*/*.yaml")]:
            groups[path.parent.name] = sorted({*groups.get(path.parent.name, []), path.stem})
    return groups


def app_help(app: str, name: str, doc: str | None, root: Path | None = None) -> str:
    """The ``--help`` text of app ``app`` run as ``name``: ``doc``, the config groups, the flags.

    Read from the files alone (no Hydra, no config composition), so that it answers at once;
    ``<name> --cfg job [overrides]`` prints the composed config and ``--hydra-help`` Hydra's flags.
    """
    groups = config_groups(root or config_dir(), app)
    width = max((len(g) for g in groups), default=0)
    lines = [(doc or name).strip(), "",
             f"Config groups (group=option; the files in conf/{app}/):"]
    lines += [f"  {group:<{width}}  {', '.join(options)}" for group, options in groups.items()]
    lines += ["", "Override any key with key=value (add one with +key=value); -m sweeps over",
              "comma-separated values.",
              f"  {name} --cfg job [overrides]   print the composed config and exit",
              f"  {name} --verbose ...           show the traceback of an error",
              f"  {name} --hydra-help            Hydra's own flags"]
    return "\n".join(lines)


def take_verbose_flag() -> None:
    """Remove ``--verbose`` from the command line (Hydra would reject it) and remember it."""
    if "--verbose" in sys.argv[1:]:
        sys.argv.remove("--verbose")
        os.environ[VERBOSE_ENV] = "1"  # jobs started by a launcher inherit it


def launch_rank() -> int:
    """This process's rank in a multi-process launch (torchrun's ``RANK``, else Slurm's
    ``SLURM_PROCID`` for a step of several tasks); 0 for a plain launch."""
    if "RANK" in os.environ:
        return int(os.environ["RANK"])
    if int(os.environ.get("SLURM_STEP_NUM_TASKS", 1)) > 1:
        return int(os.environ.get("SLURM_PROCID", 0))
    return 0


#: A line of a YAML file that sets ``mode:`` (``hydra.mode``: RUN or MULTIRUN).
_MODE_LINE = re.compile(r"^\s*mode:\s*['\"]?(RUN|MULTIRUN)\b", re.MULTILINE)


def mode_in_files(root: Path, app: str) -> bool:
    """Whether a config file of app ``app`` (``conf/<app>.yaml``, ``conf/<app>/``,
    ``conf/hydra/``) may set ``hydra.mode``: a line ``mode: RUN`` or ``mode: MULTIRUN``."""
    files = [root / f"{app}.yaml", *(root / app).rglob("*.yaml"), *(root / "hydra").rglob("*.yaml")]
    return any(_MODE_LINE.search(f.read_text(encoding="utf-8", errors="replace"))
               for f in files if f.is_file())


#: The Hydra releases (major, minor) whose private ``Hydra.get_mode`` and its call in
#: ``hydra._internal.utils._run_hydra`` :func:`compose_once` was tested against (the same code
#: from 1.2.0 to 1.3.8). ``packages/common/pyproject.toml`` pins ``hydra-core`` to this range, and
#: ``tests/common/test_compose_once.py`` fails when the hook's code or signature changes.
HYDRA_TESTED = (1, 3)
#: The parameters of the tested ``Hydra.get_mode``.
GET_MODE_PARAMETERS = ("self", "config_name", "overrides")


def hook_tested(hydra_class: Any, version: str) -> bool:
    """Whether ``hydra_class.get_mode`` is the hook :func:`compose_once` was tested against:
    a Hydra release of :data:`HYDRA_TESTED` whose ``get_mode`` takes
    :data:`GET_MODE_PARAMETERS`."""
    method = getattr(hydra_class, "get_mode", None)
    code = getattr(getattr(method, "__wrapped__", method), "__code__", None)
    release = tuple(int(p) for p in re.findall(r"\d+", version)[:2])
    return (code is not None and release == HYDRA_TESTED
            and code.co_varnames[:code.co_argcount] == GET_MODE_PARAMETERS)


def compose_once(root: Path, app: str) -> bool:
    """Let Hydra compose the config once per run, not twice, where the mode is the command line's.

    Before a run Hydra composes the whole config once only to read ``hydra.mode``
    (``Hydra.get_mode``) and then again for the run: about 0.1 s of every start. When no
    config file of the app sets ``hydra.mode`` and the command line neither sets it nor adds
    a search path, the mode is ``-m``'s (multirun) or a single run, which is what Hydra does
    with an unset mode; then ``get_mode`` answers that without composing. Otherwise Hydra's
    own ``get_mode`` runs. Hydra offers no setting for this, hence the replacement of the
    method for this process, made only on the tested hook (:func:`hook_tested`): with another
    Hydra, Hydra's own ``get_mode`` runs (slower, same result). Returns whether it was replaced.
    """
    import hydra
    from hydra._internal.hydra import Hydra

    original = getattr(Hydra.get_mode, "__wrapped__", Hydra.get_mode)
    if mode_in_files(root, app) or not hook_tested(Hydra, hydra.__version__):
        Hydra.get_mode = original  # type: ignore[method-assign]  # the tested hook, put back
        return False

    @functools.wraps(original)
    def get_mode(self: Any, config_name: str | None, overrides: list[str]) -> Any:
        if any("hydra.mode" in o or "hydra.searchpath" in o for o in overrides):
            return original(self, config_name, overrides)
        return None  # Hydra's value for "not set": the run's mode comes from -m

    Hydra.get_mode = get_mode  # type: ignore[method-assign]  # the tested hook (HYDRA_TESTED)
    return True


def console(main: Callable[[], Any]) -> Callable[[], NoReturn]:
    """``main`` as a console script that ends without the interpreter's teardown.

    Once ``main`` has returned, everything is written; Python would then finalize its modules
    one by one (about 1,200 in a radiomics run: 0.2 s, a tenth of a small study's run). Instead
    the exit handlers run (``atexit``: logging, run locks, ``weakref.finalize``), stdout and
    stderr are flushed, and the process ends with ``os._exit(0)``. An error (``SystemExit``,
    an exception) takes the usual way, and so does a run that leaves child processes or other
    non-daemon threads alive (a launcher's workers). Python offers no switch for skipping the
    teardown, hence ``os._exit``.
    """

    @functools.wraps(main)
    def run() -> NoReturn:
        main()
        import atexit
        import threading

        alive = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon]
        children = sys.modules["multiprocessing"].active_children() if "multiprocessing" in sys.modules else []
        if alive or children:
            raise SystemExit(0)
        atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        os._exit(0)

    return run


def run_task(task: Callable[[Any, Path], Any], name: str, command: list[str],
             uses_torch: bool) -> Callable[[Any], Any]:
    """Hydra's task function for ``task(cfg, run_dir)``: resolve the config, seed, record the run
    (``run_info.json``), load the plugins, run ``task``; bad input ends it with one line."""

    def run(cfg: Any) -> Any:
        # Imported here, not for ``--cfg`` (which composes and prints, running nothing).
        from hydra.core.hydra_config import HydraConfig

        from robustlab.common.config import check_seed
        from robustlab.common.hydra_errors import resolve_config
        from robustlab.common.registry import load_plugins
        from robustlab.common.runinfo import RunRecord
        from robustlab.common.seeding import seed_everything

        run_dir = Path(HydraConfig.get().runtime.output_dir)
        try:
            config = resolve_config(cfg)
            if config.get("seed") is not None:
                seed_everything(check_seed(config["seed"]), bool(config.get("deterministic", True)),
                                torch=None if uses_torch else False)
            # The ranks of one launch share the run directory; rank 0 records the run.
            record = (RunRecord(run_dir, config, command=command) if launch_rank() == 0
                      else contextlib.nullcontext())
            with record:
                log.info("run directory: %s", run_dir)
                load_plugins(config.get("plugins"))
                return task(cfg, run_dir)
        except (RobustlabError, OSError) as exc:
            if verbose():
                raise
            report_and_exit(name, exc)

    return run


def hydra_entry(
    app: str, uses_torch: bool = True
) -> Callable[[Callable[[Any, Path], Any]], Callable[[], Any]]:
    """Turn ``task(cfg, run_dir)`` into a Hydra command-line ``main()`` for app ``app``.

    ``uses_torch=False`` leaves torch unseeded and unimported (see ``seed_everything``).
    The app's primary config is ``conf/<app>.yaml`` and its config groups live in
    ``conf/<app>/`` (so ``model=...`` selects ``conf/pruning/model/...``); ``conf/hydra/``
    is shared by all apps.

    Example:
        >>> @hydra_entry("radiomics")                    # doctest: +SKIP
        ... def main(cfg, run_dir):
        ...     ...
    """

    def decorate(task: Callable[[Any, Path], Any]) -> Callable[[], Any]:
        @functools.wraps(task)
        def main() -> Any:
            apply_wait_policy()
            if any(arg in ("--help", "-h") for arg in sys.argv[1:]):
                print(app_help(app, Path(sys.argv[0]).name, sys.modules[task.__module__].__doc__))
                return None
            import hydra

            from robustlab.common.hydra_errors import (
                check_group_options,
                quote_comma_paths,
                user_config_dirs,
            )

            take_verbose_flag()
            root = config_dir()
            name = Path(sys.argv[0]).name
            command = [name, *sys.argv[1:]]
            try:  # a path holding a comma is one value, not a sweep (robustlab.common.hydra_errors)
                sys.argv[1:] = quote_comma_paths(sys.argv[1:], lambda: mode_in_files(root, app))
                extra = user_config_dirs(sys.argv[1:])
                if extra is not None:  # Hydra's own groups (hydra/launcher=...): Hydra
                    check_group_options(sys.argv[1:], all_config_groups(root, app, extra))
            except RobustlabError as exc:
                if verbose():
                    raise
                report_and_exit(name, exc)
            # conf/<app>.yaml adds conf/<app>/ to Hydra's search path through this variable (jobs
            # of a launcher inherit it): groups without a prefix (model=..., not pruning/model=...).
            os.environ[CONFIG_ENV] = str(root)
            compose_once(root, app)
            # conf/hydra/launcher/{joblib,submitit_*}.yaml carry our defaults for the launcher
            # plugins' schemas of the same names; Hydra warns about that pairing on every run.
            warnings.filterwarnings("ignore", message=".*is validated against ConfigStore schema")
            run = run_task(task, name, command, uses_torch)
            return hydra.main(config_path=str(root), config_name=app, version_base="1.3")(run)()

        return main

    return decorate
