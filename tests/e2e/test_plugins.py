"""Plugins from outside the package, through both command lines: ``plugins=[...]`` and entry points.

``tests/plugins/robustlab_test_plugins`` registers a pruning method, an attribution method, an
evaluation suite with its metric directions and a radiomics statistic; its modules are the
examples of the docs page "Extend it" (docs/how-to/extend.md; checked here to be the same text).
The page's commands, which run the pruning method, the attribution and the suite through
``plugins=[...]``, run as written in tests/e2e/test_docs_commands.py.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PLUGINS = REPO / "tests" / "plugins"
PACKAGE = PLUGINS / "robustlab_test_plugins"


def run(app: str, *args: str, cwd: Path, extra_path: tuple[Path, ...] = ()) -> subprocess.CompletedProcess:
    path = os.pathsep.join(p for p in (*map(str, (*extra_path, PLUGINS)), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1", "HYDRA_FULL_ERROR": "1"}
    code = f"from robustlab.{app}.cli import main; main()"
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


def write_feature_study(root: Path, statistic: str) -> Path:
    rng = np.random.default_rng(0)
    names = [f"original_glcm_F{i}" for i in range(5)]
    truth = rng.normal(size=(10, 5)) * 4
    for a in ("test", "retest"):
        pd.DataFrame(truth + rng.normal(size=truth.shape), columns=names).to_csv(root / f"{a}.csv", index=False)
    study = {"name": "plugin_study",
             "acquisitions": {a: {"features": f"{a}.csv"} for a in ("test", "retest")},
             "comparisons": [{"name": "repeat", "statistic": statistic, "acquisitions": ["test", "retest"]}]}
    path = root / "study.yaml"
    path.write_text(yaml.safe_dump(study))
    return path


def check_pearson_run(run_dir: Path, root: Path) -> None:
    summary = pd.read_csv(run_dir / "summary.csv")
    assert summary["statistic"].tolist() == ["Pearson r"]
    per_feature = pd.read_csv(run_dir / "per_feature.csv")
    a, b = pd.read_csv(root / "test.csv"), pd.read_csv(root / "retest.csv")
    expected = [np.corrcoef(a[c], b[c])[0, 1] for c in a.columns]
    values = per_feature.set_index("feature").loc[list(a.columns), "value"].to_numpy()
    assert values == pytest.approx(expected, abs=1e-12)
    assert (per_feature["ci_low"] < per_feature["value"]).all()
    assert (per_feature["value"] < per_feature["ci_high"]).all()


def test_radiomics_statistic_from_the_plugins_key(tmp_path):
    study = write_feature_study(tmp_path, "pearson")
    out = run("radiomics", f"study={study}", "plugins=[robustlab_test_plugins.statistic]", "progress=false",
              "report=false", f"cache_dir={tmp_path / 'cache'}", f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    check_pearson_run(tmp_path / "run", tmp_path)
    # without the plugin the study names the missing statistic before any work
    bare = run("radiomics", f"study={study}", "progress=false", f"cache_dir={tmp_path / 'cache'}",
               f"hydra.run.dir={tmp_path / 'bare'}", cwd=tmp_path)
    assert bare.returncode != 0
    assert "statistic: must be a registered statistic (ccc, icc); got 'pearson'" in bare.stderr


def test_radiomics_statistic_from_an_entry_point(tmp_path):
    site = tmp_path / "site"
    info = site / "robustlab_test_plugins-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: robustlab-test-plugins\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[robustlab.statistics]\npearson = robustlab_test_plugins.statistic\n")
    study = write_feature_study(tmp_path, "pearson")
    out = run("radiomics", f"study={study}", "progress=false", "report=false", f"cache_dir={tmp_path / 'cache'}",
              f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path, extra_path=(site,))
    assert out.returncode == 0, out.stderr[-3000:]
    check_pearson_run(tmp_path / "run", tmp_path)


def test_a_missing_plugin_module_is_named(tmp_path):
    out = run("pruning", "experiment=smoke", "plugins=[no_such_plugin_module]", f"hydra.run.dir={tmp_path / 'run'}",
              cwd=tmp_path)
    assert out.returncode != 0
    assert "config key 'plugins': module 'no_such_plugin_module' cannot be imported" in out.stderr


def test_a_plugin_written_against_the_former_wrappers_still_registers():
    """Each registry's former ``register_*``, ``get_*`` and ``list_*`` functions still work; each
    call warns in one line which registry call replaces it."""
    from robustlab.pruning import alignment, discovery, interpret, methods, suites
    from robustlab.radiomics import statistics
    from robustlab.radiomics.phantom import acquisition

    def fn(*args: object, **kwargs: object) -> str:
        return "called"

    cases = [  # former register, get, list; the registry; metadata of the former form
        ("register_method", "get_method", "list_methods", methods, methods.METHODS, {"start": "dense"}),
        ("register_attribution", "get_attribution", "list_attributions", interpret, interpret.ATTRIBUTIONS,
         {"archs": ("vit",)}),
        ("register_discovery", "get_discovery", "list_discovery", discovery, discovery.DISCOVERY, {"archs": ("cnn",)}),
        ("register_distortion", "get_distortion", "list_distortions", alignment, alignment.DISTORTIONS,
         {"needs_masks": True}),
        ("register_suite", "get_suite", "list_suites", suites, suites.SUITES, {"table": "old_table"}),
        ("register_statistic", "get_statistic", "list_statistics", statistics, statistics.STATISTICS, {"min_rois": 5}),
        ("register_filter", "get_filter", "list_filters", acquisition, acquisition.FILTERS, {}),
    ]
    for register, get, list_, module, registry, metadata in cases:
        with registry.scoped():
            with pytest.warns(DeprecationWarning, match=rf"^{register} is deprecated; use [A-Z]+\.register$"):
                assert getattr(module, register)("old_form", **metadata)(fn) is fn
            entry = registry.get("old_form")
            assert entry.fn is fn and entry() == "called"
            assert {key: entry.metadata[key] for key in metadata} == metadata
            with pytest.warns(DeprecationWarning, match=rf"^{get} is deprecated; use "):
                got = getattr(module, get)("old_form")
            assert got == ((fn, "old_table") if get == "get_suite" else entry)
            with pytest.warns(DeprecationWarning, match=rf"^{list_} is deprecated; use "):
                assert "old_form" in getattr(module, list_)()
        assert "old_form" not in registry


def docs_examples() -> dict[str, str]:
    section = (REPO / "docs" / "how-to" / "extend.md").read_text(encoding="utf-8")
    return dict(re.findall(r"```python\n# (robustlab_test_plugins/\w+\.py)\n(.*?)```", section, flags=re.S))


def test_docs_extend_examples_are_the_plugin_modules_run_here():
    examples = docs_examples()
    assert sorted(examples) == sorted(f"robustlab_test_plugins/{p.name}" for p in PACKAGE.glob("[!_]*.py"))
    for name, code in examples.items():
        assert code == (PLUGINS / name).read_text(), f"docs/how-to/extend.md's {name} differs from tests/plugins/{name}"
