"""Seeding, atomic IO, run records and the Hydra entry point."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from robustlab.common import io
from robustlab.common.hydra_app import config_dir
from robustlab.common.runinfo import RunRecord, config_hash
from robustlab.common.seeding import seed_everything


def test_seed_everything_is_reproducible():
    torch = pytest.importorskip("torch")
    draws = []
    for _ in range(2):
        rng = seed_everything(123)
        draws.append((random.random(), np.random.rand(), rng.random(), torch.rand(1).item()))  # noqa: NPY002
    assert draws[0] == draws[1]
    assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
    with pytest.raises(ValueError, match="non-negative integer"):
        seed_everything(-1)


def test_common_does_not_import_torch():
    code = ("import robustlab.common.stats, robustlab.common.io, robustlab.common.seeding, sys; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_atomic_write_leaves_old_file_on_failure(tmp_path):
    target = tmp_path / "table.json"
    io.write_json(target, {"a": 1})
    with pytest.raises(RuntimeError), io.atomic_open(target) as fh:
        fh.write("{half")
        raise RuntimeError("crash mid-write")
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["table.json"]  # no temp file left


def test_tables_round_trip_as_csv_and_parquet(tmp_path):
    df = pd.DataFrame({"feature": ["a", "b"], "value": [0.5, np.nan]})
    written = io.write_table(df, tmp_path / "per_feature")
    assert [p.name for p in written] == ["per_feature.csv", "per_feature.parquet"]
    pd.testing.assert_frame_equal(io.read_table(tmp_path / "per_feature"), df)
    pd.testing.assert_frame_equal(io.read_table(tmp_path / "per_feature.csv"), df, check_dtype=False)


def test_run_record(tmp_path):
    with pytest.raises(ValueError), RunRecord(tmp_path, {"seed": 1}, command=["app", "x=1"]):
        raise ValueError("bad")
    info = json.loads((tmp_path / "run_info.json").read_text())
    assert info["status"] == "failed" and "ValueError: bad" in info["error"]
    assert info["command"] == ["app", "x=1"] and info["config_hash"] == config_hash({"seed": 1})
    assert {"python", "numpy", "pandas"} <= set(info["versions"])
    assert info["start_time"] <= info["end_time"]
    assert config_hash({"a": 1, "b": 2}) == config_hash({"b": 2, "a": 1}) != config_hash({"a": 2, "b": 2})


def test_config_root_found_from_any_directory(tmp_path):
    assert (config_dir() / "pruning.yaml").is_file() and (config_dir() / "radiomics.yaml").is_file()
    code = "from robustlab.common.hydra_app import config_dir; print(config_dir())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=True)
    assert out.stdout.strip() == str(config_dir())


def test_hydra_entry_seeds_records_and_selects_groups(tmp_path, monkeypatch):
    conf = tmp_path / "conf"
    (conf / "demo" / "model").mkdir(parents=True)
    (conf / "hydra").mkdir()
    (conf / "demo.yaml").write_text(textwrap.dedent("""\
        defaults:
          - model: small
          - _self_
        seed: 3
        hydra:
          searchpath:
            - file://${oc.env:ROBUSTLAB_CONFIG_DIR}/demo
        """))
    (conf / "demo" / "model" / "small.yaml").write_text("width: 8\n")
    (conf / "demo" / "model" / "large.yaml").write_text("width: 64\n")
    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent("""\
        import json, numpy as np
        from robustlab.common.hydra_app import hydra_entry

        @hydra_entry("demo")
        def main(cfg, run_dir):
            (run_dir / "out.json").write_text(json.dumps({"width": cfg.model.width, "draw": np.random.rand()}))

        main()
        """))
    env = {**__import__("os").environ, "ROBUSTLAB_CONFIG_DIR": str(conf)}
    for run, args in (("a", []), ("b", ["model=large"])):
        subprocess.run([sys.executable, str(script), f"hydra.run.dir={tmp_path / run}", *args],
                       check=True, env=env, cwd=tmp_path, capture_output=True)
    a, b = (json.loads((tmp_path / r / "out.json").read_text()) for r in "ab")
    assert (a["width"], b["width"]) == (8, 64)
    assert a["draw"] == b["draw"] == np.random.RandomState(3).rand()  # seeded from cfg.seed
    info = json.loads((tmp_path / "b" / "run_info.json").read_text())
    assert info["status"] == "completed" and info["command"][1:] == [f"hydra.run.dir={tmp_path / 'b'}", "model=large"]


def test_seed_everything_can_leave_torch_alone():
    code = ("from robustlab.common.seeding import seed_everything; import sys; "
            "seed_everything(1, torch=False); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
