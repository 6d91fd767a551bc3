"""`robustlab-prune`: the sparsity sweep from the command line (Hydra).

    robustlab-prune experiment=smoke
    robustlab-prune model=vit_small method=snip method.steps=4 eval=quick
    robustlab-prune -m experiment=synthetic_quick          # both models of the bundled study

The config groups are ``model=``, ``data=``, ``method=`` (``method.steps``, ``method.rate``),
``train=``, ``eval=`` and ``experiment=`` (``conf/pruning/``). The run directory is Hydra's; a
sweep started again in the same directory resumes after its last finished step.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Any

from robustlab.common.hydra_app import hydra_entry

log = logging.getLogger(__name__)


def spec_from_config(cfg: Any) -> Any:
    """Turn the composed config into a :class:`~robustlab.pruning.sweep.SweepSpec` (bound once,
    strictly: :func:`robustlab.pruning.config.bind`)."""
    from omegaconf import OmegaConf

    from robustlab.pruning.config import bind

    return bind(OmegaConf.to_container(cfg, resolve=True)).sweep_spec()


@hydra_entry("pruning")
def main(cfg: Any, run_dir: Path) -> None:
    """Run (or resume) the sweep named by the config, then write its report."""
    import torch

    from robustlab.pruning.sweep import run_sweep

    if cfg.get("threads"):
        torch.set_num_threads(int(cfg.threads))
    spec = spec_from_config(cfg)
    metrics = run_sweep(spec, run_dir)
    log.info("metrics: %s (%d steps, final sparsity %.4f, top-1 %.4f)", run_dir / "metrics.csv",
             len(metrics), float(metrics["sparsity"].iloc[-1]), float(metrics["top1"].iloc[-1]))
    if cfg.get("report", True) and importlib.util.find_spec("robustlab.pruning.report") is not None:
        from robustlab.pruning.report import write_report

        report = write_report(run_dirs=[run_dir], out_dir=run_dir / "report")
        log.info("report: %s", report)
    print(f"results: {run_dir}")
