"""The promises of the docs about a run: no torch needed for radiomics, and a full run record."""

from __future__ import annotations

import json
import os
import subprocess
import sys

BLOCK_TORCH = """
import sys

class NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith(("torch.", "torchvision", "timm")):
            raise ImportError(f"{name} is not installed here")

sys.meta_path.insert(0, NoTorch())
"""


def run_python(code, *args, cwd):
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    return subprocess.run([sys.executable, "-c", BLOCK_TORCH + code, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_seed_everything_without_torch(tmp_path):
    out = run_python("import random, numpy as np\n"
                     "from robustlab.common.seeding import seed_everything\n"
                     "seed_everything(3); a = (random.random(), np.random.rand())\n"
                     "seed_everything(3); assert a == (random.random(), np.random.rand())\n"
                     "assert 'torch' not in sys.modules\nprint('seeded')", cwd=tmp_path)
    assert out.returncode == 0 and "seeded" in out.stdout, out.stderr[-2000:]


def test_the_radiomics_app_runs_without_torch_and_records_every_readme_field(csv_study, tmp_path):
    study = csv_study()
    run = tmp_path / "run"
    out = run_python("from robustlab.radiomics.cli import main; main()\n"
                     "assert 'torch' not in sys.modules", f"study={study}", "progress=false",
                     f"hydra.run.dir={run}", "n_jobs=1", cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "robust features" in out.stdout and (run / "summary.csv").exists()
    info = json.loads((run / "run_info.json").read_text())
    # docs/index.md, "What a run writes": git commit and dirty flag, versions of Python, NumPy, pandas, torch, timm,
    # pyradiomics, SimpleITK, platform, CUDA device, a hash of the resolved config, start and
    # end time, the command line, status
    assert {"commit", "dirty"} <= set(info["git"])
    installed = {"python", "numpy", "pandas", "pyradiomics", "SimpleITK"}
    assert installed <= set(info["versions"]), info["versions"]
    assert {"system", "machine"} <= set(info["platform"]) and info["device"] == {"cuda": False}
    assert len(info["config_hash"]) == 64
    assert info["start_time"] <= info["end_time"] and info["status"] == "completed"
    assert info["command"][1:] == [f"study={study}", "progress=false", f"hydra.run.dir={run}",
                                   "n_jobs=1"]
