"""`robustlab-prune`: the sparsity sweep from the command line (Hydra).

    robustlab-prune experiment=smoke
    robustlab-prune model=vit_small method=snip method.steps=4 eval=quick
    robustlab-prune -m experiment=synthetic_quick          # both models of the bundled study
    torchrun --nproc_per_node=8 $(which robustlab-prune) experiment=paper_resnet50 data.root=...
    robustlab-prune experiment=paper_resnet50 plan=true     # what it will cost; trains nothing

The config groups are ``model=``, ``data=``, ``method=`` (``method.steps``, ``method.rate``),
``train=``, ``eval=`` and ``experiment=`` (``conf/pruning/``). The run directory is Hydra's; a
sweep started again in the same directory resumes after its last finished step. Launched by
torchrun or as Slurm tasks, every process is one rank of a data-parallel sweep
(:mod:`robustlab.pruning.distributed`); all ranks must share the run directory, and rank 0 alone
writes it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import sys
from pathlib import Path
from typing import Any

from robustlab.common.hydra_app import hydra_entry, launch_rank

log = logging.getLogger(__name__)


def spec_from_config(cfg: Any) -> Any:
    """Turn the composed config into a :class:`~robustlab.pruning.sweep_spec.SweepSpec` (bound once,
    strictly: :func:`robustlab.pruning.config.bind`)."""
    return _bind(cfg).sweep_spec()


def _bind(cfg: Any) -> Any:
    from robustlab.common.hydra_errors import resolve_config
    from robustlab.pruning.config import bind

    return bind(resolve_config(cfg))


def main() -> Any:
    """``robustlab-prune``: a sweep's cost (``plan=true``, no Hydra run) or the sweep.

    A rank other than 0 of a torchrun launch keeps Hydra's files to rank 0 (no ``.hydra/``
    of its own, its log in ``<job>_rank<r>.log``). OpenMP's waiting threads sleep, set before
    torch loads (:func:`robustlab.common.threads.wait_passively`).
    """
    from robustlab.common.hydra_app import apply_wait_policy

    apply_wait_policy()
    if any(arg.replace(" ", "") in ("plan=true", "plan=True", "+plan=true") for arg in sys.argv[1:]):
        from robustlab.common.errors import RobustlabError
        from robustlab.common.hydra_app import report_and_exit, take_verbose_flag, verbose
        from robustlab.pruning.cost import print_costs

        take_verbose_flag()
        try:
            print_costs(sys.argv[1:])
        except RobustlabError as exc:
            if verbose():
                raise
            report_and_exit(Path(sys.argv[0]).name, exc)
        return None
    rank = launch_rank()
    if rank > 0:
        sys.argv += ["hydra.output_subdir=null",
                     f"hydra.job_logging.handlers.file.filename=${{hydra.runtime.output_dir}}/${{hydra.job.name}}_rank{rank}.log"]
    return _sweep()


@hydra_entry("pruning")
def _sweep(cfg: Any, run_dir: Path) -> None:
    """Run (or resume) the sweep named by the config, then write its report."""
    from hydra.core.hydra_config import HydraConfig

    from robustlab.pruning import distributed
    from robustlab.pruning.job_threads import apply_job_threads
    from robustlab.pruning.sweep_spec import resolve_device

    spec = spec_from_config(cfg)  # every value checked before anything is set up
    log.info(apply_job_threads(cfg.get("threads"), HydraConfig.get().launcher, int(cfg.train.get("num_workers") or 0)))
    dist = distributed.init_distributed(resolve_device(spec.device), float(cfg.get("dist_timeout_s", 600)))
    with distributed.rank_errors(dist):
        distributed.check_identical(dist, str(run_dir.resolve()), "the run directory (hydra.run.dir)")
        metrics = _run_tracked(cfg, spec, run_dir, dist)
    distributed.shutdown(dist)
    if metrics is None:
        return
    log.info("metrics: %s (%d steps, final sparsity %.4f, top-1 %.4f)", run_dir / "metrics.csv",
             len(metrics), float(metrics["sparsity"].iloc[-1]), float(metrics["top1"].iloc[-1]))
    if cfg.get("report", True) and importlib.util.find_spec("robustlab.pruning.report") is not None:
        from robustlab.pruning.report import write_report

        report = write_report(run_dirs=[run_dir], out_dir=run_dir / "report", options=_bind(cfg).sweetspot)
        log.info("report: %s", report)
    print(f"results: {run_dir}")


def _run_tracked(cfg: Any, spec: Any, run_dir: Path, dist: Any) -> Any:
    """The sweep, with its steps' progress and the chosen experiment tracker on rank 0 (config
    once, then each step)."""
    from robustlab.common.hydra_errors import resolve_config
    from robustlab.common.runfolder import RunFolder
    from robustlab.pruning.loggers import make_logger

    options = resolve_config(cfg.logger) if cfg.get("logger") else {"name": "none"}
    # The run folder is claimed before the tracker writes its folder there (tensorboard/,
    # mlruns/), so that the claim sees them as this run's; run_sweep's own claim re-enters it.
    with RunFolder(run_dir, "pruning") if dist.is_main else contextlib.nullcontext():
        tracker = make_logger(options, run_dir, run_dir.name) if dist.is_main else None
        return _sweep_tracked(cfg, spec, run_dir, dist, tracker)


def _sweep_tracked(cfg: Any, spec: Any, run_dir: Path, dist: Any, tracker: Any) -> Any:
    """The sweep in a claimed run folder, each step reported to the progress bar and ``tracker``."""
    from robustlab.common.hydra_errors import resolve_config
    from robustlab.common.progress import logs_above_bars
    from robustlab.pruning.loggers import step_values
    from robustlab.pruning.sweep import run_sweep

    steps, step_done = _sweep_bar(spec, run_dir, enabled=spec.train.progress and dist.is_main)

    def on_step(row: dict[str, Any], layers: Any) -> None:
        step_done(int(row["step"]))
        if tracker is not None:
            tracker.log_step(int(row["step"]), step_values(row, layers))

    try:
        if tracker is not None:
            tracker.log_config(resolve_config(cfg))
        with logs_above_bars():
            return run_sweep(spec, run_dir, dist=dist, on_step=on_step)
    finally:
        steps.close()
        if tracker is not None:
            tracker.close()


def _sweep_bar(spec: Any, run_dir: Path, enabled: bool) -> tuple[Any, Any]:
    """The sweep's progress bar and the function that marks a step done.

    It counts training epochs, not steps: the dense step usually trains many more than a
    retraining step, and a count of steps would show a time left several times too long after
    the first one. A step that trains no epoch counts one.
    """
    from robustlab.common.progress import progress
    from robustlab.pruning.sweep import finished_steps

    def epochs(step: int) -> int:
        return max(1, int(spec.train.epochs if step == 0 or spec.retrain_epochs is None else spec.retrain_epochs))

    bar = progress(sum(map(epochs, range(spec.steps + 1))), f"{spec.label} sweep", unit="epoch", enabled=enabled,
                   initial=sum(map(epochs, finished_steps(run_dir))), mininterval=0, delay=0, smoothing=0,
                   miniters=1)  # a line at every step, however many epochs it counts

    def step_done(step: int) -> None:
        bar.set_postfix_str(f"step {step} of 0-{spec.steps} done", refresh=False)
        bar.update(epochs(step))

    return bar, step_done
