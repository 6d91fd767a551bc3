"""Outputs a colleague can read: atomic writes get the permissions a plain open() would."""

from __future__ import annotations

import os
import stat

import pandas as pd
import pytest

from robustlab.common.io import atomic_open, write_json, write_table


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_atomic_writes_follow_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        plain = tmp_path / "plain.txt"
        plain.write_text("x")
        written = [write_json(tmp_path / "a.json", {"a": 1}),
                   *write_table(pd.DataFrame({"a": [1]}), tmp_path / "t")]
        with atomic_open(tmp_path / "b.txt") as fh:
            fh.write("b")
        written.append(tmp_path / "b.txt")
    finally:
        os.umask(old)
    assert stat.S_IMODE(plain.stat().st_mode) == mode
    for path in written:
        assert stat.S_IMODE(path.stat().st_mode) == mode, path


def test_one_line_keeps_the_cause_of_a_data_loader_workers_error():
    from robustlab.common.errors import DataError
    from robustlab.common.hydra_app import one_line

    worker = DataError("Caught DataError in DataLoader worker process 0.\nOriginal Traceback (most "
                       "recent call last):\n  File \"x.py\", line 1, in f\nrobustlab.common.errors."
                       "DataError: a.jpg: cannot decode the image (truncated)")
    assert one_line(worker) == ("robustlab.common.errors.DataError: a.jpg: cannot decode the image "
                                "(truncated)")
    assert one_line(FileNotFoundError(2, "No such file or directory", "x.csv")) == (
        "x.csv: No such file or directory")
    assert one_line(DataError("first\n  second")) == "first second"
