"""Every command in the docs runs as written: the code blocks of README.md and docs/ are run here.

Each fenced block in a language that runs (bash, sh, console, python) carries a decision in an
HTML comment on the line before its fence (invisible on the rendered page):

- ``<!-- docs-test: skip: REASON -->``: not run here (a GPU, a cluster, ImageNet...), with why;
- ``<!-- docs-test: checked by tests/PATH.py -->``: code that the named test checks (that file must
  name the page);
- ``<!-- docs-test: run -->``, optionally followed by YAML lines before the closing ``-->``:

  ``tiny: {PROGRAM: [ARG, ...]}``
      tiny-data overrides appended to every call of PROGRAM in the block (a bash function of that
      name runs the program with the block's own arguments, then these); the command is
      otherwise run as written, by bash, one logical line (``\\`` continuations joined) at a time;
  ``skip: {TEXT: REASON}``
      commands of the block that contain TEXT are not run, for REASON;
  ``needs: {TEXT: PATH}``
      commands that contain TEXT run only where PATH (relative to the repository root) exists;
  ``long: {TEXT: HOW LONG}``
      commands that contain TEXT take minutes: ``make docs-test`` runs them (it sets
      ``ROBUSTLAB_DOCS_LONG=1``), ``make test`` does not;
  ``expect: {PATH: [ITEM, ...]}``
      after the block: PATH exists (a glob; ``{run}`` is every run directory the block's last
      Hydra run printed, ``{run:TEXT}`` those of its command containing TEXT) and each ITEM is
      a file in it (a folder), a column of it (a ``.csv``) or a text in it (any other file);
  ``stdout: [TEXT, ...]``: texts the block's output contains;
  ``check: NAME``: a function of this module, ``CHECKS[NAME]``, asserts more;
  ``cwd: PATH``: the folder the block runs in, relative to the working folder;
  ``varies: [PREFIX, ...]``: in a ``console`` block (``$ `` lines are commands, the lines after
      them their output), output lines starting with PREFIX are measured, not compared; every
      other line shown must be a line of the real output.

All blocks run in one working folder that stands for a checkout (``conf``, ``tests``, ``scripts``
and ``bench`` linked from this one), page after page, blocks in page order (a block first runs the
earlier blocks of its page). Console scripts come from the ``[project.scripts]`` tables of
``packages/*/pyproject.toml``, so this tree's code runs whatever the environment installed.
A failure names the page, the line and the command. ``python tests/e2e/test_docs_commands.py``
prints the inventory: blocks found, run, skipped and why.
"""

from __future__ import annotations

import glob
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
RUNNABLE = {"bash", "sh", "shell", "console", "python"}
MARKER = re.compile(r"<!--\s*docs-test:\s*(?P<head>[^\n]*?)\s*(?:\n(?P<body>.*?))?\s*-->", re.S)
KEYS = {"tiny", "skip", "needs", "long", "expect", "stdout", "check", "cwd", "varies", "timeout"}
# `make docs-test` sets it: the commands a marker calls long run too
LONG = os.environ.get("ROBUSTLAB_DOCS_LONG") == "1"
LINKED = ("conf", "tests", "scripts", "bench")
RUN_DIR = re.compile(r"run directory: (\S+)")


@dataclass
class Block:
    """One fenced block of a page and the decision its marker states."""

    page: Path
    line: int  # of the opening fence, 1-based
    lang: str
    text: str
    decision: str = ""  # run, skip, checked, or "" (no marker)
    reason: str = ""
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(REPO)}:{self.line}"

    def commands(self) -> list[tuple[int, str, str]]:
        """(line, command, expected output) of each command: a logical line of a shell block,
        a ``$ `` line and the output shown after it in a console block, the whole of a Python block."""
        if self.lang == "python":
            return [(self.line + 1, self.text, "")]
        out: list[tuple[int, str, str]] = []
        lines = self.text.split("\n")
        i = 0
        while i < len(lines):
            start, raw = i, lines[i]
            if self.lang == "console":
                if not raw.startswith("$ "):
                    if out:
                        out[-1] = (out[-1][0], out[-1][1], out[-1][2] + raw + "\n")
                    i += 1
                    continue
                raw = raw[2:]
            while raw.endswith("\\") and i + 1 < len(lines):
                i += 1
                raw = raw[:-1] + " " + lines[i].strip()
            i += 1
            if raw.strip() and not raw.strip().startswith("#"):
                out.append((self.line + 1 + start, raw.strip(), ""))
        return out


def parse_page(page: Path) -> list[Block]:
    """Every fenced block of ``page``, with the docs-test marker just above its fence, if any."""
    lines = page.read_text(encoding="utf-8").split("\n")
    blocks, i = [], 0
    while i < len(lines):
        fence = re.match(r"^(\s*)(```+)\s*(\S*)", lines[i])
        if not fence:
            i += 1
            continue
        indent, ticks = fence.group(1), fence.group(2)
        end = next(j for j in range(i + 1, len(lines)) if lines[j].strip() == ticks)
        body = "\n".join(line[len(indent):] if line.startswith(indent) else line for line in lines[i + 1:end])
        block = Block(page, i + 1, fence.group(3).lower(), body)
        above = i - 1
        while above >= 0 and not lines[above].strip():
            above -= 1
        if above >= 0 and lines[above].rstrip().endswith("-->"):
            start = next((k for k in range(above, -1, -1) if "<!--" in lines[k]), above)
            marker = MARKER.search("\n".join(lines[start:above + 1]))
            if marker:
                read_marker(block, marker.group("head"), marker.group("body"))
        blocks.append(block)
        i = end + 1
    return blocks


def read_marker(block: Block, head: str, body: str | None) -> None:
    decision, _, rest = head.partition(":") if head.startswith("skip") else head.partition(" ")
    if head.startswith("checked by "):
        decision, rest = "checked", head.removeprefix("checked by ")
    block.decision, block.reason = decision.strip(), rest.strip()
    if decision == "run" and body:
        options = yaml.safe_load(body) or {}
        if not isinstance(options, dict) or set(options) - KEYS:
            raise ValueError(f"{block.where}: the docs-test marker's keys must be among {sorted(KEYS)}")
        block.options = options


def all_blocks() -> list[Block]:
    return [b for page in PAGES for b in parse_page(page)]


def inventory(blocks: list[Block]) -> str:
    """Blocks found, blocks and commands run, skipped (and why), checked elsewhere."""
    runnable = [b for b in blocks if b.lang in RUNNABLE]
    lines = [f"{len(blocks)} code blocks in {len(PAGES)} pages; {len(runnable)} in a language that runs "
             f"({len(blocks) - len(runnable)} others: config files, layouts, outputs)"]
    commands = [(b, line, c, command_skip(b, c))
                for b in runnable if b.decision == "run" for line, c, _ in b.commands()]
    lines.append(f"commands in the blocks marked run: {len(commands)}, {sum(not why for *_, why in commands)} run here")
    for kind in ("run", "skip", "checked"):
        chosen = [b for b in runnable if b.decision == kind]
        lines.append(f"{kind}: {len(chosen)} block(s)")
        if kind == "run":
            lines += [f"  {b.page.relative_to(REPO)}:{line}: {'skipped: ' + why if why else 'runs'}: {shorten(c)}"
                      for b, line, c, why in commands]
        else:
            lines += [f"  {b.where}: {b.reason}" for b in chosen]
    return "\n".join(lines)


def shorten(command: str, width: int = 110) -> str:
    command = " ".join(command.split())
    return command if len(command) <= width else command[:width - 3] + "..."


def command_skip(block: Block, command: str) -> str:
    """Why the block's marker keeps ``command`` from running here ('' when it runs)."""
    for text, reason in (block.options.get("skip") or {}).items():
        if text in command:
            return str(reason)
    for text, path in (block.options.get("needs") or {}).items():
        if text in command and not (REPO / path).exists():
            return f"needs {path}, absent here"
    for text, how_long in (block.options.get("long") or {}).items():
        if text in command and not LONG:
            return f"long ({how_long}): make docs-test runs it"
    return ""


# ------------------------------------------------------------------------------------- running

def console_scripts(bin_dir: Path) -> None:
    """One executable per ``[project.scripts]`` entry of the packages, running this tree's code."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    for pyproject in REPO.glob("packages/*/pyproject.toml"):
        table = re.search(r"^\[project\.scripts\]\n(.*?)(?:^\[|\Z)", pyproject.read_text(), re.M | re.S)
        scripts = table.group(1) if table else ""
        for name, module, func in re.findall(r'^([\w-]+)\s*=\s*"([\w.]+):(\w+)"', scripts, re.M):
            path = bin_dir / name
            path.write_text(f"#!{sys.executable}\nimport sys\nfrom {module} import {func}\nsys.exit({func}())\n")
            path.chmod(0o755)
    # `python` in a docs command is the interpreter of this tree's environment, as after `make`
    python = bin_dir / "python"
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    python.chmod(0o755)


@dataclass
class Result:
    command: str
    line: int
    output: str
    run_dirs: list[Path]


def run_command(block: Block, line: int, command: str, cwd: Path, env: dict[str, str]) -> Result:
    timeout = int(block.options.get("timeout", 300))
    where = f"{block.page.relative_to(REPO)}:{line}"
    if block.lang == "python":
        args = [sys.executable, "-c", command]
    else:
        wrappers = "".join(f'{prog}() {{ command {prog} "$@" {" ".join(map(quote, extra))}; }}\n'
                           for prog, extra in (block.options.get("tiny") or {}).items())
        args = ["bash", "-c", f"set -o pipefail\n{wrappers}{command}"]
    try:
        proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{where}: `{shorten(command, 10_000)}` ran past {timeout} s")
    output = proc.stdout + proc.stderr
    if proc.returncode != 0:
        pytest.fail(f"{where}: `{shorten(command, 10_000)}` exited {proc.returncode}:\n{output[-3000:]}")
    return Result(command, line, output, [Path(cwd, p) for p in RUN_DIR.findall(output)])


def quote(arg: str) -> str:
    return "'" + str(arg).replace("'", "'\\''") + "'"


def check_console_output(block: Block, line: int, shown: str, output: str) -> None:
    varies = tuple(block.options.get("varies") or ())
    real = {s.strip() for s in output.splitlines()}
    missing = [s for s in shown.splitlines() if s.strip() and not s.startswith(varies) and s.strip() not in real]
    assert not missing, (f"{block.page.relative_to(REPO)}:{line}: output lines shown on the page but not "
                         f"printed:\n" + "\n".join(missing) + f"\n--- printed:\n{output[-3000:]}")


def resolve(pattern: str, results: list[Result], cwd: Path) -> list[Path]:
    """The paths an ``expect`` key names (``{run}``, ``{run:TEXT}`` and globs expanded)."""
    match = re.match(r"\{run(?::([^}]*))?\}/?(.*)", pattern)
    if not match:
        return [Path(p) for p in sorted(glob.glob(str(cwd / pattern)))]
    text, rest = match.groups()
    ran = [r for r in results if r.run_dirs and (text is None or text in r.command)]
    assert ran, f"no command of the block printed a run directory{f' (containing {text!r})' if text else ''}"
    return [Path(p) for d in ran[-1].run_dirs for p in sorted(glob.glob(str(d / rest)) if rest else [str(d)])]


def check_expect(block: Block, results: list[Result], cwd: Path) -> None:
    for pattern, items in (block.options.get("expect") or {}).items():
        paths = resolve(pattern, results, cwd)
        assert paths, f"{block.where}: the block writes nothing at {pattern}"
        for path in paths:
            if path.is_dir():
                missing = [i for i in items or () if not glob.glob(str(path / i))]
            elif path.suffix == ".csv":
                header = path.read_text(encoding="utf-8").split("\n", 1)[0].split(",")
                missing = [i for i in items or () if i not in header]
            else:
                text = path.read_text(encoding="utf-8", errors="replace")
                missing = [i for i in items or () if str(i) not in text]
            assert not missing, f"{block.where}: {path} lacks {missing}"
    output = "".join(r.output for r in results)
    missing = [s for s in block.options.get("stdout") or () if str(s) not in output]
    assert not missing, f"{block.where}: the output lacks {missing}:\n{output[-3000:]}"


# ------------------------------------------------------------- what some blocks assert beyond files

def check_swin_on_fixtures(results: list[Result], cwd: Path) -> None:
    """pruning-study.md's Swin-V2-T block: one pruning step of torchvision's Swin-V2-T, the
    attribution methods of eval=paper for Swin, LOST on the COCO20k layout, model-vs-human."""
    import pandas as pd

    (run,) = results[-1].run_dirs
    metrics = pd.read_csv(run / "metrics.csv")
    assert metrics["model"].iloc[0] == "tv_swin_v2_t" and metrics["sparsity"].iloc[1] == pytest.approx(0.2, abs=0.01)
    interp = pd.read_csv(run / "interpretability.csv")
    assert set(interp["method"]) == {"swin_attention", "gradcam", "integrated_gradients"}
    assert interp[interp["metric"] == "rma"]["mean"].between(0, 1).all()
    disc = pd.read_csv(run / "discovery.csv")
    assert set(disc["eval_data"]) == {"coco20k-coco_20k_filenames"} and set(disc["method"]) == {"lost", "centred_box"}
    assert (disc["n"] == 2).all()  # of the three listed images, the one with only a crowd is left out
    align = pd.read_csv(run / "alignment.csv")
    assert {"ood_accuracy", "error_consistency"} <= set(align["metric"]) and set(align["step"]) == {0, 1}


def check_plugin_pruning_method(results: list[Result], cwd: Path) -> None:
    """extend.md's pruning method: every step pruned by it, to smoke's sparsities (rate 0.2, 2 steps)."""
    import pandas as pd

    metrics = pd.read_csv(results[-1].run_dirs[0] / "metrics.csv")
    assert set(metrics["prune_method"]) == {"layer_normalised_l1"}
    assert metrics["sparsity"].round(4).tolist() == [0.0, 0.2, 0.36]


def check_plugin_attribution(results: list[Result], cwd: Path) -> None:
    """extend.md's attribution method: the interpretability suite ran it, and only it."""
    import pandas as pd

    interp = pd.read_csv(results[-1].run_dirs[0] / "interpretability.csv")
    assert set(interp["method"]) == {"input_x_gradient"} and set(interp["step"]) == {0, 1, 2}


def check_plugin_suite(results: list[Result], cwd: Path) -> None:
    """extend.md's suite: its table at every step, and its declared directions in the sweet-spot test."""
    import pandas as pd

    run = results[-1].run_dirs[0]
    confidence = pd.read_csv(run / "confidence.csv")
    assert set(confidence["metric"]) == {"entropy", "max_probability"} and set(confidence["step"]) == {0, 1, 2}
    sweet = pd.read_csv(run / "report" / "sweet_spots.csv")
    directions = sweet[sweet["table"] == "confidence"].groupby("metric")["direction"].first().to_dict()
    assert directions == {"entropy": -1, "max_probability": 1}


def check_two_sites_robust_lists(results: list[Result], cwd: Path) -> None:
    """multicentre-study.md's two-site example: the robust lists the page states, 8 features in 2D
    (`repeat` and `sites`) and 684 in 3D (`repeat_3d`)."""
    import pandas as pd

    robust = pd.read_csv(cwd / "two_sites" / "results" / "robust_features.csv")
    assert robust.groupby("family").size().to_dict() == {"2D": 8, "3D": 684}


CHECKS = {"swin_on_fixtures": check_swin_on_fixtures, "two_sites_robust_lists": check_two_sites_robust_lists,
          "plugin_pruning_method": check_plugin_pruning_method, "plugin_attribution": check_plugin_attribution,
          "plugin_suite": check_plugin_suite}


# ---------------------------------------------------------------------------------------- tests

BLOCKS = all_blocks()
RUN_BLOCKS = [b for b in BLOCKS if b.lang in RUNNABLE and b.decision in ("run", "skip")]


def test_every_block_that_runs_states_a_decision(capsys):
    undecided = [f"{b.where} ({b.lang})" for b in BLOCKS if b.lang in RUNNABLE and b.decision not in
                 ("run", "skip", "checked")]
    assert not undecided, "code blocks without a <!-- docs-test: run|skip: why|checked by ... --> marker: " + \
        ", ".join(undecided)
    for b in BLOCKS:
        if b.decision == "skip":
            assert b.reason, f"{b.where}: a skipped block says why"
        if b.decision == "checked":
            test = REPO / b.reason.split("::")[0]
            assert test.is_file() and str(b.page.relative_to(REPO)) in test.read_text(encoding="utf-8"), \
                f"{b.where}: {b.reason} should be a test that names {b.page.relative_to(REPO)}"
        if b.decision == "run":
            commands = [c for _, c, _ in b.commands()]
            stale = [t for key in ("skip", "needs", "long") for t in b.options.get(key) or {}
                     if not any(t in c for c in commands)]
            assert not stale, f"{b.where}: the marker names commands the block does not have: {stale}"
            assert b.options.get("check", next(iter(CHECKS))) in CHECKS, f"{b.where}: no check {b.options['check']!r}"
    with capsys.disabled():
        print("\n" + inventory(BLOCKS))


def test_study_file_examples_compare_only_acquisitions_they_define():
    """A study file shown in the docs (a YAML block with ``acquisitions`` and ``comparisons``)
    names in its comparisons only acquisitions it defines."""
    studies = [(b, yaml.safe_load(b.text)) for b in BLOCKS if b.lang == "yaml"]
    studies = [(b, s) for b, s in studies if isinstance(s, dict) and {"acquisitions", "comparisons"} <= set(s)]
    assert len(studies) >= 2
    for block, study in studies:
        named = set()
        for comparison in study["comparisons"]:
            named |= set(comparison.get("acquisitions") or ())
            pairs = comparison.get("pairs")
            named |= {a for pair in pairs for a in pair} if isinstance(pairs, list) else set()
        undefined = sorted(named - set(study["acquisitions"]))
        assert not undefined, f"{block.where}: comparisons name acquisitions the block does not define: {undefined}"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """The folder the blocks run in (a stand-in checkout) and their environment."""
    root = tmp_path_factory.mktemp("docs-commands")
    for name in LINKED:
        (root / name).symlink_to(REPO / name)
    if (REPO.parent / "shared").is_dir() and not (root.parent / "shared").exists():
        (root.parent / "shared").symlink_to(REPO.parent / "shared")  # ../shared, as beside a checkout
    console_scripts(root.parent / "docs-commands-bin")
    # one torch and BLAS thread per process: on a shared machine two cost more than they gain
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PATH": f"{root.parent / 'docs-commands-bin'}{os.pathsep}{os.environ.get('PATH', '')}"}
    return root, env


_DONE: dict[str, BaseException | None] = {}


def run_block(block: Block, workdir: tuple[Path, dict[str, str]]) -> None:
    """Run the earlier blocks of the page first (once each), then this one."""
    for earlier in RUN_BLOCKS:
        if earlier.page == block.page and earlier.line < block.line and earlier.decision == "run":
            if earlier.where not in _DONE:
                try:
                    execute(earlier, *workdir)
                    _DONE[earlier.where] = None
                except pytest.skip.Exception:
                    _DONE[earlier.where] = None  # nothing of it ran: nothing after it depends on it
                except BaseException as exc:  # noqa: BLE001 - remembered for the blocks after it
                    _DONE[earlier.where] = exc
            if _DONE[earlier.where] is not None:
                pytest.fail(f"{block.where}: an earlier block of the page failed: {earlier.where}")
    try:
        execute(block, *workdir)
        _DONE[block.where] = None
    except pytest.skip.Exception:
        _DONE[block.where] = None
        raise
    except BaseException as exc:
        _DONE[block.where] = exc
        raise


def execute(block: Block, root: Path, env: dict[str, str]) -> None:
    cwd = root / block.options.get("cwd", ".")
    results, skipped = [], []
    for line, command, shown in block.commands():
        why = command_skip(block, command)
        if why:
            skipped.append(f"{block.page.relative_to(REPO)}:{line}: {why}")
            continue
        result = run_command(block, line, command, cwd, env)
        if block.lang == "console":
            check_console_output(block, line, shown, result.output)
        results.append(result)
    if not results:
        pytest.skip("; ".join(skipped))
    check_expect(block, results, cwd)
    if "check" in block.options:
        CHECKS[block.options["check"]](results, cwd)


@pytest.mark.slow
@pytest.mark.parametrize("block", RUN_BLOCKS, ids=lambda b: b.where)
def test_docs_block_runs_as_written(block: Block, workdir):
    if block.decision == "skip":
        pytest.skip(f"{block.where}: {block.reason}")
    run_block(block, workdir)


if __name__ == "__main__":
    print(inventory(BLOCKS))
