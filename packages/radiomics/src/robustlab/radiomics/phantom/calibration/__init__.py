"""The calibration tables of the phantom's protocols, shipped with the package.

``<protocol>.csv`` is written by ``scripts/calibrate_phantom.py``: per published comparison
group, the median and the 5th and 95th percentiles over seeds of the share of excellent
features (:func:`robustlab.radiomics.seed_runs.calibration_table`). ``<protocol>_validity.csv``
is written by ``scripts/validate_phantom.py --write``: each validity target against the study's
released features (``target``, ``measured``, ``met``, ``seeds``), quoted by a study plan's report.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def calibration_path(protocol: str) -> Path:
    """Where the calibration table of ``protocol`` lives (it may not exist)."""
    return Path(__file__).with_name(f"{protocol}.csv")


def load_calibration(protocol: str) -> pd.DataFrame | None:
    """The calibration table of ``protocol``, or None when the protocol has none."""
    path = calibration_path(protocol)
    return pd.read_csv(path) if path.is_file() else None


def validity_path(protocol: str) -> Path:
    """Where the validity targets of ``protocol`` live (they may not exist)."""
    return Path(__file__).with_name(f"{protocol}_validity.csv")


def load_validity(protocol: str) -> pd.DataFrame | None:
    """The validity targets of ``protocol``, or None when the protocol has none."""
    path = validity_path(protocol)
    return pd.read_csv(path) if path.is_file() else None
