"""A sweep's run folder: its recorded settings, its checkpoints and its step tables.

The folder holds ``sweep_spec.json`` (:func:`~robustlab.pruning.sweep_spec.spec_record`),
``checkpoints/init.pt`` (the initial weights), ``checkpoints/step{k:03d}.pt`` (each step's
weights, masks and training statistics, with the sweep's
:func:`~robustlab.pruning.sweep_spec.spec_hash`, step and sparsity), ``per_image/`` and the CSV
tables with one block of rows per step, ``metrics.csv`` written last. A folder holding another
sweep's finished steps or checkpoints is refused; one whose sweep finished no step is taken over.
In a data-parallel run rank 0 alone writes; every rank reads.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pandas as pd
from torch import nn

from robustlab.common.errors import CheckpointError, ConfigError
from robustlab.common.io import write_json, write_table
from robustlab.pruning.checkpoints import load_checkpoint, save_checkpoint
from robustlab.pruning.distributed import Dist, barrier, broadcast_object
from robustlab.pruning.masks import plain_state_dict
from robustlab.pruning.models import load_weights
from robustlab.pruning.sweep_spec import EVAL_KEYS, spec_hash

log = logging.getLogger(__name__)

SWEEP_SPEC = "sweep_spec.json"


def finished_steps(run_dir: Path) -> list[int]:
    """Steps whose ``metrics.csv`` row exists in ``run_dir`` (sorted)."""
    path = Path(run_dir) / "metrics.csv"
    if not path.exists():
        return []
    return sorted(int(s) for s in pd.read_csv(path)["step"].unique())


class SweepFolder:
    """The run folder of one sweep, whose settings are ``record`` (``sweep_spec.json``'s content)."""

    def __init__(self, root: Path, record: dict[str, Any], dist: Dist):
        self.root = root
        self.record = record
        self.dist = dist
        self.ckpt_dir = root / "checkpoints"
        self.spec_hash = spec_hash(record)

    def step_path(self, step: int) -> Path:
        return self.ckpt_dir / f"step{step:03d}.pt"

    # -- the sweep's settings -----------------------------------------------------------------

    def check_same_spec(self) -> None:
        """Refuse a folder holding another sweep's steps; forget one that finished none."""
        path = self.root / SWEEP_SPEC
        if not path.exists():
            return
        saved = json.loads(path.read_text())
        if saved == self.record:
            return
        diff = sorted(k for k in self.record if self.record[k] != saved.get(k))
        finished = finished_steps(self.root)
        if not finished and set(diff) <= set(EVAL_KEYS):
            # Stopped before any step was evaluated (bad evaluation options): its checkpoints
            # hold the same training, evaluated now with the corrected options.
            log.info("%s: the sweep there finished no step and differs in evaluation settings only "
                     "(%s); its checkpoints are kept and evaluated with these", path, ", ".join(diff))
            if self.dist.is_main:
                write_json(path, self.record)
            barrier(self.dist)
            return
        if finished or any(self.ckpt_dir.glob("step*.pt")):
            raise ConfigError(f"{path} was written by a different sweep (differs in: {', '.join(diff)}); "
                              "resume with the same settings or choose another run directory")
        log.info("%s: the sweep there finished no step; replaced by this one (differs in: %s)",
                 path, ", ".join(diff))
        if self.dist.is_main:
            path.unlink(missing_ok=True)
            (self.ckpt_dir / "init.pt").unlink(missing_ok=True)
        barrier(self.dist)

    def write_spec(self) -> None:
        """Record the sweep's settings (once the data and the model were built)."""
        path = self.root / SWEEP_SPEC
        if not path.exists() and self.dist.is_main:
            write_json(path, self.record)

    # -- checkpoints ----------------------------------------------------------------------------

    def initial(self, model: nn.Module) -> None:
        """Give ``model`` the sweep's initial weights, saved once as ``checkpoints/init.pt``
        (a fresh model's own on the first run)."""
        path = self.ckpt_dir / "init.pt"
        if path.exists():
            load_weights(model, path)
        elif self.dist.is_main:
            save_checkpoint(path, plain_state_dict(model))
        barrier(self.dist)  # rewinding reads init.pt on every rank

    def initial_state(self) -> dict[str, Any]:
        """The initial weights, as saved in ``checkpoints/init.pt``."""
        return load_checkpoint(self.ckpt_dir / "init.pt")

    def save(self, step: int, state: dict[str, Any]) -> Path:
        """Write step ``step``'s checkpoint (``state`` records the sweep's :attr:`spec_hash`)."""
        return save_checkpoint(self.step_path(step), state)

    def checkpoint(self, step: int, finished: bool = False) -> dict[str, Any] | None:
        """Step ``step``'s checkpoint, or None when there is none.

        Args:
            finished: the step has its ``metrics.csv`` row (the advice of an error says so).

        Raises:
            CheckpointError: the file records another step or another sweep's settings
                (another process wrote it into this folder), or cannot be read.
        """
        path = self.step_path(step)
        if not path.exists():
            return None
        state = load_checkpoint(path, advice=(f"delete it and the rows of step {step} and later in "
                                              f"{self.root / 'metrics.csv'}, and the sweep runs from step {step} again"
                                              if finished else "delete it and that step runs again"))
        recorded = state.get("spec_hash")
        if state.get("step") != step or (recorded is not None and recorded != self.spec_hash):
            what = (f"step {state.get('step')!r}" if state.get("step") != step
                    else f"a sweep of other settings (spec {recorded}, this sweep's {self.spec_hash})")
            raise CheckpointError(f"checkpoint {path} was written by {what}; it is not this sweep's step "
                                  f"{step}: delete it (that step runs again) or choose another run directory")
        if recorded is None:
            log.warning("%s records no sweep settings (written by an older version); trusted as this sweep's", path)
        return state

    def check_finished(self, step: int) -> None:
        """The last finished step's checkpoint is there and reads back as this sweep's (a resumed
        sweep prunes from it; a finished sweep's last model is its result)."""
        path = self.step_path(step)
        if broadcast_object(self.dist, self.checkpoint(step, finished=True) is None if self.dist.is_main else False):
            raise CheckpointError(f"checkpoint {path} is missing but {self.root / 'metrics.csv'} lists step {step} "
                                  f"as finished; delete the rows of step {step} and later there, and the sweep runs "
                                  f"from step {step} again")

    def check_sparsity(self, step: int, state: dict[str, Any], sparsity: float) -> None:
        """The weights read from step ``step``'s checkpoint have the ``sparsity`` it records."""
        if "sparsity" in state and abs(sparsity - float(state["sparsity"])) > 1e-4:
            raise CheckpointError(f"checkpoint {self.step_path(step)} records sparsity "
                                  f"{float(state['sparsity']):.6f} but its weights have {sparsity:.6f}; delete it "
                                  "(that step runs again)")

    # -- tables -----------------------------------------------------------------------------------

    def append(self, name: str, rows: pd.DataFrame, step: int) -> None:
        """Add ``rows`` to the CSV table ``name``, replacing any earlier rows of ``step``."""
        path = self.root / f"{name}.csv"
        if path.exists():
            old = pd.read_csv(path)
            old = old[old["step"] != step]
            rows = pd.concat([old, rows], ignore_index=True) if len(old) else rows
        write_table(rows.reset_index(drop=True), path, formats=("csv",))

    def write_per_image(self, name: str, step: int, values: pd.DataFrame) -> None:
        """Write step ``step``'s per-image values of table ``name`` (``per_image/``, Parquet)."""
        write_table(values, self.root / "per_image" / f"{name}_step{step:03d}", formats=("parquet",))
