"""`robustlab-prune-aggregate`'s arguments are checked before any run is read."""

from __future__ import annotations

from pathlib import Path

import pytest

from robustlab.pruning.aggregate import main


@pytest.mark.parametrize("alpha", ["2", "0", "nan", "-0.1"])
def test_alpha_out_of_range_is_one_line_before_the_runs_are_read(
        alpha: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Before: --alpha was checked only inside the bootstrap, once every run had been read (here
    the missing folder was named instead)."""
    assert main([str(tmp_path / "no_such_sweep"), "--alpha", alpha]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("robustlab-prune-aggregate: error: --alpha: must be a number in (0, 1); "
                          "got ")
    assert "\n" not in err and "no_such_sweep" not in err
