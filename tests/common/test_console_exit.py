"""A console script ends without Python's teardown, yet with its exit handlers and output."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def run(body: str, tmp_path) -> subprocess.CompletedProcess[str]:
    script = textwrap.dedent(f"""
        import atexit, sys, tempfile, weakref
        from pathlib import Path
        from robustlab.common.hydra_app import console
        out = Path({str(tmp_path)!r})

        def main():
            atexit.register(lambda: (out / "atexit").write_text("ran"))
            folder = tempfile.TemporaryDirectory(dir=out)  # removed by its weakref finalizer
            (out / "folder").write_text(folder.name)
            sys.stdout.write("no newline at the end")
        {textwrap.indent(textwrap.dedent(body), "        ").strip()}
        console(main)()
        raise AssertionError("console() returned")
    """)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)


def test_a_finished_run_flushes_its_output_and_runs_its_exit_handlers(tmp_path):
    done = run("", tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "no newline at the end"
    assert (tmp_path / "atexit").read_text() == "ran"
    folder = (tmp_path / "folder").read_text()
    assert not (tmp_path / folder).exists()


def test_an_error_keeps_its_status_and_a_live_thread_the_usual_exit(tmp_path):
    failed = run("""
        first = main
        def main():
            first()
            raise SystemExit(2)
    """, tmp_path)
    assert failed.returncode == 2 and (tmp_path / "atexit").read_text() == "ran"
    (tmp_path / "atexit").unlink()
    waited = run("""
        import threading, time
        first = main
        def main():
            first()
            # a non-daemon thread: the usual exit waits for it, os._exit would cut it short
            threading.Thread(target=lambda: (time.sleep(0.3), (out / "thread").write_text("done"))).start()
    """, tmp_path)
    assert waited.returncode == 0, waited.stderr
    assert (tmp_path / "thread").read_text() == "done" and (tmp_path / "atexit").read_text() == "ran"
