#!/usr/bin/env python
"""Compare two run directories file by file; print every difference, exit 1 on any.

    python scripts/compare_runs.py RUN_A RUN_B [--equate PATH_A PATH_B ...]

Both trees are walked (symbolic links to folders followed, e.g. a radiomics run's ``phantom``;
a link back to a folder above it, a loop, is refused in one line with exit status 2); a file
present on one side only is a difference. Each file is compared by kind:

- tables (``.csv``, ``.parquet``): equal columns, dtypes and values (NaN equals NaN), after
  dropping the columns that measure time (``*_seconds``, ``images_per_second``, ``latency_ms``);
  a table that cannot be read is a difference naming why;
- JSON: equal after dropping what records the moment or the machine rather than the result
  (``run_info.json``'s times, command, working directory, git state, platform, device, and
  the versions of the distributions it records; its config hash too when the two runs'
  ``.hydra/config.yaml`` are equal up to the runs' paths, which the hash covers);
- text (Markdown, HTML, YAML): equal text;
- ``.pt`` (torch checkpoints): equal contents, tensor by tensor, timings left out (the bytes
  hold the name of the temporary file the checkpoint was written to); read with
  ``torch.load(weights_only=True)``, so a file holding other objects runs no code and is a
  difference;
- ``.nii.gz``: equal decompressed bytes; anything else (PNG): equal bytes.

In every text, the absolute paths of the two runs (and of their parent folders, and each pair
given with ``--equate``) are replaced by placeholders first, so that two runs written to
different places compare equal. Not compared: ``*.log`` (timestamps) and ``.hydra/hydra.yaml``
(Hydra's record of its own runtime: working directory, output directory, versions).
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

TIMING_COLUMNS = ("images_per_second", "latency_ms")
VOLATILE_RUN_INFO = ("start_time", "end_time", "command", "cwd", "git", "platform", "device",
                     "versions")
# hydra.yaml, and the run folder's lock and owner records (robustlab.common.runfolder)
SKIP_NAMES = ("hydra.yaml", ".robustlab.lock", ".robustlab-run.json")
SKIP_SUFFIXES = (".log",)


class LinkLoopError(OSError):
    """A symbolic link to a folder that holds it: following it would never end."""


def walk(root: Path) -> Iterator[str]:
    """Relative paths of every file under ``root`` (links to folders followed, loops refused).

    Raises:
        LinkLoopError: a link to a folder on its own path (the folder above it, or itself).
    """
    on_path: dict[str, list[tuple[int, int]]] = {}
    for folder, dirs, files in os.walk(root, followlinks=True):
        here = os.stat(folder)
        parent = on_path.get(os.path.dirname(folder), [])
        if (here.st_dev, here.st_ino) in parent:
            raise LinkLoopError(f"{folder} is a link to a folder above it ({os.path.realpath(folder)}): a loop; "
                                "remove the link or compare the folder it points to")
        on_path[folder] = [*parent, (here.st_dev, here.st_ino)]
        dirs.sort()
        for name in sorted(files):
            rel = (Path(folder) / name).relative_to(root).as_posix()
            if name in SKIP_NAMES or name.endswith(SKIP_SUFFIXES) or "/.tmp" in rel:
                continue
            yield rel


class Normaliser:
    """Replaces the absolute paths of one side by placeholders (longest first)."""

    def __init__(self, pairs: list[tuple[str, str]]):
        self.pairs = sorted(pairs, key=lambda p: -len(p[0]))

    def __call__(self, text: str) -> str:
        for path, mark in self.pairs:
            text = text.replace(path, mark)
        return text


def sides(a: Path, b: Path, equate: list[list[str]]) -> tuple[Normaliser, Normaliser]:
    left = [(str(a), "<run>"), (str(a.parent), "<parent>")]
    right = [(str(b), "<run>"), (str(b.parent), "<parent>")]
    for i, (pa, pb) in enumerate(equate):
        left.append((str(Path(pa).resolve()), f"<equated{i}>"))
        right.append((str(Path(pb).resolve()), f"<equated{i}>"))
    return Normaliser(left), Normaliser(right)


def _timing(column: str) -> bool:
    return column == "seconds" or column.endswith("_seconds") or column in TIMING_COLUMNS


def compare_tables(pa: Path, pb: Path, na: Normaliser, nb: Normaliser) -> str | None:
    import numpy as np
    import pandas as pd

    if pa.read_bytes() == pb.read_bytes():
        return None
    read = pd.read_parquet if pa.suffix == ".parquet" else pd.read_csv
    try:
        if pa.suffix == ".csv" and na(pa.read_text()) == nb(pb.read_text()):
            return None
        x, y = read(pa), read(pb)
    except (ValueError, OSError) as exc:  # pandas' and pyarrow's parse errors are ValueErrors
        return f"cannot be read as a table ({type(exc).__name__}: {str(exc).strip().splitlines()[0][:200]})"
    x = x[[c for c in x.columns if not _timing(str(c))]]
    y = y[[c for c in y.columns if not _timing(str(c))]]
    if list(x.columns) != list(y.columns):
        return f"columns differ: {list(x.columns)} vs {list(y.columns)}"
    if x.shape != y.shape:
        return f"shape {x.shape} vs {y.shape}"
    for col in x.columns:
        u, v = x[col], y[col]
        if u.dtype != v.dtype:
            return f"column {col!r}: dtype {u.dtype} vs {v.dtype}"
        if u.dtype == object:
            u = u.map(lambda s: na(s) if isinstance(s, str) else s)
            v = v.map(lambda s: nb(s) if isinstance(s, str) else s)
            same = (u == v) | (u.isna() & v.isna())
        else:
            a, b = u.to_numpy(), v.to_numpy()
            same = (a == b) | (pd.isna(a) & pd.isna(b)) if a.dtype.kind in "fc" else a == b
        if not bool(np.all(same)):
            rows = np.flatnonzero(~np.asarray(same))
            first = rows[0]
            x0, y0 = (s.item() if hasattr(s, "item") else s for s in (u.iloc[first], v.iloc[first]))
            return f"column {col!r}: {len(rows)} row(s) differ, first row {first}: {x0!r} vs {y0!r}"
    return None


def _clean_json(obj: Any, norm: Normaliser, run_info: bool) -> Any:
    if isinstance(obj, dict):
        return {k: _clean_json(v, norm, False) for k, v in obj.items()
                if not (run_info and k in VOLATILE_RUN_INFO)}
    if isinstance(obj, list):
        return [_clean_json(v, norm, False) for v in obj]
    if isinstance(obj, str):
        return norm(obj)
    if isinstance(obj, float) and math.isnan(obj):
        return "NaN"
    return obj


def _first_difference(x: Any, y: Any, where: str = "") -> str:
    if isinstance(x, dict) and isinstance(y, dict):
        for key in sorted(set(x) | set(y), key=str):
            if x.get(key, "<absent>") != y.get(key, "<absent>"):
                return _first_difference(x.get(key, "<absent>"), y.get(key, "<absent>"), f"{where}.{key}")
    if isinstance(x, list) and isinstance(y, list) and len(x) == len(y):
        for i, (u, v) in enumerate(zip(x, y, strict=True)):
            if u != v:
                return _first_difference(u, v, f"{where}[{i}]")
    return f"{where or '<top>'}: {x!r:.200} vs {y!r:.200}"


def compare_json(pa: Path, pb: Path, na: Normaliser, nb: Normaliser) -> str | None:
    run_info = pa.name == "run_info.json"
    x = _clean_json(json.loads(pa.read_text()), na, run_info)
    y = _clean_json(json.loads(pb.read_text()), nb, run_info)
    if run_info and _same_config(pa.parent, pb.parent, na, nb):
        # the hash of the resolved config, which holds the runs' own paths: equal configs up to
        # those paths are the same config
        x.pop("config_hash", None)
        y.pop("config_hash", None)
    return None if x == y else _first_difference(x, y)


def _same_config(a: Path, b: Path, na: Normaliser, nb: Normaliser) -> bool:
    ca, cb = a / ".hydra" / "config.yaml", b / ".hydra" / "config.yaml"
    return ca.is_file() and cb.is_file() and compare_text(ca, cb, na, nb) is None


def compare_text(pa: Path, pb: Path, na: Normaliser, nb: Normaliser) -> str | None:
    x, y = na(pa.read_text()).splitlines(), nb(pb.read_text()).splitlines()
    if x == y:
        return None
    for i, (u, v) in enumerate(zip(x, y, strict=False)):
        if u != v:
            return f"line {i + 1}: {u[:160]!r} vs {v[:160]!r}"
    return f"{len(x)} vs {len(y)} lines"


def compare_bytes(pa: Path, pb: Path) -> str | None:
    x, y = pa.read_bytes(), pb.read_bytes()
    if pa.name.endswith(".gz"):
        x, y = gzip.decompress(x), gzip.decompress(y)
    return None if x == y else f"bytes differ ({len(x)} vs {len(y)} bytes)"


def _same_object(x: Any, y: Any) -> bool:
    import torch

    if isinstance(x, torch.Tensor) or isinstance(y, torch.Tensor):
        return (isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor) and x.dtype == y.dtype
                and x.shape == y.shape and bool(torch.equal(x, y)))
    if isinstance(x, dict) and isinstance(y, dict):
        return list(x) == list(y) and all(_same_object(x[k], y[k]) for k in x if not _timing(str(k)))
    if isinstance(x, (list, tuple)) and isinstance(y, (list, tuple)):
        return type(x) is type(y) and len(x) == len(y) and all(map(_same_object, x, y))
    return bool(x == y)


def compare_checkpoints(pa: Path, pb: Path) -> str | None:
    import torch

    try:
        x = torch.load(pa, map_location="cpu", weights_only=True)
        y = torch.load(pb, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch.load raises many types for a file it refuses
        reason = str(exc).strip().splitlines()[0][:200]
        return f"not a checkpoint of tensors and plain containers ({type(exc).__name__}: {reason})"
    return None if _same_object(x, y) else "checkpoint contents differ"


TEXT = (".md", ".html", ".yaml", ".yml", ".txt")


def compare_file(rel: str, a: Path, b: Path, na: Normaliser, nb: Normaliser) -> str | None:
    try:
        return _compare_file(a / rel, b / rel, na, nb)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:  # a dangling link, a garbled file
        return f"cannot be read ({type(exc).__name__}: {str(exc).strip().splitlines()[0][:200]})"


def _compare_file(pa: Path, pb: Path, na: Normaliser, nb: Normaliser) -> str | None:
    if pa.suffix in (".csv", ".parquet"):
        return compare_tables(pa, pb, na, nb)
    if pa.suffix == ".json":
        return compare_json(pa, pb, na, nb)
    if pa.suffix in TEXT:
        return compare_text(pa, pb, na, nb)
    if pa.suffix == ".pt":
        return compare_checkpoints(pa, pb)
    return compare_bytes(pa, pb)


def compare_runs(a: Path, b: Path, equate: list[list[str]] | None = None) -> list[str]:
    """Every difference between run directories ``a`` and ``b``, one line each."""
    a, b = Path(a).resolve(), Path(b).resolve()
    na, nb = sides(a, b, equate or [])
    left, right = set(walk(a)), set(walk(b))
    out = [f"only in A: {rel}" for rel in sorted(left - right)]
    out += [f"only in B: {rel}" for rel in sorted(right - left)]
    for rel in sorted(left & right):
        diff = compare_file(rel, a, b, na, nb)
        if diff is not None:
            out.append(f"{rel}: {diff}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument("--equate", nargs=2, action="append", default=[], metavar=("PATH_A", "PATH_B"),
                        help="two paths (e.g. the runs' cache folders) that name the same thing")
    args = parser.parse_args(argv)
    for path in (args.a, args.b):
        if not path.is_dir():
            parser.error(f"{path} is not a directory")
    try:
        diffs = compare_runs(args.a, args.b, args.equate)
    except LinkLoopError as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    n_files = len(set(walk(args.a.resolve())) | set(walk(args.b.resolve())))
    for line in diffs:
        print(line)
    print(f"{n_files} file(s) compared; {len(diffs)} difference(s)")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
