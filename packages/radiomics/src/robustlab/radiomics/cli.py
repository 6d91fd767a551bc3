"""`robustlab-radiomics`: the robust-feature pipeline from the command line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from robustlab.common.hydra_app import hydra_entry


@hydra_entry("radiomics")
def main(cfg: Any, run_dir: Path) -> None:
    """Run the radiomics study named by the config."""
    sys.exit("robustlab-radiomics: the radiomics pipeline is not built yet")
