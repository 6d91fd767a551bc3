"""Hydra at the edge: the config root and one way to declare a command-line entry point.

Every command-line app of robustlab is declared with :func:`hydra_entry`: it composes the
config from ``conf/`` (found from any working directory), seeds every generator from the
config's ``seed``, writes ``run_info.json`` into Hydra's run directory, and calls the task
with the config and that directory. Library code never sees a ``DictConfig``.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

CONFIG_ENV = "ROBUSTLAB_CONFIG_DIR"
log = logging.getLogger(__name__)


def config_dir() -> Path:
    """The Hydra config root ``conf/``.

    Looked up in this order: the ``ROBUSTLAB_CONFIG_DIR`` environment variable; the ``conf/``
    folder of the source tree this package was installed from (editable install); the copy
    carried inside the wheel.
    """
    env = os.environ.get(CONFIG_ENV)
    if env:
        path = Path(env).expanduser().resolve()
        if not path.is_dir():
            raise FileNotFoundError(f"{CONFIG_ENV}={env} is not a directory")
        return path
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent / "conf"
        if (candidate / "hydra").is_dir() and (parent / "packages").is_dir():
            return candidate
    packaged = here.parent / "_conf"
    if packaged.is_dir():
        return packaged
    raise FileNotFoundError(
        f"robustlab's config root was not found; set {CONFIG_ENV} to the repository's conf/ folder"
    )


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
            import hydra
            from hydra.core.hydra_config import HydraConfig
            from omegaconf import OmegaConf

            from robustlab.common.runinfo import RunRecord
            from robustlab.common.seeding import seed_everything

            root = config_dir()
            command = [Path(sys.argv[0]).name, *sys.argv[1:]]

            def run(cfg: Any) -> Any:
                run_dir = Path(HydraConfig.get().runtime.output_dir)
                if cfg.get("seed") is not None:
                    seed_everything(int(cfg.seed), bool(cfg.get("deterministic", True)),
                                   torch=None if uses_torch else False)
                config = OmegaConf.to_container(cfg, resolve=True)
                with RunRecord(run_dir, config, command=command):
                    log.info("run directory: %s", run_dir)
                    return task(cfg, run_dir)

            # conf/<app>.yaml adds conf/<app>/ to Hydra's search path through this variable,
            # so that its groups are selected without a prefix (model=..., not pruning/model=...).
            # Jobs started by a launcher inherit it.
            os.environ[CONFIG_ENV] = str(root)
            # conf/hydra/launcher/{joblib,submitit_*}.yaml carry our defaults for the launcher
            # plugins' schemas of the same names; Hydra warns about that pairing on every run.
            warnings.filterwarnings("ignore", message=".*is validated against ConfigStore schema")
            return hydra.main(config_path=str(root), config_name=app, version_base="1.3")(run)()

        return main

    return decorate
