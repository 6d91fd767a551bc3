"""Run folders are owned: both apps lock theirs, and refuse, with one line, a folder of the other
app, of another study, or holding a study's inputs, before writing anything there.

Each case was a silent mix before: two radiomics runs into one folder both exited 0; a radiomics
run into a pruning run folder replaced the sweep's ``run_info.json`` and ``.hydra/`` (and the
aggregate then tagged the sweep's metrics with the radiomics overrides); a run folder that was
the study folder overwrote input CSVs named ``summary.csv`` and ``selection.csv``.
"""

from __future__ import annotations

import pandas as pd
import pytest
from test_one_line_errors import app, assert_in_use, assert_one_line, while_held


def radiomics(study, run, cwd, *args):
    return app("radiomics", f"study={study}", f"hydra.run.dir={run}", "progress=false", *args, cwd=cwd)


def snapshot(folder):
    """Every file under ``folder`` (relative path -> bytes), the lock file left out."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != ".robustlab.lock"}


def test_a_second_radiomics_run_into_a_folder_in_use_is_refused_naming_the_first(csv_study, tmp_path):
    result, pid = while_held(tmp_path / "run", "radiomics", f"study={csv_study()}", "progress=false",
                             cwd=tmp_path)
    assert_in_use(result, tmp_path / "run", pid)
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [".robustlab.lock"]


def test_a_radiomics_run_into_the_folder_of_another_study_is_refused(csv_study, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, second = csv_study(root=tmp_path / "a"), csv_study(n_rois=8, root=tmp_path / "b")
    assert radiomics(first, tmp_path / "run", tmp_path).returncode == 0
    before = snapshot(tmp_path / "run")
    result = radiomics(second, tmp_path / "run", tmp_path)
    assert_one_line(result, r"-c", rf"hydra\.run\.dir {tmp_path / 'run'} holds the outputs of another "
                                   rf"radiomics run \(study: '{first}' there, '{second}' now\); choose another "
                                   r"folder, or remove that one")
    assert snapshot(tmp_path / "run") == before  # the log and the summary hold the first run alone


def pruning_run_folder(folder, cwd):
    """A pruning run folder as robustlab-prune leaves it when the run stops at its config."""
    result = app("pruning", "experiment=smoke", "data.img_size=1", f"hydra.run.dir={folder}", cwd=cwd)
    assert result.returncode == 2 and (folder / "run_info.json").is_file(), result.stderr[-2000:]
    return folder


@pytest.mark.slow
def test_a_radiomics_run_into_a_pruning_run_folder_is_refused_and_changes_nothing(csv_study, tmp_path):
    folder = pruning_run_folder(tmp_path / "sweep", tmp_path)
    before = snapshot(folder)
    result = radiomics(csv_study(), folder, tmp_path)
    assert_one_line(result, r"-c", rf"hydra\.run\.dir {folder} is a run folder of the pruning app, not of "
                                   r"radiomics; choose another folder")
    assert snapshot(folder) == before  # run_info.json and .hydra/ (the aggregate's overrides) kept


def test_a_pruning_run_into_a_radiomics_run_folder_is_refused(csv_study, tmp_path):
    assert radiomics(csv_study(), tmp_path / "run", tmp_path).returncode == 0
    before = snapshot(tmp_path / "run")
    result = app("pruning", "experiment=smoke", f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert_one_line(result, r"-c", rf"hydra\.run\.dir {tmp_path / 'run'} is a run folder of the radiomics app, "
                                   r"not of pruning; choose another folder")
    assert snapshot(tmp_path / "run") == before


def test_a_run_folder_that_is_the_study_folder_is_refused_and_its_inputs_kept(csv_study, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    study = csv_study(root=data)
    # the study's feature CSVs carry the names of two of the run's outputs
    for old, new in (("a.csv", "summary.csv"), ("b.csv", "selection.csv")):
        (data / old).rename(data / new)
    study.write_text(study.read_text().replace("a.csv", "summary.csv").replace("b.csv", "selection.csv"))
    before = snapshot(data)
    result = radiomics(study, data, tmp_path)
    assert_one_line(result, r"-c", rf"hydra\.run\.dir {data} holds files of no robustlab run \(s\.yaml, "
                                   r"selection\.csv, summary\.csv\); choose a new or empty folder \(a run "
                                   r"writes its outputs there\)")
    assert snapshot(data) == before and not (data / ".hydra").exists()
    assert len(pd.read_csv(data / "summary.csv")) == 6  # still the input table


def test_a_multirun_claims_each_job_folder(csv_study, tmp_path):
    study = csv_study()
    args = ["-m", f"study={study}", "progress=false", "report=false", "threshold=0.8,0.9",
            f"hydra.sweep.dir={tmp_path / 'sweep'}", "hydra/launcher=basic"]
    first = app("radiomics", *args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    jobs = sorted(p for p in (tmp_path / "sweep").iterdir() if p.is_dir())
    assert [j.name for j in jobs] == ["0", "1"]
    for job in jobs:
        assert (job / ".robustlab-run.json").is_file() and (job / "summary.csv").is_file()
    (jobs[0] / "notes.txt").write_text("mine")  # a file no radiomics run writes
    again = app("radiomics", *args, cwd=tmp_path)
    assert_one_line(again, r"-c", rf"hydra\.runtime\.output_dir {jobs[0]} holds files no radiomics run writes "
                                  r"\(notes\.txt\); choose another folder \(a run would write its outputs "
                                  r"beside them\)")
