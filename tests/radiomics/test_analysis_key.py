"""The analysis cache's key follows the code and the libraries, computed for real (no stub).

A stored analysis is reused only when its key matches; the key hashes the source files of
``robustlab.radiomics`` and ``robustlab.common`` and the versions of NumPy, pandas, SciPy and
PyArrow. A copy of the sources with one changed comment, or another library version, must
give another key.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import robustlab.common
import robustlab.radiomics
from robustlab.common.hydra_app import CONFIG_ENV, config_dir

KEY = """
import sys
from robustlab.radiomics.analysis_cache import analysis_key
from robustlab.radiomics.pipeline import Options
from robustlab.radiomics.study import load_study, validate_study
import pandas
pandas.__version__ = sys.argv[2] or pandas.__version__
print(analysis_key(validate_study(load_study(sys.argv[1])), [], Options(), []))
"""


def key(src: Path, study: Path, pandas_version: str = "") -> str:
    env = {**os.environ, "PYTHONPATH": str(src), CONFIG_ENV: str(config_dir())}
    out = subprocess.run([sys.executable, "-c", KEY, str(study), pandas_version], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip()


def test_the_key_changes_with_a_source_file_and_a_library_version(csv_study, tmp_path):
    study = csv_study()
    src = tmp_path / "src"
    for package in (robustlab.common, robustlab.radiomics):
        here = Path(package.__file__).parent
        shutil.copytree(here, src / "robustlab" / here.name,
                        ignore=shutil.ignore_patterns("__pycache__"))
    first = key(src, study)
    assert key(src, study) == first  # the same sources and versions: the same key
    assert key(src, study, pandas_version="0.0.1") != first
    stats = src / "robustlab" / "common" / "stats" / "icc.py"
    stats.write_text(stats.read_text() + "\n# a changed comment\n")
    assert key(src, study) != first
