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
    (["threshold=1.5"], r"threshold: must be in \(0, 1\) or null; got 1\.5"),
    (["image_budget=0"], r"image_budget: must be in \[1, inf\); got 0"),
    (["cache_dir={file}"], r"cache_dir: .*not_a_dir is not a directory; choose a folder with "
                           r"cache_dir=<path>"),
    (["hydra.run.dir={file}/run"], r"hydra\.run\.dir: cannot write in .*not_a_dir/run \(.*\); "
                                   r"choose a writable folder with hydra\.run\.dir=<path>"),
    (["study=nowhere.yaml"], r"study file 'nowhere\.yaml' not found \(looked at .*nowhere\.yaml\)"),
    (["n_jobs=0"], r"n_jobs: must be in \[1, inf\) or -1; got 0"),
    (["selection.select_on=[]"], r"selection\.select_on: must be non-empty or null; got \[\]"),
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
    assert "Traceback" in log and "ConfigError: threshold: must be in" in log
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
    (["data.img_size=1"], r"data\.img_size: must be in \[8, inf\); got 1"),
    (["train.lr=nan"], r"train\.lr: must be a finite number; got nan"),
    (["train.weight_decay=-5"], r"train\.weight_decay: must be in \[0, inf\); got -5"),
    (["threads=-1"], r"threads: must be in \[1, inf\) or null; got -1"),
    (["eval.batch_size=0"], r"eval\.batch_size: must be in \[1, inf\); got 0"),
    (["data.num_classes=1", "model.num_classes=1"],
     r"data\.num_classes: procedural data has 2 to 12 classes \(one per shape; with one class, top-1 is 1\.0 by "
     r"construction\); got 1"),
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


def while_held(folder, name, *args, cwd):
    """Run app ``name`` while another process holds ``folder``'s lock; (its result, that pid)."""
    import textwrap

    code = textwrap.dedent(f"""
        import sys
        from robustlab.common.runlock import RunLock
        with RunLock({str(folder)!r}):
            print("held", flush=True)
            sys.stdin.read()
    """)
    holder = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        return app(name, *args, f"hydra.run.dir={folder}", cwd=cwd), holder.pid
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)


def assert_in_use(result, folder, pid):
    import socket

    assert_one_line(result, r"-c", rf"hydra\.run\.dir {folder} is in use by another process \(pid {pid} on "
                                   rf"host {socket.gethostname()}, started .*\); wait for it to finish, or "
                                   r"choose another folder \(lock file .*\.robustlab\.lock\)")


@pytest.mark.slow
def test_a_second_pruning_process_in_a_locked_run_folder_is_one_line_naming_the_holder(tmp_path):
    result, pid = while_held(tmp_path / "run", "pruning", "experiment=smoke", cwd=tmp_path)
    assert_in_use(result, tmp_path / "run", pid)
    assert not (tmp_path / "run" / ".hydra").exists()  # refused before Hydra wrote its files there


UNSET = "ROBUSTLAB_TEST_UNSET_VARIABLE"
UNSET_REF = "${oc.env:" + UNSET + "}"


@pytest.mark.parametrize("override, pattern", [
    ("study=" + UNSET_REF,
     rf"study: cannot resolve \$\{{oc\.env:{UNSET}\}} \(Environment variable '{UNSET}' not found\); "
     r"set what it names, or give study a value with study=<value>"),
    ("threshold=${missing.key}",
     r"threshold: cannot resolve \$\{missing\.key\} \(Interpolation key 'missing\.key' not found\); "
     r"set what it names, or give threshold a value with threshold=<value>"),
    ("hydra.run.dir={tmp}/" + UNSET_REF,
     rf"hydra\.run\.dir: cannot resolve .*/\$\{{oc\.env:{UNSET}\}} \(Environment variable '{UNSET}' not "
     r"found\); set what it names, or give hydra\.run\.dir a value with hydra\.run\.dir=<value>"),
])
def test_an_interpolation_that_cannot_be_resolved_is_one_line_naming_the_key(csv_study, tmp_path, override,
                                                                            pattern):
    args = [f"study={csv_study()}", f"hydra.run.dir={tmp_path / 'run'}", override.replace("{tmp}", str(tmp_path))]
    result = app("radiomics", *args, "progress=false", "report=false", cwd=tmp_path)
    assert_one_line(result, r"-c", pattern)


def test_an_interpolation_in_a_config_file_is_one_line_naming_the_key(csv_study, tmp_path):
    (tmp_path / "mine" / "experiment").mkdir(parents=True)
    (tmp_path / "mine" / "experiment" / "broken.yaml").write_text("# @package _global_\nalpha: ${missing.key}\n")
    result = app("radiomics", "--config-dir", str(tmp_path / "mine"), "experiment=broken",
                 f"study={csv_study()}", f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert_one_line(result, r"-c", r"alpha: cannot resolve \$\{missing\.key\} \(Interpolation key "
                                   r"'missing\.key' not found\); set what it names, or give alpha a value "
                                   r"with alpha=<value>")


def test_an_unset_variable_behind_the_pruning_run_folder_names_the_key_at_fault(tmp_path):
    # hydra.run.dir is built from ${seed}: the error names seed, not the folder
    result = app("pruning", "experiment=smoke", "seed=" + UNSET_REF, cwd=tmp_path)
    assert_one_line(result, r"-c", rf"seed: cannot resolve \$\{{oc\.env:{UNSET}\}} \(Environment variable "
                                   rf"'{UNSET}' not found\); set what it names, or give seed a value with "
                                   r"seed=<value>")
    planned = app("pruning", "experiment=smoke", "plan=true", "method.rate=${missing.key}", cwd=tmp_path)
    assert_one_line(planned, r"-c", r"method\.rate: cannot resolve \$\{missing\.key\} \(Interpolation key "
                                    r"'missing\.key' not found\); set what it names, or give method\.rate a "
                                    r"value with method\.rate=<value>")


def test_a_study_and_a_run_folder_whose_paths_hold_a_comma_work(csv_study, tmp_path):
    folder = tmp_path / "site a,b"
    folder.mkdir()
    study = csv_study(root=folder)
    run = tmp_path / "run 1,2"
    result = app("radiomics", f"study={study}", f"hydra.run.dir={run}", "progress=false", "report=false",
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (run / "summary.csv").is_file()
    assert str(study) in (run / ".hydra" / "overrides.yaml").read_text()


def test_a_comma_value_that_is_no_path_is_one_line_naming_the_key(csv_study, tmp_path):
    result = app("radiomics", f"study={csv_study()}", "bands=0.5,0.8", f"hydra.run.dir={tmp_path / 'run'}",
                 cwd=tmp_path)
    assert_one_line(result, r"-c", r"bands: '0\.5,0\.8' holds a comma, which Hydra reads as values to sweep "
                                   r"over; add -m to sweep, write bands=\[0\.5,0\.8\] for a list, or quote "
                                   r"one value: bands=\"'0\.5,0\.8'\"")
    missing = tmp_path / "no,such" / "study.yaml"
    result = app("radiomics", f"study={missing}", f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert_one_line(result, r"-c", rf"study: '{missing}' holds a comma, .*")


@pytest.mark.parametrize("name, args, pattern", [
    ("pruning", ["method=nope"], r"method: unknown option 'nope' \(known: imp_lr_rewind, .*\)"),
    ("pruning", ["-m", "method=snip,snp"], r"method: unknown option 'snp'; did you mean snip\? \(known: .*\)"),
    ("radiomics", ["protocol=paperr"], r"protocol: unknown option 'paperr'; did you mean paper\? "
                                       r"\(known: paper, quick\)"),
])
def test_an_option_no_config_group_has_is_one_line_with_the_close_ones(tmp_path, name, args, pattern):
    result = app(name, *args, f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert_one_line(result, r"-c", pattern)
    assert not (tmp_path / "run").exists()   # refused before Hydra made the run folder


@pytest.mark.parametrize("override, pattern", [
    ("phantom.body.shell_thickness_mm=-1", r"phantom\.body\.shell_thickness_mm: expected a number > 0, got -1\.0"),
    ("+protocol.acquisitions.A15_rep1.extraction.binWidth=nan",
     r"protocol\.acquisitions\.A15_rep1\.extraction: setting binWidth must be finite; got nan \(.*\)"),
])
def test_a_bad_phantom_or_protocol_value_is_one_line_before_any_simulation(tmp_path, override, pattern):
    run = tmp_path / "run"
    result = app("radiomics", "protocol=quick", override, f"cache_dir={tmp_path / 'cache'}",
                 f"hydra.run.dir={run}", "progress=false", "report=false", cwd=tmp_path)
    assert_one_line(result, r"-c", pattern)
    assert not list((tmp_path / "cache").rglob("*.nii.gz"))  # refused before any simulation
