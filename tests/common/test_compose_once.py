"""A run composes its config once; a mode set by a config file or the command line still holds.

``compose_once`` replaces Hydra's private ``Hydra.get_mode``: the last tests fail loudly when a
Hydra release outside the pinned range is installed or the hook's code changes.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from robustlab.common.hydra_app import HYDRA_TESTED, hook_tested, mode_in_files
from robustlab.common.resources import config_dir

# A tiny app declared like robustlab's: it counts Hydra's compositions and records each job.
APP = textwrap.dedent("""
    import json, os
    from hydra._internal.hydra import Hydra
    from robustlab.common.hydra_app import hydra_entry

    compose = Hydra.compose_config
    calls = []

    def counted(self, *args, **kwargs):
        calls.append(str(kwargs.get("run_mode")))
        return compose(self, *args, **kwargs)

    Hydra.compose_config = counted

    @hydra_entry("demo", uses_torch=False)
    def main(cfg, run_dir):
        with open(os.environ["JOBS_FILE"], "a") as f:
            f.write(json.dumps({"x": cfg.x, "compositions": list(calls)}) + "\\n")

    main()
""")


@pytest.fixture
def demo(tmp_path):
    """Run the demo app with a config root of its own; return the jobs it recorded."""
    root = tmp_path / "conf"
    (root / "demo" / "experiment").mkdir(parents=True)
    (root / "demo.yaml").write_text(
        "defaults:\n  - _self_\n  - experiment: null\nseed: 0\nx: 1\n"
        "hydra:\n  searchpath:\n    - file://${oc.env:ROBUSTLAB_CONFIG_DIR}/demo\n")
    (root / "demo" / "experiment" / "sweep.yaml").write_text(
        "# @package _global_\nhydra:\n  mode: MULTIRUN\n  sweeper:\n    params:\n      x: 5,6\n")
    script = tmp_path / "demo.py"
    script.write_text(APP)

    def run(*args: str, sets_mode: bool = False) -> list[dict]:
        if not sets_mode:
            (root / "demo" / "experiment" / "sweep.yaml").unlink(missing_ok=True)
        out = tmp_path / "out"
        env = {**os.environ, "ROBUSTLAB_CONFIG_DIR": str(root), "JOBS_FILE": str(tmp_path / "jobs.jsonl")}
        subprocess.run([sys.executable, str(script), *args, f"hydra.run.dir={out}/run",
                        f"hydra.sweep.dir={out}/sweep"], check=True, env=env, cwd=tmp_path,
                       capture_output=True, timeout=120)
        jobs = [json.loads(line) for line in (tmp_path / "jobs.jsonl").read_text().splitlines()]
        (tmp_path / "jobs.jsonl").unlink()
        return jobs

    return run


def test_a_run_composes_its_config_once(demo):
    jobs = demo("x=2")
    assert [j["x"] for j in jobs] == [2]
    assert jobs[0]["compositions"] == ["RunMode.RUN"]


def test_a_multirun_from_the_command_line_still_sweeps(demo):
    assert sorted(j["x"] for j in demo("-m", "x=3,4")) == [3, 4]


def test_a_mode_set_by_a_config_file_is_still_read(demo):
    jobs = demo("experiment=sweep", sets_mode=True)
    assert sorted(j["x"] for j in jobs) == [5, 6]


def test_the_files_that_set_the_mode_are_found(tmp_path):
    (tmp_path / "app" / "experiment").mkdir(parents=True)
    (tmp_path / "app.yaml").write_text("x: 1\n")
    (tmp_path / "app" / "experiment" / "a.yaml").write_text("hydra:\n  job:\n    name: a\n")
    assert not mode_in_files(tmp_path, "app")
    (tmp_path / "app" / "experiment" / "b.yaml").write_text("hydra:\n  mode: 'MULTIRUN'\n")
    assert mode_in_files(tmp_path, "app")
    # the bundled apps: a pruning experiment sets hydra.mode, no radiomics file does
    assert mode_in_files(Path(config_dir()), "pruning")
    assert not mode_in_files(Path(config_dir()), "radiomics")


#: SHA-256 (first 16 hex digits) of the source of Hydra's ``Hydra.get_mode`` (composes with
#: ``run_mode=MULTIRUN`` and returns ``cfg.hydra.mode``, None on any error) and of
#: ``_run_app`` (None: ``-m``'s mode, appended as ``hydra.mode=...``), the same in every Hydra
#: release from 1.3.0 to 1.3.8.
TESTED_HOOK = {"Hydra.get_mode": "47ab05c3c05b1c64", "_run_app": "c6282a21225813cf"}
REPO = Path(__file__).resolve().parents[2]


def test_hydra_is_pinned_to_the_tested_releases():
    import hydra

    major, minor = HYDRA_TESTED
    pin = f'"hydra-core>={major}.{minor},<{major}.{minor + 1}"'
    for package in ("common", "pruning", "radiomics"):
        text = (REPO / "packages" / package / "pyproject.toml").read_text(encoding="utf-8")
        assert pin in text, f"packages/{package}/pyproject.toml must pin {pin} (the tested releases)"
    installed = tuple(int(p) for p in re.findall(r"\d+", hydra.__version__)[:2])
    assert installed == HYDRA_TESTED, (
        f"Hydra {hydra.__version__} is installed, compose_once was tested with {major}.{minor}.x: "
        "check its hook (this file's last test), then change HYDRA_TESTED and the pins")


def test_the_private_hook_is_the_one_tested():
    """Fails when Hydra's ``get_mode``, its call or the handling of its answer changes."""
    import hydra
    from hydra._internal import utils
    from hydra._internal.hydra import Hydra

    get_mode = getattr(Hydra.get_mode, "__wrapped__", Hydra.get_mode)  # compose_once's or Hydra's
    found = {name: hashlib.sha256(inspect.getsource(f).encode()).hexdigest()[:16]
             for name, f in (("Hydra.get_mode", get_mode), ("_run_app", utils._run_app))}
    assert found == TESTED_HOOK, (
        f"Hydra {hydra.__version__} changed the private hook compose_once replaces ({found} != "
        f"{TESTED_HOOK}): read the new code, check that None from get_mode still means "
        "'the mode of -m', then update TESTED_HOOK (or remove compose_once)")
    assert "hydra.get_mode(config_name=config_name, overrides=overrides)" in inspect.getsource(utils._run_hydra)
    assert hook_tested(Hydra, hydra.__version__)


def test_another_hydra_keeps_its_own_get_mode():
    class Changed:
        def get_mode(self, config_name, overrides, extra):  # a signature compose_once does not know
            return None

    class Same:
        def get_mode(self, config_name, overrides):
            return None

    assert hook_tested(Same, "1.3.8") and hook_tested(Same, "1.3.0.dev1")
    assert not hook_tested(Changed, "1.3.8")
    assert not hook_tested(Same, "1.4.0") and not hook_tested(Same, "2.0")
    assert not hook_tested(object, "1.3.8")
