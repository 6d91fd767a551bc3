"""Experiment trackers: the resolved config once, then every finished step's metrics and sparsity.

``logger=tensorboard`` writes event files under ``<run dir>/tensorboard``; ``logger=mlflow`` a
run in a local file store (``<run dir>/mlruns`` unless ``logger.tracking_uri`` names another
store); ``logger=wandb`` an offline run under ``<run dir>/wandb`` (``wandb sync`` uploads it
later). None needs a network. Only rank 0 of a data-parallel run logs. The integrations are
optional extras of the package (``pip install "robustlab-pruning[tensorboard]"``, ``[mlflow]``,
``[wandb]``) and imported only when chosen.

Each step logs the numeric columns of its ``metrics.csv`` row under their own names (``top1``,
``sparsity``, ``train_loss``, ...) and each layer's sparsity as ``layer_sparsity/<layer>``,
all at ``step`` = the sweep step.
"""

from __future__ import annotations

import importlib
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from robustlab.common.errors import ConfigError

LOGGERS = ("none", "tensorboard", "mlflow", "wandb")
#: ``wandb.init``'s modes.
WANDB_MODES = ("online", "offline", "disabled")
_EXTRA = {"tensorboard": "tensorboard", "mlflow": "mlflow-skinny", "wandb": "wandb"}


class StepLogger(Protocol):
    """What the sweep calls: ``log_config`` once, ``log_step`` per finished step, ``close``."""

    def log_config(self, config: Mapping[str, Any]) -> None: ...

    def log_step(self, step: int, values: Mapping[str, float]) -> None: ...

    def close(self) -> None: ...


def _require(module: str, name: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ImportError(f"logger={name} needs the {_EXTRA[name]!r} package: pip install "
                          f"'robustlab-pruning[{name}]' (or pip install {_EXTRA[name]})") from err


def step_values(row: Mapping[str, Any], layers: pd.DataFrame | None = None) -> dict[str, float]:
    """The numbers a tracker logs for one step: the row's finite numeric values (``step``
    itself left out) and ``layer_sparsity/<layer>`` for each layer."""
    values = {k: float(v) for k, v in row.items()
              if k != "step" and isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)}
    if layers is not None:
        values.update({f"layer_sparsity/{layer}": float(s) for layer, s in zip(layers["layer"], layers["sparsity"],
                                                                              strict=True)})
    return values


class TensorBoardLogger:
    """Scalars and the config (as YAML text) in TensorBoard event files."""

    def __init__(self, log_dir: Path):
        _require("tensorboard", "tensorboard")
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(log_dir))

    def log_config(self, config: Mapping[str, Any]) -> None:
        from omegaconf import OmegaConf

        self.writer.add_text("config", "```yaml\n" + OmegaConf.to_yaml(dict(config)) + "```", 0)

    def log_step(self, step: int, values: Mapping[str, float]) -> None:
        for key, value in values.items():
            self.writer.add_scalar(key, value, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class MLflowLogger:
    """An MLflow run: the config as ``config.json`` and flattened parameters, metrics per step."""

    def __init__(self, tracking_uri: str, experiment: str, run_name: str):
        if tracking_uri.startswith("file:"):
            # MLflow keeps its file store in maintenance mode and refuses it unless asked; it is
            # the store that needs neither a server nor a database package.
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        self.mlflow = _require("mlflow", "mlflow")
        self.mlflow.set_tracking_uri(tracking_uri)
        self.mlflow.set_experiment(experiment)
        self.run = self.mlflow.start_run(run_name=run_name)

    def log_config(self, config: Mapping[str, Any]) -> None:
        self.mlflow.log_dict(dict(config), "config.json")
        flat = pd.json_normalize(dict(config), sep=".").iloc[0].to_dict()
        self.mlflow.log_params({k: str(v)[:500] for k, v in flat.items()})

    def log_step(self, step: int, values: Mapping[str, float]) -> None:
        # MLflow metric names allow letters, digits, _ - . / and spaces.
        self.mlflow.log_metrics({k.replace(":", "_"): v for k, v in values.items()}, step=step)

    def close(self) -> None:
        self.mlflow.end_run()


class WandbLogger:
    """A Weights & Biases run, offline by default."""

    def __init__(self, out_dir: Path, project: str, run_name: str, mode: str):
        wandb = _require("wandb", "wandb")
        out_dir.mkdir(parents=True, exist_ok=True)
        self.run = wandb.init(project=project, name=run_name, dir=str(out_dir), mode=mode)

    def log_config(self, config: Mapping[str, Any]) -> None:
        self.run.config.update(dict(config), allow_val_change=True)

    def log_step(self, step: int, values: Mapping[str, float]) -> None:
        self.run.log(dict(values), step=step)

    def close(self) -> None:
        self.run.finish()


def make_logger(options: Mapping[str, Any], run_dir: Path, run_name: str) -> StepLogger | None:
    """The tracker that ``logger=<name>`` chose (None for ``none``).

    Args:
        options: the ``logger`` config: ``name`` and the tracker's keys (``tracking_uri``,
            ``experiment`` for MLflow; ``project``, ``mode`` for W&B; ``dir`` for all).
        run_dir: the run directory (default home of the tracker's files).
        run_name: the run's name in the tracker.

    Raises:
        ConfigError: an unknown tracker name. ImportError: its package is not installed.
    """
    name = str(options.get("name", "none"))
    if name not in LOGGERS:
        raise ConfigError(f"logger.name: must be one of {', '.join(LOGGERS)}; got {name!r}")
    out = Path(options.get("dir") or run_dir / name)
    if name == "tensorboard":
        return TensorBoardLogger(out)
    if name == "mlflow":
        uri = options.get("tracking_uri") or (run_dir / "mlruns").resolve().as_uri()
        return MLflowLogger(uri, str(options.get("experiment", "robustlab-pruning")), run_name)
    if name == "wandb":
        return WandbLogger(out, str(options.get("project", "robustlab-pruning")), run_name,
                           str(options.get("mode", "offline")))
    return None
