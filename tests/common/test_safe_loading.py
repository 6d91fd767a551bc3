"""Every YAML the project reads goes through ``robustlab.common.safe_yaml`` (no Python objects, no
key written twice, bounded in size) and every checkpoint through ``torch.load(weights_only=True)``.

A "billion laughs" (nine levels of nine aliases, under 1 kB) kept the study loader busy for more
than 120 s (issue 28); it is now refused before anything is constructed.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from robustlab.common import safe_yaml

REPO = Path(__file__).resolve().parents[2]
TREES = [REPO / name for name in ("packages", "scripts", "bench", "tests")]
SAFE_YAML = REPO / "packages" / "common" / "src" / "robustlab" / "common" / "safe_yaml.py"


def laughs(levels: int = 9) -> str:
    """Nine levels of nine aliases: 9^9 values once expanded."""
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    names = "abcdefghijklmnop"
    for prev, name in zip(names, names[1:levels], strict=False):
        lines.append(f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]")
    return "\n".join(lines) + "\n"


def test_a_billion_laughs_is_refused_before_it_is_built():
    with pytest.raises(safe_yaml.YAMLTooLargeError, match=r"^<string>: more than 1,000,000 values once its aliases "
                                                          r"are expanded \(from line \d+\); write the values out"):
        safe_yaml.loads(laughs())
    small = safe_yaml.loads(laughs(levels=3))  # 9^3 values: a legitimate use of aliases
    assert len(small["c"]) == 9 and small["c"][0] is small["b"]


@pytest.mark.parametrize("text, message", [
    ("a: &a [1, *a]\n", r"an alias inside its own anchor \(a recursive value\) at line 1"),
    ("[" * 50_000 + "]" * 50_000, r"YAML nested too deeply to read"),
    ("a: 1\nb: 2\na: 3\n", r"key 'a' is written twice \(lines 1 and 3\); keep one"),
    ("a: [1, 2\n", r"not valid YAML: .* at line 2, column 1"),
])
def test_hostile_or_broken_yaml_is_one_line(text, message):
    with pytest.raises((safe_yaml.YAMLSyntaxError, safe_yaml.DuplicateKeyError), match=message) as err:
        safe_yaml.loads(text)
    assert "\n" not in str(err.value)


def test_a_file_is_read_up_to_its_bound(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text("x: " + "1" * 200 + "\n")
    with pytest.raises(safe_yaml.YAMLTooLargeError, match=r"big\.yaml: larger than 100 bytes"):
        safe_yaml.load(big, max_bytes=100)
    assert safe_yaml.load(big) == {"x": int("1" * 200)}


def laughs_in_labels(levels: int = 9) -> str:
    """The same aliases inside an acquisition's ``labels`` of a study file (where the study loader
    used to expand them: at the top level, an unknown key stopped it first)."""
    levels_text = ['&a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    names = "abcdefghijklmnop"
    for prev, name in zip(names, names[1:levels], strict=False):
        levels_text.append(f"&{name} [{', '.join([f'*{prev}'] * 9)}]")
    return ("name: laughs\nacquisitions:\n  a:\n    image: a.nii.gz\n    mask: a_mask.nii.gz\n"
            "    labels: [" + ",\n      ".join(levels_text) + "]\n")


@pytest.mark.parametrize("text", [laughs(), laughs_in_labels()], ids=["top_level", "in_labels"])
def test_the_study_loader_refuses_a_billion_laughs_at_once(tmp_path, text):
    study = tmp_path / "study.yaml"
    study.write_text(text)
    code = ("import sys\nfrom robustlab.radiomics.study import load_study\n"
            "try:\n    load_study(sys.argv[1])\nexcept ValueError as exc:\n    print(type(exc).__name__, exc)\n")
    # It used to run for minutes: a timeout here is a hang guard, not a speed target.
    result = subprocess.run([sys.executable, "-c", code, str(study)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "more than 1,000,000 values once its aliases are expanded" in result.stdout


def test_the_design_and_its_scanner_files_refuse_a_key_written_twice(tmp_path):
    from robustlab.radiomics.planner import load_design

    design = tmp_path / "design.yaml"
    design.write_text("scanners:\n  a: a.yaml\nscanners:\n  b: b.yaml\n")
    with pytest.raises(safe_yaml.DuplicateKeyError, match=r"design\.yaml: key 'scanners' is written twice"):
        load_design(design)
    (tmp_path / "a.yaml").write_text("field_t: 1.5\nfield_t: 3.0\n")
    design.write_text("scanners:\n  a: a.yaml\nacquisitions: {x: {}}\ncomparisons: [{}]\n")
    with pytest.raises(safe_yaml.DuplicateKeyError, match=r"a\.yaml: key 'field_t' is written twice"):
        load_design(design)


def test_a_parameter_file_and_a_jobs_overrides_refuse_a_key_written_twice(tmp_path):
    from robustlab.pruning.runs import job_overrides
    from robustlab.radiomics.extraction.params import Extraction

    params = tmp_path / "params.yaml"
    params.write_text("setting:\n  binWidth: 25\nsetting:\n  binWidth: 5\n")
    with pytest.raises(safe_yaml.DuplicateKeyError, match=r"params\.yaml: key 'setting' is written twice"):
        Extraction(params).params()
    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "overrides.yaml").write_text("- seed=1\n- &x method.rate=0.2\n" + "- *x\n" * 3)
    assert job_overrides(tmp_path) == {"seed": "1", "method.rate": "0.2"}


def _calls(path: Path) -> list[ast.Call]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)]


def _name(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        return f"{func.value.id}.{func.attr}"
    return ""


def test_no_yaml_is_read_around_safe_yaml_and_no_checkpoint_unpickled():
    """The code (packages, scripts, benches) holds no ``yaml.load``/``yaml.safe_load``/
    ``OmegaConf.load`` outside ``safe_yaml``, and the whole tree (tests too) no ``torch.load``
    without ``weights_only=True``. (Tests read the YAML the project wrote as they like.)"""
    unsafe_yaml, unsafe_torch, files = [], [], 0
    for tree in TREES:
        for path in sorted(tree.rglob("*.py")):
            files += 1
            for call in _calls(path):
                name, where = _name(call), f"{path.relative_to(REPO)}:{call.lineno}"
                if name in ("yaml.load", "yaml.safe_load", "yaml.full_load", "yaml.unsafe_load", "yaml.load_all",
                            "yaml.safe_load_all", "OmegaConf.load") and path != SAFE_YAML and tree.name != "tests":
                    unsafe_yaml.append(where)
                if name == "torch.load" and not any(
                        k.arg == "weights_only" and isinstance(k.value, ast.Constant) and k.value.value is True
                        for k in call.keywords):
                    unsafe_torch.append(where)
    assert files > 200
    assert unsafe_yaml == [], f"read YAML with robustlab.common.safe_yaml.load: {unsafe_yaml}"
    assert unsafe_torch == [], f"load checkpoints with torch.load(..., weights_only=True): {unsafe_torch}"
