"""scripts/compare_runs.py: equal runs compare equal whatever their time and place; a change is found."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pandas as pd

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "compare_runs.py"
spec = importlib.util.spec_from_file_location("compare_runs", SCRIPT)
compare_runs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(compare_runs)


def write_run(run: Path, top1: float = 0.5, when: str = "2026-01-01T00:00:00", seconds: float = 1.0) -> Path:
    (run / "per_image").mkdir(parents=True)
    pd.DataFrame({"step": [0, 1], "top1": [0.4, top1], "train_seconds": [seconds, 2 * seconds]}).to_csv(
        run / "metrics.csv", index=False)
    pd.DataFrame({"index": [0, 1], "value": [1.0, float("nan")]}).to_parquet(run / "per_image" / "a.parquet")
    (run / "run_info.json").write_text(json.dumps({"start_time": when, "cwd": str(run), "status": "completed",
                                                   "config_hash": "abc"}))
    (run / "extraction.json").write_text(json.dumps({"cache_dir": str(run.parent / "cache")}))
    (run / "report.md").write_text(f"# Report\nrun in {run}\n")
    (run / "hydra_app.log").write_text(f"[{when}] started\n")
    return run


def test_runs_differing_only_in_time_and_place_are_equal(tmp_path, capsys):
    a = write_run(tmp_path / "x" / "run")
    b = write_run(tmp_path / "y" / "run", when="2027-05-05T12:00:00", seconds=9.0)
    assert compare_runs.compare_runs(a, b) == []
    assert compare_runs.main([str(a), str(b)]) == 0
    assert "0 difference(s)" in capsys.readouterr().out


def test_a_changed_value_and_a_missing_file_are_differences(tmp_path, capsys):
    a = write_run(tmp_path / "x" / "run")
    b = write_run(tmp_path / "y" / "run", top1=0.51)
    (b / "report.md").unlink()
    diffs = compare_runs.compare_runs(a, b)
    assert diffs == ["only in A: report.md",
                     "metrics.csv: column 'top1': 1 row(s) differ, first row 1: 0.5 vs 0.51"]
    assert compare_runs.main([str(a), str(b)]) == 1


def test_a_planted_checkpoint_is_a_difference_and_runs_no_code(tmp_path, plant_pickle):
    import torch

    plant, marker = plant_pickle
    a, b = write_run(tmp_path / "x" / "run"), write_run(tmp_path / "y" / "run")
    torch.save({"w": torch.ones(2)}, a / "step000.pt")
    plant(b / "step000.pt", as_torch=True)
    [diff] = compare_runs.compare_runs(a, b)
    assert diff.startswith("step000.pt: not a checkpoint of tensors and plain containers (")
    assert not marker.exists()  # weights_only=False unpickled it and ran its code


def test_a_link_loop_is_refused_in_one_line(tmp_path, capsys):
    import pytest

    a, b = write_run(tmp_path / "x" / "run"), write_run(tmp_path / "y" / "run")
    (a / "phantom").symlink_to(a, target_is_directory=True)  # a link to the folder above it
    with pytest.raises(SystemExit) as stop:
        compare_runs.main([str(a), str(b)])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.endswith("phantom is a link to a folder above it "
                                            f"({a}): a loop; remove the link or compare the folder it points to")


def test_a_garbled_table_is_a_difference_in_one_line(tmp_path):
    a, b = write_run(tmp_path / "x" / "run"), write_run(tmp_path / "y" / "run")
    (b / "metrics.csv").write_bytes(b'step,top1\n0,"0.4\n\xff\xfe\x00,1,2,3\n')
    (b / "per_image" / "a.parquet").write_bytes(b"PAR1 not really")
    diffs = compare_runs.compare_runs(a, b)
    assert [d.split(": ")[0] for d in diffs] == ["metrics.csv", "per_image/a.parquet"]
    assert all("cannot be read" in d and "\n" not in d for d in diffs), diffs
