"""A write refused for want of space or permission names the file and the file system that
refused it: the target, not a temporary file or the source of a copy (which named another file
system before).

The full disk is real: a 64 kB tmpfs, filled, mounted in a private mount namespace
(``unshare``); the tests skip where the system offers none.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from robustlab.common.hydra_app import one_line
from robustlab.common.io import write_text

SCRIPT = textwrap.dedent("""
    import json, os, shutil, sys
    from pathlib import Path
    import pandas as pd
    from robustlab.common.hydra_app import one_line
    from robustlab.common.io import write_table, write_text

    disk, source = Path(sys.argv[1]), sys.argv[2]
    writes = {
        "text": lambda: write_text(disk / "summary.md", "x" * 100_000),
        "parquet": lambda: write_table(pd.DataFrame({"a": range(100_000)}), disk / "t", ("parquet",)),
        "csv": lambda: write_table(pd.DataFrame({"a": range(100_000)}), disk / "t", ("csv",)),
        "copy": lambda: shutil.copyfile(source, disk / "copy.bin"),
    }
    out = {}
    for name, write in writes.items():
        try:
            write()
            out[name] = None
        except OSError as exc:
            out[name] = [exc.errno, one_line(exc)]
    (disk / "copy.bin").unlink(missing_ok=True)  # shutil's partial copy, not ours
    out["left"] = sorted(os.listdir(disk))
    print(json.dumps(out))
""")


def on_a_full_disk(tmp_path: Path, script: str = SCRIPT, fill: bool = True) -> dict:
    """Run ``script`` with a 64 kB tmpfs (full with ``fill``) mounted at ``tmp_path/disk``; the
    JSON it prints last."""
    if shutil.which("unshare") is None:
        pytest.skip("no unshare: no private mount namespace for a full disk")
    disk = tmp_path / "disk"
    disk.mkdir()
    source = tmp_path / "source.bin"
    source.write_bytes(os.urandom(100_000))
    shell = (f"mount -t tmpfs -o size=64k tmpfs '{disk}' || exit 77; "
             + (f"dd if=/dev/zero of='{disk}/filler' bs=4k count=100 2>/dev/null; " if fill else "")
             + f"exec '{sys.executable}' -c \"$0\" '{disk}' '{source}'")
    done = subprocess.run(["unshare", "-rm", "sh", "-c", shell, script], capture_output=True, text=True,
                          timeout=120)
    if done.returncode == 77 or "unshare:" in done.stderr:
        pytest.skip(f"no tmpfs in a private mount namespace here: {done.stderr.strip()[:200]}")
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_writes_to_a_full_disk_name_the_file_and_its_file_system(tmp_path):
    found = on_a_full_disk(tmp_path)
    disk = tmp_path / "disk"
    where = rf"\(writing it on the file system mounted at {disk} \(tmpfs, 0 B free\)\)"
    for name, target in (("text", "summary.md"), ("parquet", "t.parquet"), ("csv", "t.csv")):
        code, message = found[name]
        assert code == errno.ENOSPC
        assert message.startswith(f"{disk / target}: "), message
        assert "No space left on device" in message
        assert re.search(where, message), message
    assert found["left"] == ["filler"]  # no temporary file left behind


def test_a_failed_copy_names_its_target_and_the_target_s_file_system(tmp_path):
    code, message = on_a_full_disk(tmp_path)["copy"]
    disk = tmp_path / "disk"
    assert code == errno.ENOSPC
    assert message == (f"{tmp_path / 'source.bin'} -> {disk / 'copy.bin'}: No space left on device (writing "
                       f"{disk / 'copy.bin'} on the file system mounted at {disk} (tmpfs, 0 B free))")


def test_a_refused_permission_names_the_file_not_the_temporary_one(tmp_path, monkeypatch):
    import robustlab.common.io as io

    def refuse(source, target):
        raise PermissionError(errno.EACCES, "Permission denied", str(source))

    monkeypatch.setattr(io.os, "replace", refuse)
    with pytest.raises(PermissionError) as info:
        write_text(tmp_path / "summary.csv", "x")
    assert info.value.errno == errno.EACCES and info.value.filename == str(tmp_path / "summary.csv")
    assert one_line(info.value).startswith(f"{tmp_path / 'summary.csv'}: Permission denied (writing it on the "
                                           "file system mounted at ")
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # the temporary file removed

    def broken(source, target):
        raise OSError(errno.EIO, "Input/output error", str(source))

    monkeypatch.setattr(io.os, "replace", broken)
    with pytest.raises(OSError, match="Input/output error") as other:
        write_text(tmp_path / "summary.csv", "x")
    assert "file system" not in str(other.value)  # only space and permission name it


def test_a_run_whose_record_cannot_be_written_either_reports_what_failed_first(tmp_path):
    # the disk fills during the run: the table fails, then so does the final run_info.json;
    # the error reported used to be the record's, not the table's
    script = textwrap.dedent("""
        import json, os, sys
        from pathlib import Path
        from robustlab.common.hydra_app import one_line
        from robustlab.common.io import write_text
        from robustlab.common.runinfo import RunRecord

        disk = Path(sys.argv[1])
        try:
            with RunRecord(disk / "run", {"seed": 0}):
                filler = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT)
                try:
                    while os.write(filler, bytes(4096)):
                        pass
                except OSError:
                    os.close(filler)
                write_text(disk / "run" / "summary.csv", "x" * 100_000)
        except OSError as exc:
            print(json.dumps({"error": one_line(exc)}))
    """)
    found = on_a_full_disk(tmp_path, script, fill=False)
    assert found["error"].startswith(f"{tmp_path / 'disk' / 'run' / 'summary.csv'}: No space left on device")
