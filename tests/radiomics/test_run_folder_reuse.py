"""A reused run folder holds this run's outputs only: an earlier run's table this run does not write
(``texture_test.csv`` of a run with the texture test, then one without) is removed before the
report links anything; it used to stay and be linked as this run's."""

from __future__ import annotations

import os
import subprocess
import sys

from robustlab.radiomics.pipeline import RUN_FOLDER, run_study


def cli(*args, cwd):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    code = "from robustlab.radiomics.cli import main; main()"
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def test_a_rerun_without_the_texture_test_leaves_and_links_no_texture_table(image_study, tmp_path):
    study = image_study()
    run = tmp_path / "run"
    common = [f"study={study}", f"hydra.run.dir={run}", "progress=false", "n_jobs=1",
              f"cache_dir={tmp_path / 'cache'}"]
    first = cli(*common, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    assert (run / "texture_test.csv").is_file() and "texture_test.csv" in (run / "report.md").read_text()
    second = cli(*common, "texture_test.enabled=false", cwd=tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    assert not (run / "texture_test.csv").exists()
    assert "texture_test.csv" not in (run / "report.md").read_text()
    assert (run / "report.html").stat().st_mtime >= (run / "summary.csv").stat().st_mtime
    log = "".join(p.read_text() for p in run.glob("*.log"))
    assert log.count("run directory:") == 1  # the log holds this run alone


def test_the_library_clears_an_earlier_run_too(image_study, tmp_path):
    study = image_study()
    kw = {"n_jobs": 1, "cache_dir": tmp_path / "cache", "progress": False}
    run_study(study, tmp_path / "out", **kw)
    assert (tmp_path / "out" / "texture_test.csv").is_file()
    result = run_study(study, tmp_path / "out", texture=False, **kw)
    assert result.texture is None and not (tmp_path / "out" / "texture_test.csv").exists()
    assert "texture_test.csv" not in (tmp_path / "out" / "report.md").read_text()


def test_the_command_line_declares_the_library_s_run_folder():
    from robustlab.common.resources import config_dir
    from robustlab.common.safe_yaml import load

    callback = load(config_dir() / "radiomics.yaml")["hydra"]["callbacks"]["run_dir_lock"]
    assert tuple(callback["outputs"]) == RUN_FOLDER["outputs"]
    assert callback["fresh"] == RUN_FOLDER["fresh"] and tuple(callback["keep"]) == RUN_FOLDER["keep"]
