"""The run-folder protocol of both apps: new, resumed or refused; locked; an earlier run's outputs
removed before a fresh run writes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time

import pytest

from robustlab.common.errors import RunFolderError, RunLockedError
from robustlab.common.runfolder import MARKER, RunFolder, claims_run_folder, folder_app
from robustlab.common.runlock import RunLock

OUTPUTS = ("*.csv", "figures", "seeds")


def claim(folder, app="radiomics", **layout):
    with RunFolder(folder, app, **layout) as run:
        return run.state


def test_a_new_folder_is_claimed_and_marked_with_its_app_and_identity(tmp_path):
    assert claim(tmp_path / "run", identity={"study": "a.yaml", "seed": 0}) == "new"
    assert json.loads((tmp_path / "run" / MARKER).read_text()) == {
        "app": "radiomics", "identity": {"study": "a.yaml", "seed": 0}}
    assert claim(tmp_path / "run", identity={"study": "a.yaml", "seed": 0}) == "resumed"


def test_a_folder_of_the_other_app_is_refused(tmp_path):
    claim(tmp_path / "run", app="pruning")
    (tmp_path / "run" / "metrics.csv").write_text("step\n0\n")
    with pytest.raises(RunFolderError, match=r"^hydra\.run\.dir .*run is a run folder of the pruning app, "
                                             r"not of radiomics; choose another folder$"):
        claim(tmp_path / "run", what="hydra.run.dir")
    assert (tmp_path / "run" / "metrics.csv").read_text() == "step\n0\n"


@pytest.mark.parametrize("record, app", [
    (".hydra/hydra.yaml", "pruning"), ("multirun.yaml", "pruning"), ("sweep_spec.json", "pruning"),
    ("extraction.json", "radiomics")])
def test_a_folder_written_before_markers_is_known_by_its_records(tmp_path, record, app):
    (tmp_path / record).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / record).write_text(f"hydra:\n  job:\n    name: cli\n    config_name: {app}\n"
                                   if record.endswith(".yaml") else "{}")
    assert folder_app(tmp_path) == app


def test_a_folder_holding_other_files_is_refused_and_left_alone(tmp_path):
    (tmp_path / "study.yaml").write_text("acquisitions: {}\n")
    (tmp_path / "summary.csv").write_text("an input\n")
    with pytest.raises(RunFolderError, match=r"holds files of no robustlab run \(study\.yaml, summary\.csv\); "
                                             r"choose a new or empty folder"):
        claim(tmp_path, outputs=OUTPUTS, fresh=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["study.yaml", "summary.csv"]
    assert (tmp_path / "summary.csv").read_text() == "an input\n"


def test_a_log_another_rank_opened_first_does_not_make_a_new_folder_foreign(tmp_path):
    """Before: rank 1 of a torchrun launch opened hydra_app_rank1.log before rank 0 claimed the
    folder, and rank 0 refused it as holding files of no run (a race, seen in CI)."""
    (tmp_path / "hydra_app_rank1.log").write_text("rank 1 starting\n")
    claim(tmp_path, outputs=OUTPUTS)
    assert (tmp_path / "hydra_app_rank1.log").exists()


def test_a_run_folder_holding_files_its_app_never_writes_is_refused(tmp_path):
    claim(tmp_path, outputs=OUTPUTS)
    (tmp_path / "study.yaml").write_text("mine")
    with pytest.raises(RunFolderError, match=r"holds files no radiomics run writes \(study\.yaml\)"):
        claim(tmp_path, outputs=OUTPUTS, fresh=True)
    assert (tmp_path / "study.yaml").read_text() == "mine"


def test_the_outputs_of_another_study_are_refused_but_a_run_stopped_by_bad_input_is_not(tmp_path):
    claim(tmp_path, identity={"study": "a.yaml"})
    (tmp_path / ".hydra").mkdir()
    (tmp_path / "run_info.json").write_text("{}")
    (tmp_path / "cli.log").write_text("bad input\n")
    # only the records of a run: the corrected command takes the folder over
    assert claim(tmp_path, identity={"study": "b.yaml"}) == "resumed"
    (tmp_path / "summary.csv").write_text("b's results")
    with pytest.raises(RunFolderError, match=r"holds the outputs of another radiomics run \(study: 'b\.yaml' "
                                             r"there, 'c\.yaml' now\); choose another folder"):
        claim(tmp_path, identity={"study": "c.yaml"})


def test_a_study_file_inside_the_run_folder_is_refused(tmp_path):
    (tmp_path / "run").mkdir()
    claim(tmp_path / "run")
    (tmp_path / "run" / "study.yaml").write_text("x")
    with pytest.raises(RunFolderError, match=r"holds this run's input \(study=.*study\.yaml\)"):
        claim(tmp_path / "run", identity={"study": str(tmp_path / "run" / "study.yaml")})


def test_identity_paths_are_resolved(tmp_path, monkeypatch):
    (tmp_path / "a.yaml").write_text("x")
    monkeypatch.chdir(tmp_path)
    claim(tmp_path / "run", identity={"study": "a.yaml"})
    (tmp_path / "run" / "summary.csv").write_text("")
    assert claim(tmp_path / "run", identity={"study": "./a.yaml"}) == "resumed"


def test_a_fresh_run_removes_what_an_earlier_run_left_but_what_it_resumes_from(tmp_path):
    run = tmp_path / "run"
    claim(run, outputs=(*OUTPUTS, "phantom"))
    for name in ("texture_test.csv", "summary.csv", "figures/a.png", "seeds/seed1/done.json", ".hydra/x.yaml",
                 "old.log"):
        (run / name).parent.mkdir(parents=True, exist_ok=True)
        (run / name).write_text("earlier")
    (tmp_path / "elsewhere").mkdir()
    (run / "phantom").symlink_to(tmp_path / "elsewhere")
    claim(run, outputs=(*OUTPUTS, "phantom"), fresh=True, keep=("seeds",))
    assert sorted(p.name for p in run.iterdir()) == sorted([MARKER, ".robustlab.lock", "seeds"])
    assert (run / "seeds" / "seed1" / "done.json").read_text() == "earlier"
    assert (tmp_path / "elsewhere").is_dir()  # a link is removed, not what it points to


def test_a_claim_is_reentrant_and_neither_checks_nor_clears_again(tmp_path):
    with RunFolder(tmp_path, "radiomics", outputs=OUTPUTS, fresh=True) as outer:
        (tmp_path / "summary.csv").write_text("this run's")
        with RunFolder(tmp_path, "radiomics", outputs=OUTPUTS, fresh=True) as inner:
            assert inner.state == "held"
        assert (tmp_path / "summary.csv").read_text() == "this run's"
    assert outer.state == "new"
    assert claim(tmp_path, outputs=OUTPUTS, fresh=True) == "resumed"
    assert not (tmp_path / "summary.csv").exists()


def test_a_decorated_entry_point_claims_its_folder(tmp_path):
    @claims_run_folder("out_dir", "radiomics", outputs=OUTPUTS, fresh=True)
    def entry(study, out_dir, **options):
        (out_dir / "summary.csv").write_text(study)
        return sorted(p.name for p in out_dir.iterdir())

    claim(tmp_path / "run", outputs=OUTPUTS)
    (tmp_path / "run" / "texture_test.csv").write_text("earlier")
    assert entry("a", tmp_path / "run") == [MARKER, ".robustlab.lock", "summary.csv"]
    claim(tmp_path / "pruned", app="pruning")
    with pytest.raises(RunFolderError, match="run folder of the pruning app"):
        entry("a", out_dir=tmp_path / "pruned")


def hold(folder, seconds):
    """A process holding ``folder``'s lock for ``seconds``; returns it once it holds it."""
    code = textwrap.dedent(f"""
        import time
        from robustlab.common.runlock import RunLock
        with RunLock({str(folder)!r}):
            print("held", flush=True)
            time.sleep({seconds})
            print(time.time(), flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_folder_in_use_is_refused_or_waited_for(tmp_path):
    holder = hold(tmp_path / "study", 1.0)
    try:
        with pytest.raises(RunLockedError, match=f"pid {holder.pid}"):
            claim(tmp_path / "study")
        with RunLock(tmp_path / "study", wait=True):
            taken = time.time()
        released = float(holder.stdout.readline())
    finally:
        holder.wait(timeout=60)
    assert taken >= released
