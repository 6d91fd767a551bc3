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

from robustlab.common.errors import ConfigError
from robustlab.common.hydra_app import hydra_entry

log = logging.getLogger(__name__)


def spec_from_config(cfg: Any) -> Any:
    """Turn the composed config into a :class:`~robustlab.pruning.sweep.SweepSpec`."""
    import dataclasses

    from omegaconf import OmegaConf

    from robustlab.pruning.data.sources import DataSpec
    from robustlab.pruning.masks import PruneScope
    from robustlab.pruning.models import ModelSpec
    from robustlab.pruning.sweep import SweepSpec
    from robustlab.pruning.train import TrainSpec

    c = OmegaConf.to_container(cfg, resolve=True)
    model, data, method, train, ev = c["model"], c["data"], c["method"], dict(c["train"]), c["eval"]
    retrain_epochs = train.pop("retrain_epochs", None)
    for group, fields, cls in (("data", data, DataSpec), ("train", train, TrainSpec),
                               ("method.scope", method.get("scope") or {}, PruneScope)):
        unknown = sorted(set(fields) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ConfigError(f"{group}: unknown key(s) {', '.join(unknown)} (known: "
                              f"{', '.join(f.name for f in dataclasses.fields(cls))})")
    scope = dict(method.get("scope") or {})
    if "attention" in scope:
        raise ConfigError("method.scope.attention was split into method.scope.attention_qkv (input "
                         "projections) and method.scope.attention_out (output projections); set those")
    return SweepSpec(
        model=ModelSpec(name=model["name"], num_classes=int(model["num_classes"]), img_size=int(model["img_size"]),
                        in_chans=int(model.get("in_chans", 3)), pretrained=bool(model.get("pretrained", False)),
                        checkpoint=model.get("checkpoint"), kwargs=dict(model.get("kwargs") or {})),
        data=DataSpec(**{**data, "scale": tuple(data.get("scale", (0.2, 0.38)))}),
        train=TrainSpec(**train),
        method=method["name"],
        steps=int(method["steps"]),
        rate=float(method["rate"]),
        scope=PruneScope(**scope),
        method_options=dict(method.get("options") or {}),
        retrain_epochs=retrain_epochs,
        suites={name: dict(opts or {}) for name, opts in (ev.get("suites") or {}).items()},
        eval_batch_size=int(ev.get("batch_size", 256)),
        eval_max_images=ev.get("max_images"),
        measure_latency=bool(c.get("measure_latency", False)),
        seed=int(c["seed"]),
        device=str(c.get("device", "auto")),
        label=model.get("label") or model["name"],
    )


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
