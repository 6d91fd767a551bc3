"""A run composes its config once; a mode set by a config file or the command line still holds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from robustlab.common.hydra_app import mode_in_files
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
