"""`robustlab-prune`: the sparsity sweep from the command line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from robustlab.common.hydra_app import hydra_entry


@hydra_entry("pruning")
def main(cfg: Any, run_dir: Path) -> None:
    """Run the pruning sweep named by the config."""
    sys.exit("robustlab-prune: the sparsity sweep is not built yet")
