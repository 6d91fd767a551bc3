"""What the command line imports before it has work to do (modules counted, no timing).

``--help`` is answered from the config files alone; importing an app's command-line module and
binding (validating) its composed config import neither the pipeline nor the heavy libraries.
The speed itself is a bench (``bench/bench_startup.py``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

HEAVY = ("pandas", "SimpleITK", "torch", "radiomics", "scipy", "hydra", "omegaconf",
         "robustlab.radiomics.pipeline", "robustlab.pruning.sweep", "robustlab.pruning.train")


def imported_by(code: str, *argv: str) -> tuple[set[str], str]:
    """The heavy modules in ``sys.modules`` after ``code`` ran in a fresh interpreter, and its stdout."""
    probe = (f"import sys, json\nsys.argv = {list(argv)!r}\n{code}\n"
             f"print('@@' + json.dumps(sorted(m for m in {list(HEAVY)!r} if m in sys.modules)))")
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    text, _, modules = out.stdout.rpartition("@@")
    return set(json.loads(modules)), text


@pytest.mark.parametrize("module", ["robustlab.radiomics.cli", "robustlab.pruning.cli"])
def test_importing_the_command_line_module_imports_nothing_heavy(module):
    assert imported_by(f"import {module}")[0] == set()


@pytest.mark.parametrize(("module", "app"), [("robustlab.radiomics.cli", "robustlab-radiomics"),
                                              ("robustlab.pruning.cli", "robustlab-prune")])
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_is_answered_without_hydra_or_the_pipeline(module, app, flag):
    modules, text = imported_by(f"from {module} import main\nmain()", app, "experiment=quick", flag)
    assert modules == set()
    group = "protocol" if "radiomics" in module else "method"
    assert "Config groups" in text and f"  {group} " in text and f"{app} --cfg job" in text


def test_the_composed_config_is_validated_without_the_pipeline_or_pandas():
    code = ("from hydra import compose, initialize_config_dir\n"
            "from omegaconf import OmegaConf\n"
            "from robustlab.common.resources import config_dir\n"
            "from robustlab.radiomics.cli import options_from_config\n"
            "import os; os.environ.setdefault('ROBUSTLAB_CONFIG_DIR', str(config_dir()))\n"
            "with initialize_config_dir(config_dir=str(config_dir()), version_base='1.3'):\n"
            "    cfg = compose(config_name='radiomics', overrides=['experiment=quick'])\n"
            "print(options_from_config(cfg)['threshold'])")
    modules, text = imported_by(code)
    assert modules <= {"hydra", "omegaconf"}
    assert text.strip().splitlines()[-1] in {"None", "0.9"}
