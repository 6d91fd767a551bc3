"""Reading run folders: the runs of a sweep, their overrides, tables and per-image values.

A run folder (one sweep job: a seed, a model, a pruning method) holds ``metrics.csv``, a table
per evaluation suite (``interpretability.csv``, ``discovery.csv``, ``alignment.csv``...),
``per_image/<table>_step{k:03d}.parquet`` and, for a Hydra job, ``.hydra/overrides.yaml``.
:func:`sweet_spot_analysis` gathers runs, tests them (:mod:`robustlab.pruning.sweetspot`) and
writes the sweet-spot tables.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from robustlab.common.errors import ConfigError, DataError
from robustlab.common.io import read_table, write_table
from robustlab.pruning.sweetspot import (
    CURVE_KEYS,
    SweetSpotOptions,
    find_sweet_spots,
    summarize_by_model,
    summarize_sweet_spots,
)

log = logging.getLogger(__name__)

_STEP_FILE = re.compile(r"^(?P<table>.+)_step(?P<step>\d+)\.parquet$")


def expand_run_dirs(paths: Iterable[str | Path]) -> list[Path]:
    """Run directories from run directories and/or Hydra multirun directories.

    A run directory holds ``metrics.csv`` (or ``.hydra/overrides.yaml`` for a job that wrote
    nothing yet); a multirun directory holds its jobs below it, each a folder with
    ``.hydra/overrides.yaml`` (so that an ``aggregate/`` folder of gathered tables is not a
    job; the default job folder is ``<model>-<method>-seed<seed>/<overrides>``), listed in
    natural order.

    Raises:
        FileNotFoundError: a path does not exist or holds no run.
    """
    out: list[Path] = []
    for path in map(Path, paths):
        if not path.is_dir():
            raise FileNotFoundError(f"{path} is not a directory (expected a run or multirun directory)")
        if _is_run(path):
            out.append(path)
            continue
        found = (p.parent.parent for p in path.rglob("overrides.yaml") if p.parent.name == ".hydra")
        jobs = sorted((job for job in found if path in job.parents), key=lambda p: _natural_key(p.relative_to(path)))
        if not jobs:
            raise FileNotFoundError(f"{path} holds no run: no metrics.csv or .hydra/overrides.yaml in it or its "
                                    "subfolders")
        out.extend(jobs)
    return out


def _is_run(path: Path) -> bool:
    return (path / "metrics.csv").exists() or (path / ".hydra" / "overrides.yaml").exists()


def _natural_key(path: Path) -> list[Any]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.as_posix())]


def job_overrides(run_dir: Path) -> dict[str, str]:
    """The command-line overrides of a Hydra job (``.hydra/overrides.yaml``), as strings.

    ``hydra.*`` overrides and deletions (``~key``) are left out; a ``+``/``++`` prefix is dropped.
    """
    path = Path(run_dir) / ".hydra" / "overrides.yaml"
    if not path.exists():
        return {}
    from robustlab.common import safe_yaml

    items = safe_yaml.load(path) or []
    if not isinstance(items, list):
        raise ValueError(f"{path}: expected a YAML list of key=value overrides; got {type(items).__name__}")
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = str(item).partition("=")
        if key.startswith("~"):
            continue  # a deletion (~key or ~key=value) sets no value
        if not sep:
            raise ValueError(f"{path}: override {item!r} is not of the form key=value")
        key = key.lstrip("+")
        if not key.startswith("hydra"):
            out[key] = value
    return out


def read_run_table(path: Path, required: Sequence[str] = ()) -> pd.DataFrame:
    """A run's CSV table; a file that is not one names itself (and never quotes a whole header).

    Raises:
        DataError: the file does not parse as a comma-separated table (the parser's reason),
            is delimited by ``;`` or tabs, or lacks a ``required`` column.
    """
    try:
        df = read_table(path)
    except (ValueError, UnicodeDecodeError) as exc:  # pandas' ParserError is a ValueError
        reason = " ".join(str(exc).split())[:160]
        raise DataError(f"{path}: cannot be read as a comma-separated table ({reason}); "
                        "fix or remove the file") from exc
    missing = [c for c in required if c not in df.columns]
    if missing:
        header = ",".join(map(str, df.columns))
        shown = header if len(header) <= 60 else header[:60] + "..."
        sep = next((d for d in (";", "\t") if len(df.columns) == 1 and d in header), None)
        hint = (f"its header is one column holding {sep!r} ({shown!r}): the file is {sep!r}-delimited; "
                "robustlab reads comma-separated tables" if sep else f"its columns: {shown}")
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}; {hint}")
    return df


def curve_models(run_dirs: Sequence[Path]) -> dict[str, str]:
    """Run -> the model name its curves carry: the model's name, and where runs of the same model
    and pruning method (seed aside) recorded other settings in ``sweep_spec.json``, those
    settings (``resnet18 [method.rate=0.5]``): runs of other settings are never one curve.

    A run without ``sweep_spec.json`` keeps its model name.
    """
    specs = {str(r): _flat_spec(Path(r)) for r in run_dirs}
    groups: dict[tuple[str, str], list[str]] = {}
    for run, spec in specs.items():
        if spec:
            key = (str(spec.get("label") or spec.get("model.name")), str(spec.get("method")))
            groups.setdefault(key, []).append(run)
    names = {}
    for (model, method), runs in groups.items():
        keys = sorted({k for r in runs for k in specs[r] if k not in _NOT_CURVE})
        differ = [k for k in keys if len({repr(specs[r].get(k)) for r in runs}) > 1]
        if differ:
            log.warning("runs of %s / %s differ in %s: their curves are kept apart", model, method, ", ".join(
                _config_key(k) for k in differ))
        for r in runs:
            if differ:
                names[r] = f"{model} [{', '.join(f'{_config_key(k)}={specs[r].get(k)}' for k in differ)}]"
    return names


#: Settings of ``sweep_spec.json`` that do not change a curve (the seed is the replicate).
_NOT_CURVE = ("seed", "device", "label", "data.cache", "data.cache_dir", "data.check_images")
#: ``sweep_spec.json`` names -> the config keys a user writes.
_CONFIG_KEYS = {"rate": "method.rate", "steps": "method.steps", "scope": "method.scope",
                "method_options": "method.options", "retrain_epochs": "train.retrain_epochs",
                "suites": "eval.suites", "eval_batch_size": "eval.batch_size",
                "eval_max_images": "eval.max_images", "method": "method.name"}


def _config_key(key: str) -> str:
    head, _, rest = key.partition(".")
    return _CONFIG_KEYS.get(head, head) + (f".{rest}" if rest else "")


def _flat_spec(run: Path) -> dict[str, Any]:
    """A run's ``sweep_spec.json`` as ``dotted.key -> value`` (empty without one)."""
    import json

    path = run / "sweep_spec.json"
    if not path.is_file():
        return {}
    try:
        spec = json.loads(path.read_text())
    except ValueError as exc:
        raise DataError(f"{path}: not a JSON object ({exc}); fix or remove the file") from exc
    flat: dict[str, Any] = {}
    stack = [("", spec)]
    while stack:
        prefix, node = stack.pop()
        for key, value in (node.items() if isinstance(node, dict) else ()):
            name = f"{prefix}{key}"
            if isinstance(value, dict) and name != "suites" and value:
                stack.append((f"{name}.", value))
            else:
                flat[name] = value
    return flat


def load_table(run_dirs: Sequence[Path], name: str, add_overrides: bool = True) -> pd.DataFrame:
    """One table (``metrics``, ``alignment``...) of every run that has it, with a ``run`` column.

    Each row also carries its job's overrides as columns (:func:`job_overrides`); an override
    whose name is already a column of the table is added as ``override.<name>``. The ``model``
    column names the run's settings where runs of one model differ (:func:`curve_models`).

    Returns:
        The concatenated table (empty when no run has it).
    """
    frames = []
    models = curve_models(run_dirs)
    for run in run_dirs:
        path = Path(run) / f"{name}.csv"
        if not path.exists():
            continue
        df = read_run_table(path, ("step",))
        if df.empty:
            continue
        if str(run) in models and "model" in df.columns:
            df["model"] = models[str(run)]
        df.insert(0, "run", str(run))
        if add_overrides:
            for key, value in job_overrides(run).items():
                df[key if key not in df.columns else f"override.{key}"] = value
        frames.append(df)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _run_identity(run: Path, model: str | None = None) -> dict[str, Any]:
    """model (``model`` when given: :func:`curve_models`), prune_method, seed and the step ->
    sparsity map of a run, from its metrics.csv."""
    metrics = read_run_table(run / "metrics.csv", ("step", "sparsity"))
    first = metrics.iloc[0]
    overrides = job_overrides(run)
    ident: dict[str, Any] = {k: (str(first[k]) if k in metrics.columns else overrides.get(k, run.name))
                             for k in ("model", "prune_method")}
    if model is not None:
        ident["model"] = model
    ident["seed"] = int(first["seed"]) if "seed" in metrics.columns else int(overrides.get("seed", 0))
    ident["sparsity"] = dict(zip(metrics["step"].astype(int), metrics["sparsity"].astype(float), strict=False))
    return ident


def load_per_image(run_dirs: Sequence[Path]) -> pd.DataFrame:
    """Every per-image value of every run, in one long table.

    Reads ``per_image/<table>_step{k:03d}.parquet`` (``index, [method,] metric, [level,] value``)
    of the steps finished in ``metrics.csv``; a missing ``method`` is ``""`` and a missing
    ``level`` is 0.

    Returns:
        Columns ``run, model, prune_method, seed, step, sparsity, table, method, metric, level,
        index, value``.
    """
    frames = []
    models = curve_models(run_dirs)
    for run in map(Path, run_dirs):
        folder = run / "per_image"
        if not (run / "metrics.csv").exists() or not folder.is_dir():
            continue
        ident = _run_identity(run, models.get(str(run)))
        for path in sorted(folder.glob("*_step*.parquet")):
            match = _STEP_FILE.match(path.name)
            if match is None:
                continue
            df = pd.read_parquet(path)
            missing = [c for c in ("index", "metric", "value") if c not in df.columns]
            if missing:
                raise ValueError(f"{path}: missing column(s) {', '.join(missing)}; expected index, [method,] "
                                 "metric, [level,] value")
            step = int(match["step"])
            if step not in ident["sparsity"]:
                continue  # an unfinished step: its metrics.csv row is written last
            out = pd.DataFrame({
                "run": str(run), "model": ident["model"], "prune_method": ident["prune_method"],
                "seed": ident["seed"], "step": step, "sparsity": ident["sparsity"][step],
                "table": match["table"],
                "method": df["method"].astype(str) if "method" in df.columns else "",
                "metric": df["metric"].astype(str),
                "level": pd.to_numeric(df["level"], errors="coerce").fillna(0.0) if "level" in df.columns else 0.0,
                "index": df["index"].astype(np.int64), "value": df["value"].astype(np.float64),
            })
            frames.append(out)
    if not frames:
        return pd.DataFrame(columns=["run", *CURVE_KEYS[:2], "seed", "step", "sparsity", *CURVE_KEYS[2:], "index",
                                     "value"])
    return pd.concat(frames, ignore_index=True)



def sweet_spot_config(run_dirs: Sequence[Path]) -> SweetSpotOptions:
    """The ``sweetspot`` section the runs were made with (their ``.hydra/config.yaml``), bound.

    Runs without one (or without a Hydra record) give the defaults; where runs differ, the
    first one's is used and a warning names the other.

    Raises:
        ConfigError: the section does not bind (names the file and the key).
    """
    from robustlab.common.config import from_dict
    from robustlab.common.safe_yaml import load as load_yaml_file

    found: list[tuple[Path, SweetSpotOptions]] = []
    for run in map(Path, run_dirs):
        path = run / ".hydra" / "config.yaml"
        section = (load_yaml_file(path) or {}).get("sweetspot") if path.is_file() else None
        if section is not None:
            try:
                found.append((path, from_dict(SweetSpotOptions, section, "sweetspot")))
            except ConfigError as exc:
                raise ConfigError(f"{path}: {exc}") from exc
    for path, other in found[1:]:
        if other != found[0][1]:
            log.warning("%s: sweetspot settings differ from %s's; the first are used", path, found[0][0])
            break
    return found[0][1] if found else SweetSpotOptions()


def sweet_spot_analysis(run_dirs: Sequence[str | Path], out_dir: str | Path,
                        options: SweetSpotOptions | None = None,
                        directions: Sequence[tuple[str, str, str, int]] | None = None
                        ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Gather runs, test every curve and write the sweet-spot tables.

    Writes ``sweet_spots.csv`` (one row per curve and sparsity), ``sweet_spots_summary.csv``
    (one row per curve) and ``sweet_spots_by_model.csv`` (per architecture and size), each also
    as Parquet.

    Args:
        run_dirs: run and/or multirun directories (:func:`expand_run_dirs`).
        out_dir: where the tables (CSV and Parquet) are written.
        options: the test's settings (default :class:`SweetSpotOptions`).
        directions: as :func:`robustlab.pruning.sweetspot.find_sweet_spots`.

    Returns:
        ``(sweet_spots, summary)``.
    """
    options = options or SweetSpotOptions()
    runs = expand_run_dirs(run_dirs)
    sweet = find_sweet_spots(load_per_image(runs), directions=directions, alpha=options.alpha,
                             holm_scope=options.holm_scope, min_pairs=options.min_pairs, margins=options.margins())
    summary = summarize_sweet_spots(sweet, load_table(runs, "metrics", add_overrides=False))
    out_dir = Path(out_dir)
    write_table(sweet, out_dir / "sweet_spots.csv")
    write_table(summary, out_dir / "sweet_spots_summary.csv")
    write_table(summarize_by_model(summary), out_dir / "sweet_spots_by_model.csv")
    return sweet, summary
