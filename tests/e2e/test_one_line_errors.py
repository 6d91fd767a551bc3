"""Both command-line apps: bad input is one line on stderr and exit status 2; --verbose shows why.

Each app is started as a user starts it; the error must name the key or file, say what to do,
and carry no traceback (the traceback is in the run's log file).
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest


def app(name, *args, cwd, verbose=False):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("HYDRA_FULL_ERROR", None)
    code = f"from robustlab.{name}.cli import main; main()"
    return subprocess.run([sys.executable, "-c", code, *args, *(["--verbose"] if verbose else [])],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def assert_one_line(result, app_name, pattern):
    import re

    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    assert re.fullmatch(rf"{app_name}: error: {pattern} \(--verbose shows the traceback\)", last), last


@pytest.mark.parametrize("overrides, pattern", [
    (["threshold=1.5"], r"threshold: must be a number in \(-1, 1\); got 1\.5"),
    (["cache_dir={file}"], r"cache_dir: .*not_a_dir is not a directory; choose a folder with "
                           r"cache_dir=<path>"),
    (["hydra.run.dir={file}/run"], r"hydra\.run\.dir: cannot write in .*not_a_dir/run \(.*\); "
                                   r"choose a writable folder with hydra\.run\.dir=<path>"),
    (["study=nowhere.yaml"], r"study file 'nowhere\.yaml' not found \(looked at .*nowhere\.yaml\)"),
])
def test_radiomics_bad_input_is_one_line(csv_study, tmp_path, overrides, pattern):
    study = csv_study()
    (tmp_path / "not_a_dir").write_text("a file")
    args = [o.format(file=tmp_path / "not_a_dir") for o in overrides]
    if not any(a.startswith("hydra.run.dir") for a in args):
        args.append(f"hydra.run.dir={tmp_path / 'run'}")
    result = app("radiomics", f"study={study}", "progress=false", "report=false", *args,
                 cwd=tmp_path)
    assert_one_line(result, r"-c", pattern)  # the app names itself after argv[0]


def test_verbose_shows_the_traceback_and_the_log_keeps_it(csv_study, tmp_path):
    study = csv_study()
    run = tmp_path / "run"
    quiet = app("radiomics", f"study={study}", "threshold=1.5", f"hydra.run.dir={run}", cwd=tmp_path)
    assert quiet.returncode == 2
    log = next(run.glob("*.log")).read_text()
    assert "Traceback" in log and "ConfigError: threshold: must be a number" in log
    loud = app("radiomics", f"study={study}", "threshold=1.5", f"hydra.run.dir={run}",
               cwd=tmp_path, verbose=True)
    assert loud.returncode != 0 and "Traceback" in loud.stderr and "ConfigError" in loud.stderr


@pytest.mark.slow
def test_pruning_bad_input_is_one_line(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for cls in ("a", "b"):
            (tmp_path / "data" / split / cls).mkdir(parents=True)
            for i in range(2):
                Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(
                    tmp_path / "data" / split / cls / f"{i}.jpg")
    bad = tmp_path / "data" / "val" / "b" / "1.jpg"
    bad.write_bytes(bad.read_bytes()[:300])
    result = app("pruning", "experiment=smoke", "data=imagenet", f"data.root={tmp_path / 'data'}",
                 "data.img_size=32", "model.num_classes=2", "train.batch_size=2",
                 f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert_one_line(result, r"-c", rf"ImageFolder 'val' split: {bad} cannot be decoded \(OSError: "
                                   r".*\); fix or remove the file\(s\), or set "
                                   r"data\.skip_bad_images=true to leave them out")
    assert not (tmp_path / "run" / "sweep_spec.json").exists()


@pytest.mark.slow
@pytest.mark.parametrize("overrides, pattern", [
    (["seed=-1"], r"seed: must be a whole number in \[0, 2\*\*63 - 1\]; got -1"),
    (["seed=abc"], r"seed: must be a whole number in \[0, 2\*\*63 - 1\]; got 'abc'"),
    (["data.val_size=0"], r"data\.val_size: procedural data \(data\.name=shapes\) needs at least 1 image; got 0"),
    (["data.train_size=0"], r"data\.train_size: procedural data \(data\.name=shapes\) needs at least 1 image; got 0"),
    (["data.img_size=1"], r"data\.img_size: must be at least 8 pixels; got 1"),
    (["eval.batch_size=0"], r"eval\.batch_size: must be at least 1 \(images per evaluation batch\); got 0"),
    (["data.num_classes=1", "model.num_classes=1"],
     r"data\.num_classes: a classifier needs at least 2 classes \(with one, top-1 is 1\.0 by construction\); got 1"),
    (["data=imagenet", "data.root={loop}"],
     r"data\.root: .*loop cannot be resolved: a symbolic-link loop \(.*\); point data\.root at the real folder"),
])
def test_pruning_bad_config_values_are_one_line(tmp_path, overrides, pattern):
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    args = [o.format(loop=tmp_path / "loop") for o in overrides]
    result = app("pruning", "experiment=smoke", *args, f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert_one_line(result, r"-c", pattern)
    assert not (tmp_path / "run" / "checkpoints").exists()


@pytest.mark.parametrize("seed, shown", [("-1", "-1"), ("abc", "'abc'")])
def test_radiomics_bad_seed_is_one_line(csv_study, tmp_path, seed, shown):
    result = app("radiomics", f"study={csv_study()}", f"seed={seed}", "progress=false", "report=false",
                 f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert_one_line(result, r"-c", rf"seed: must be a whole number in \[0, 2\*\*63 - 1\]; got {shown}")


@pytest.mark.slow
def test_a_second_pruning_process_in_a_locked_run_folder_is_one_line_naming_the_holder(tmp_path):
    import socket
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parents[1] / "pruning"))  # the helper of the library's lock tests
    from test_run_folder import hold_lock

    holder = hold_lock(tmp_path / "run")
    try:
        result = app("pruning", "experiment=smoke", f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    assert_one_line(result, r"-c", rf"hydra\.run\.dir {tmp_path / 'run'} is in use by another process \(pid "
                                   rf"{holder.pid} on host {socket.gethostname()}, started .*\); wait for it to "
                                   r"finish, or choose another folder \(lock file .*\.robustlab\.lock\)")
    assert not (tmp_path / "run" / ".hydra").exists()  # refused before Hydra wrote its files there
