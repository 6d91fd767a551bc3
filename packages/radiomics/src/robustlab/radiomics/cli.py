"""`robustlab-radiomics`: the robust-feature pipeline from the command line.

Examples:
    robustlab-radiomics                                   # simulated phantom study (cached)
    robustlab-radiomics study=path/to/study.yaml hydra.run.dir=results
    robustlab-radiomics -m study=quick shard=0/3,1/3,2/3 hydra/launcher=basic
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from robustlab.common.errors import ConfigError
from robustlab.common.hydra_app import check_writable, console, hydra_entry
from robustlab.common.hydra_errors import resolve_config
from robustlab.radiomics.config import bind

log = logging.getLogger(__name__)


def parse_shard(value: Any) -> tuple[int, int] | None:
    """``"i/n"`` -> ``(i, n)``; None stays None. Raises naming the key on anything else."""
    if value is None:
        return None
    text = str(value)
    try:
        i, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise ConfigError(f"config key 'shard' must be 'i/n' (e.g. 0/3); got {text!r}") from None
    if not (n >= 1 and 0 <= i < n):
        raise ConfigError(f"config key 'shard' must be i/n with 0 <= i < n; got {text!r}")
    return i, n


def options_from_config(cfg: Any) -> dict[str, Any]:
    """The :class:`robustlab.radiomics.options.Options` keywords of the composed config."""
    return bind(resolve_config(cfg)).options()


def simulated_study(cfg: Any, cache_dir: Path, run_dir: Path) -> Path:
    """Simulate the configured phantom study into the cache, linked from ``run_dir/phantom``.

    The folder, ``cache_dir/phantoms/<protocol>-seed<seed>-<hash>``, is the same for the same
    configuration: a rerun simulates nothing, and with unchanged image paths the whole analysis
    is restored from the cache. Returns the study file.
    """
    # The phantom is a separate subpackage; it is imported only when a simulation is asked for.
    from robustlab.radiomics.phantom import simulate_study, study_folder_name

    protocol, phantom = resolve_config(cfg.protocol), resolve_config(cfg.phantom)
    folder = (cache_dir / "phantoms" / study_folder_name(protocol, phantom, int(cfg.seed))).resolve()
    study = simulate_study(protocol=protocol, phantom=phantom, out_dir=folder, seed=int(cfg.seed),
                           n_jobs=int(cfg.n_jobs), progress=bool(cfg.progress))
    link = run_dir / "phantom"
    try:
        link.symlink_to(folder, target_is_directory=True)
    except OSError as exc:  # e.g. a file system without symbolic links: the log names the folder
        log.debug("no link %s -> %s: %s", link, folder, exc)
    log.info("simulated phantom study in %s", folder)
    return study


def run_plan(config: Any, cache_dir: Path, run_dir: Path) -> None:
    """``plan=true``: the study planner on the design file ``study`` (see :mod:`..planner`)."""
    import os

    from robustlab.radiomics.planner import plan

    if config.study == "simulated" or not str(config.study).endswith((".yaml", ".yml")):
        raise ConfigError("plan=true needs study=<design.yaml>: a study file naming scanners, "
                          f"acquisitions and comparisons; got study={config.study!r}")
    jobs = config.n_jobs if config.n_jobs > 0 else max(1, (os.cpu_count() or 1) + 1 + config.n_jobs)
    options = {k: v for k, v in config.options().items() if k != "report"}
    tables = plan(config.study, run_dir, seeds=config.plan_seeds, n_jobs=min(jobs, config.plan_seeds),
                  cache_dir=cache_dir, options=options, progress=config.progress)
    print(tables["plan_comparisons"].to_string(index=False, float_format=lambda v: f"{v:.1f}"))
    print(f"plan: {run_dir / 'report.html'}")


@hydra_entry("radiomics", uses_torch=False)
def main(cfg: Any, run_dir: Path) -> None:
    """Run the radiomics study named by the config (see ``conf/radiomics.yaml``)."""
    from robustlab.radiomics.pipeline import default_cache_dir, run_study

    config = bind(resolve_config(cfg))
    cache_dir = Path(config.cache_dir).expanduser().resolve() if config.cache_dir else default_cache_dir()
    check_writable(cache_dir, "cache_dir")
    if config.plan:
        run_plan(config, cache_dir, run_dir)
        return
    shard = parse_shard(config.shard)
    study = config.study
    if study == "simulated":
        study = str(simulated_study(cfg, cache_dir, run_dir))
    log.info("study %s; extraction cache %s", study, cache_dir)
    result = run_study(study, run_dir, n_jobs=config.n_jobs, cache_dir=cache_dir, seed=config.seed,
                       shard=shard, progress=config.progress, image_budget=config.image_budget,
                       **config.options())
    if not result.complete:
        assert shard is not None  # only a shard run stops before the analysis
        missing = ", ".join(f"{m}/{shard[1]}" for m in result.missing_shards)
        print(f"shard {shard[0]}/{shard[1]}: extracted {result.counts['extracted']} ROI(s) "
              f"({result.counts['cached']} already cached, {result.counts['failed']} failed); "
              f"the analysis waits for shard(s) {missing}")
        return
    summary = result.table("summary")
    print(summary[["comparison", "statistic", "n_features", "n_excellent", "pct_excellent"]]
          .to_string(index=False))
    print(f"{len(result.table('robust'))} robust features; {len(result.table('failures'))} failed ROI(s); "
          f"report: {run_dir / 'report.html'}")


#: The console script ``robustlab-radiomics``: :func:`main`, ending without Python's teardown.
console_main = console(main)
