"""Sweet spots: sparsities where a metric is better than at the dense step, with bootstrap CIs.

Runs (one sweep job each: a seed, a model, a pruning method) are gathered into one long table
of per-image values, ``model, prune_method, seed, step, sparsity, table, method, metric, level,
index, value``. A *curve* is one ``(model, prune_method, table, method, metric, level)``; its
step 0 is the dense model.

The test, per curve and sparse step ``s`` (Holm across the sparse steps of the curve):

1. ``d`` = direction x (metric at ``s`` - metric at step 0), direction +1 where higher is
   better and -1 where lower is, so ``d > 0`` always means "better than dense".
2. Seeds: with one seed, images are the resampled units. With several seeds (the evaluation
   images are indexed identically in every seed) the bootstrap is hierarchical: seeds are
   resampled, then images within each drawn seed (Davison and Hinkley 1997, sec. 3.8), so the
   interval carries the seed-to-seed variation of training and pruning; percentile intervals.
   (``hierarchical=False``: each image averaged over the seeds, images resampled.)
3. ``d`` is estimated as NaN-mean(sparse) - NaN-mean(dense) over the images (NaN marks a trial
   without a value, e.g. a cue-conflict answer that is neither shape nor texture); images are
   resampled in pairs (dense and sparse together) with
   :func:`robustlab.common.stats.bootstrap_ci` (percentile by default, or BCa).
4. p-value: two-sided, from the bootstrap distribution through its standard error,
   ``p = 2 Phi(-|d| / se*)``, both taken over the finite replicates only (a resample that drew
   no finite value of a step is dropped; ``n_replicates`` counts the rest). A step with fewer
   than ``min_pairs`` images (seed-image pairs) whose dense and sparse values are both finite
   (``n_pairs``) is untestable: p is NaN, and NaN p are outside the Holm family. Holm's adjustment (:func:`robustlab.common.stats.holm`) across
   the curve's sparse steps (``holm_scope="curve"``), or across every test of the report
   (``"report"``: all curves and steps, one family).
5. Sweet spot where the Holm-adjusted p < alpha **and** the bootstrap interval at the level that
   Holm's step-down gives that hypothesis, ``1 - alpha / (m - r + 1)`` for the r-th smallest of
   ``m`` p-values, lies above zero.

References:
    Efron B, Tibshirani RJ (1993). An Introduction to the Bootstrap. Chapman & Hall.
    Holm S (1979). Scand J Stat 6(2):65-70.
    Davison AC, Hinkley DV (1997). Bootstrap Methods and their Application. Cambridge UP.
"""

from __future__ import annotations

import fnmatch
import logging
import re
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from robustlab.common.errors import ConfigError, DataError
from robustlab.common.io import read_table, write_table
from robustlab.common.stats import bootstrap_ci, holm
from robustlab.pruning.suites import suite_tables

log = logging.getLogger(__name__)

CURVE_KEYS = ["model", "prune_method", "table", "method", "metric", "level"]
HOLM_SCOPES = ("curve", "report")
#: Fewest finite (dense, sparse) pairs for a step to be tested; below it the step's p is NaN.
MIN_PAIRS = 5
_STEP_FILE = re.compile(r"^(?P<table>.+)_step(?P<step>\d+)\.parquet$")

#: The directions of the sweep's own table, ``metrics.csv`` (top-1, top-5: higher is better);
#: every suite declares its own when it registers (:func:`robustlab.pruning.suites.register_suite`).
ACCURACY_DIRECTIONS: tuple[tuple[str, str, int], ...] = (("*", "top*", +1),)


def table_directions() -> dict[str, tuple[tuple[str, str, int], ...]]:
    """Table -> its ``(method, metric, direction)`` patterns: accuracy and every registered suite."""
    return {"accuracy": ACCURACY_DIRECTIONS, **suite_tables()}


def metric_direction(table: str, method: str, metric: str,
                     directions: Sequence[tuple[str, str, str, int]] | None = None) -> int:
    """The declared direction of a metric: +1 higher is better, -1 lower is better, 0 untested.

    ``directions`` (``(table, method, metric, direction)`` glob patterns) are searched before
    the directions the metric's suite declared (:func:`table_directions`); the first match
    wins, and a metric that matches nothing is not tested (0).
    """
    for t, m, k, d in directions or []:
        if fnmatch.fnmatchcase(str(table), t) and fnmatch.fnmatchcase(str(method), m) and fnmatch.fnmatchcase(str(metric), k):
            return int(d)
    for m, k, d in table_directions().get(str(table), ()):
        if fnmatch.fnmatchcase(str(method), m) and fnmatch.fnmatchcase(str(metric), k):
            return int(d)
    return 0


# --------------------------------------------------------------------------------------------
# Gathering runs
# --------------------------------------------------------------------------------------------

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
            raise FileNotFoundError(f"{path} holds no run: no metrics.csv or .hydra/overrides.yaml in it or its subfolders")
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
            groups.setdefault((str(spec.get("label") or spec.get("model.name")), str(spec.get("method"))), []).append(run)
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
    ident = {k: (str(first[k]) if k in metrics.columns else overrides.get(k, run.name)) for k in ("model", "prune_method")}
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
                raise ValueError(f"{path}: missing column(s) {', '.join(missing)}; expected index, [method,] metric, [level,] value")
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
        return pd.DataFrame(columns=["run", *CURVE_KEYS[:2], "seed", "step", "sparsity", *CURVE_KEYS[2:], "index", "value"])
    return pd.concat(frames, ignore_index=True)


# --------------------------------------------------------------------------------------------
# The test
# --------------------------------------------------------------------------------------------

def _gain(sample: np.ndarray, axis: int) -> np.ndarray:
    """NaN-mean of every sparse step minus the NaN-mean of the dense step (last axis, index 0)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        means = np.nanmean(sample, axis=axis)
    return means[..., 1:] - means[..., :1]


def _seed_paired_gain(sample: np.ndarray) -> np.ndarray:
    """The gain of ``(..., S, N, C, T)`` values, dense and sparse paired within each seed.

    The dense mean of sparse step ``t`` is taken over the seeds that finished step ``t``
    (a seed with no value at ``t``, a run stopped before it, is left out of that step, its
    dense values included), so an unfinished seed cannot move the baseline of a step it never
    reached: ``gain_t = mean_{s in S_t, i}(x_{s,i,t}) - mean_{s in S_t, i}(x_{s,i,0})``.
    """
    has_step = np.isfinite(sample).any(axis=-3, keepdims=True)  # (..., S, 1, C, T)
    dense = np.where(has_step[..., 1:], sample[..., :1], np.nan)  # (..., S, N, C, T - 1)
    sparse = sample[..., 1:]
    pooled = (*sample.shape[:-4], -1, *sample.shape[-2:-1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return (np.nanmean(sparse.reshape(*pooled, sparse.shape[-1]), axis=-3)
                - np.nanmean(dense.reshape(*pooled, dense.shape[-1]), axis=-3))


def _seed_image_gain(seed: int) -> Any:
    """The gain statistic of a hierarchical bootstrap: seeds drawn by the caller, images here.

    Called on ``(S, N, C, T)`` (the estimate: every seed and image pooled) and on resampled
    seeds ``(B, S, N, C, T)``, where each drawn seed's ``N`` images are drawn again with
    replacement (Davison and Hinkley 1997, sec. 3.8: resample the top level, then within).
    Dense and sparse steps are paired within each seed (:func:`_seed_paired_gain`).
    """
    rng = np.random.default_rng(seed)

    def statistic(sample: np.ndarray, axis: int) -> np.ndarray:
        if axis == 0:
            return _seed_paired_gain(sample)
        b, s, n = sample.shape[:3]
        idx = rng.integers(0, n, size=(b, s, n))
        return _seed_paired_gain(np.take_along_axis(sample, idx[..., None, None], axis=2))

    return statistic


def _bootstrap(x: np.ndarray, alpha: float, n_resamples: int, ci_method: str, seed: int) -> dict[str, np.ndarray]:
    """Bootstrap of the gain over images of ``(N, C, T)``, or seeds then images of ``(S, N, C, T)``.

    Only finite replicates count: a resample that drew no finite value of a step gives a NaN
    replicate, which is dropped from that entry's interval and standard error. The interval
    is BCa (``ci_method="bca"``, images only) where every replicate is finite, otherwise the
    percentile interval of the finite replicates.

    Returns:
        ``estimate``, ``ci_low``, ``ci_high``, ``se`` and ``n_replicates`` (finite replicates),
        each ``(C, T - 1)``.
    """
    if x.ndim == 4:
        # The inner draws come from the statistic, so BCa's jackknife does not apply: percentile.
        res = bootstrap_ci(x, statistic=_seed_image_gain(seed + 1), n_resamples=n_resamples, alpha=alpha,
                           method="percentile", seed=seed, return_distribution=True)
    else:
        res = bootstrap_ci(x, statistic=_gain, n_resamples=n_resamples, alpha=alpha, method=ci_method, seed=seed,
                           return_distribution=True)
    boot = res.distribution
    finite = np.isfinite(boot)
    n_rep = finite.sum(axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        lo, hi = np.nanquantile(boot, [alpha / 2, 1 - alpha / 2], axis=0)
        se = np.where(n_rep > 1, np.nanstd(boot, axis=0, ddof=1), np.nan)
    whole = n_rep == boot.shape[0]
    return {"estimate": res.estimate, "ci_low": np.where(whole, res.ci_low, lo),
            "ci_high": np.where(whole, res.ci_high, hi), "se": se, "n_replicates": n_rep}


def finite_pairs(x: np.ndarray) -> np.ndarray:
    """Units (images, or seed-image pairs) with a finite dense and sparse value: ``(C, T - 1)``."""
    both = np.isfinite(x[..., 1:]) & np.isfinite(x[..., :1])
    return both.reshape(-1, *both.shape[-2:]).sum(axis=0)


def _raw_test(x: np.ndarray, alpha: float, n_resamples: int, ci_method: str, seed: int,
              min_pairs: int = MIN_PAIRS) -> dict[str, np.ndarray]:
    """Gain, interval, standard error and two-sided p per (curve, sparse step), unadjusted.

    A step with fewer than ``min_pairs`` finite pairs (:func:`finite_pairs`), or whose finite
    replicates give no standard error, is untestable: its p is NaN, so that Holm leaves it out
    of the family instead of ranking it first.
    """
    if x.ndim not in (3, 4) or x.shape[-1] < 2:
        raise ValueError("values must be (n_images, n_curves, n_steps) or (n_seeds, n_images, n_curves, n_steps) "
                         f"with a dense and a sparse step; got shape {x.shape}")
    if x.shape[0] < 2:
        raise ValueError(f"the sweet-spot test needs at least 2 {'seeds' if x.ndim == 4 else 'images'}; got {x.shape[0]}")
    res = _bootstrap(x, alpha, n_resamples, ci_method, seed)
    gain, se, pairs = res["estimate"], res["se"], finite_pairs(x)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.abs(gain) / se
    p = np.where(se > 0, 2 * special.ndtr(-z), np.where(gain != 0, 0.0, 1.0))
    testable = np.isfinite(gain) & np.isfinite(se) & (pairs >= max(int(min_pairs), 2))
    return {"gain": gain, "ci_low": res["ci_low"], "ci_high": res["ci_high"], "se": se,
            "p": np.where(testable, p, np.nan), "n_pairs": pairs, "n_replicates": res["n_replicates"]}


def _holm_levels(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Holm-adjusted p-values of all entries of ``p`` as one family, and each entry's divisor
    ``m - r + 1`` (its level is ``alpha / divisor``, ``r`` its rank among the ``m`` finite p)."""
    flat = p.reshape(-1)
    m = int(np.isfinite(flat).sum())
    order = np.argsort(np.where(np.isfinite(flat), flat, np.inf), kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(flat.size)
    return holm(flat).reshape(p.shape), (m - rank).reshape(p.shape)


def _adjusted_intervals(x: np.ndarray, out: dict[str, np.ndarray], alpha: float, n_resamples: int,
                        ci_method: str, seed: int) -> None:
    """Add ``ci_low_adj``, ``ci_high_adj`` (at each hypothesis' Holm level) and ``sweet_spot``."""
    candidate = (out["p_holm"] < alpha) & (out["gain"] > 0)
    out["ci_low_adj"] = np.full(out["gain"].shape, np.nan)
    out["ci_high_adj"] = np.full(out["gain"].shape, np.nan)
    for k in np.unique(out["divisor"][candidate]):
        # Same seed, same resamples: the interval at each Holm level comes from one distribution.
        adj = _bootstrap(x, alpha / k, n_resamples, ci_method, seed)
        sel = candidate & (out["divisor"] == k)
        out["ci_low_adj"][sel], out["ci_high_adj"][sel] = adj["ci_low"][sel], adj["ci_high"][sel]
    out["sweet_spot"] = candidate & (out["ci_low_adj"] > 0)


def bootstrap_curve_test(values: np.ndarray, alpha: float = 0.05, n_resamples: int = 2000,
                         ci_method: str = "percentile", seed: int = 0,
                         min_pairs: int = MIN_PAIRS) -> dict[str, np.ndarray]:
    """Sweet-spot test of many curves measured on the same images (vectorized over curves).

    Args:
        values: ``(n_images, n_curves, n_steps)``, or ``(n_seeds, n_images, n_curves,
            n_steps)`` for a hierarchical bootstrap (seeds, then images within each seed;
            percentile intervals), already signed so that higher is better; step 0 is the
            dense model; NaN marks a missing value.
        alpha: family-wise error rate per curve (Holm across its ``n_steps - 1`` sparse steps).
        n_resamples: bootstrap resamples.
        ci_method: ``"percentile"`` or ``"bca"``.
        seed: the bootstrap's seed.
        min_pairs: fewest finite (dense, sparse) pairs for a step to be tested (p NaN below).

    Returns:
        Arrays of shape ``(n_curves, n_steps - 1)``: ``gain`` (sparse - dense), ``ci_low``,
        ``ci_high`` (level ``1 - alpha``), ``p`` (NaN where untestable), ``p_holm``,
        ``ci_low_adj``, ``ci_high_adj`` (at the Holm level of each hypothesis; NaN where not
        significant), ``sweet_spot``, ``n_pairs`` and ``n_replicates`` (finite replicates).
    """
    x = np.asarray(values, dtype=np.float64)
    out = _raw_test(x, alpha, n_resamples, ci_method, seed, min_pairs)
    _holm_adjust([out], "curve")
    _adjusted_intervals(x, out, alpha, n_resamples, ci_method, seed)
    return out


def _curve_arrays(df: pd.DataFrame, keys: list[str], hierarchical: bool) -> dict[tuple[Any, ...], list[tuple[tuple[Any, ...], np.ndarray]]]:
    """Curves grouped by their shared (seeds,) images and steps: signature -> [(curve, array)].

    An array is ``(n_images, n_steps)`` of per-image values averaged over seeds, or with
    ``hierarchical`` ``(n_seeds, n_images, n_steps)`` (NaN where a seed lacks an image).
    """
    inner = ["seed", "index"] if hierarchical else ["index"]
    table = df.groupby([*keys, *inner, "step"], sort=True, dropna=False)["value"].mean().unstack("step")
    groups: dict[tuple[Any, ...], list[tuple[tuple[Any, ...], np.ndarray]]] = {}
    for curve, block in table.groupby(level=list(range(len(keys))), sort=True, dropna=False):
        block = block.dropna(axis=1, how="all").droplevel(list(range(len(keys))))
        if 0 not in block.columns or block.shape[1] < 2:
            log.info("sweet spots: curve %s has no dense step or no sparse step; skipped", curve)
            continue
        if hierarchical:
            seeds = sorted(set(block.index.get_level_values("seed")))
            images = sorted(set(block.index.get_level_values("index")))
            full = block.reindex(pd.MultiIndex.from_product([seeds, images], names=inner))
            array = full.to_numpy(dtype=np.float64).reshape(len(seeds), len(images), -1)
            signature = (tuple(seeds), tuple(images), tuple(block.columns))
        else:
            array = block.to_numpy(dtype=np.float64)
            signature = ((), tuple(block.index), tuple(block.columns))
        groups.setdefault(signature, []).append((curve, array))
    return groups


def find_sweet_spots(per_image: pd.DataFrame, directions: Sequence[tuple[str, str, str, int]] | None = None,
                     alpha: float = 0.05, n_resamples: int = 2000, ci_method: str = "percentile",
                     seed: int = 0, hierarchical: bool | None = None, holm_scope: str = "curve",
                     min_pairs: int = MIN_PAIRS) -> pd.DataFrame:
    """Test every curve of a per-image table (:func:`load_per_image`) for sweet spots.

    Args:
        per_image: the long table of per-image values.
        directions: extra ``(table, method, metric, direction)`` patterns, searched before
            the suites' own (:func:`metric_direction`).
        alpha: as :func:`bootstrap_curve_test`.
        n_resamples: as :func:`bootstrap_curve_test`.
        ci_method: as :func:`bootstrap_curve_test`.
        seed: as :func:`bootstrap_curve_test`.
        min_pairs: as :func:`bootstrap_curve_test`.
        hierarchical: resample seeds, then images within each seed (None: when the table has
            several seeds); False averages each image over the seeds and resamples images.
        holm_scope: ``"curve"`` (Holm across each curve's sparse steps) or ``"report"`` (Holm
            across every test of the table: every curve, every sparse step).

    Returns:
        One row per (curve, sparse step): the curve's keys, ``direction``, ``step``,
        ``sparsity`` (mean over seeds), ``n_images``, ``n_seeds``, ``dense``, ``value`` (the
        metric, in its own units), ``gain`` (better-positive difference), ``ci_low``,
        ``ci_high``, ``p``, ``p_holm``, ``ci_low_adj``, ``ci_high_adj``, ``sweet_spot``,
        ``resampled`` (``"images"`` or ``"seeds, images"``), ``holm_scope``, ``n_pairs`` (finite
        dense-sparse pairs), ``n_replicates`` (finite bootstrap replicates) and ``testable``
        (``n_pairs >= min_pairs`` with a finite p; an untestable step has p NaN). Curves without
        a declared direction or without a dense step are left out.
    """
    if holm_scope not in HOLM_SCOPES:
        raise ConfigError(f"holm_scope must be one of {HOLM_SCOPES}, got {holm_scope!r}")
    cols = [*CURVE_KEYS, "direction", "step", "sparsity", "n_images", "n_seeds", "dense", "value", "gain",
            "ci_low", "ci_high", "p", "p_holm", "ci_low_adj", "ci_high_adj", "sweet_spot", "resampled", "holm_scope", "n_pairs", "n_replicates", "testable"]
    if per_image.empty:
        return pd.DataFrame(columns=cols)
    df = per_image.copy()
    names = df[["table", "method", "metric"]].drop_duplicates()
    names["direction"] = [metric_direction(t, m, k, directions) for t, m, k in names.itertuples(index=False)]
    df = df.merge(names, on=["table", "method", "metric"], how="left")
    untested = df.loc[df["direction"] == 0, ["table", "method", "metric"]].drop_duplicates()
    if len(untested):
        log.info("sweet spots: %d metric(s) without a declared direction are not tested", len(untested))
    df = df[df["direction"] != 0]
    if df.empty:
        return pd.DataFrame(columns=cols)
    keys = [*CURVE_KEYS, "direction"]
    hierarchical = df["seed"].nunique() > 1 if hierarchical is None else bool(hierarchical)
    sparsity = df.groupby([*keys, "step"], dropna=False)["sparsity"].mean()
    n_seeds = df.groupby([*keys, "step"], dropna=False)["seed"].nunique()

    tested = []
    for (_, images, steps), members in _curve_arrays(df, keys, hierarchical).items():
        stacked = np.stack([a * c[-1] for c, a in members], axis=-2)
        if stacked.ndim == 4 and stacked.shape[0] == 1:
            stacked = stacked[0]  # curves of one seed: images are the only level
        tested.append((members, images, steps, stacked, _raw_test(stacked, alpha, n_resamples, ci_method, seed, min_pairs)))
    _holm_adjust([t[-1] for t in tested], holm_scope)
    rows = []
    for members, images, steps, stacked, out in tested:
        _adjusted_intervals(stacked, out, alpha, n_resamples, ci_method, seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            # each step's own mean; its dense baseline is the one its gain was paired with
            step_mean = np.nanmean(stacked[..., 1:].reshape(-1, *stacked.shape[-2:-1], stacked.shape[-1] - 1), axis=0)
        for ci, (curve, _) in enumerate(members):
            direction = curve[-1]
            for si, step in enumerate(steps[1:]):
                rows.append({
                    **dict(zip(keys, curve, strict=True)), "step": int(step),
                    "sparsity": float(sparsity.loc[(*curve, step)]), "n_images": len(images),
                    "n_seeds": int(n_seeds.loc[(*curve, step)]),
                    "dense": float((step_mean[ci, si] - out["gain"][ci, si]) * direction),
                    "value": float(step_mean[ci, si] * direction),
                    **{k: (bool(out[k][ci, si]) if k == "sweet_spot" else float(out[k][ci, si]))
                       for k in ("gain", "ci_low", "ci_high", "p", "p_holm", "ci_low_adj", "ci_high_adj", "sweet_spot")},
                    "resampled": "seeds, images" if stacked.ndim == 4 else "images", "holm_scope": holm_scope,
                    "n_pairs": int(out["n_pairs"][ci, si]), "n_replicates": int(out["n_replicates"][ci, si]),
                    "testable": bool(np.isfinite(out["p"][ci, si])),
                })
    return pd.DataFrame(rows, columns=cols)


def _holm_adjust(results: list[dict[str, np.ndarray]], scope: str) -> None:
    """Add ``p_holm`` and ``divisor`` to each group's results: per curve (row), or over all."""
    if scope == "curve":
        for out in results:
            levels = [_holm_levels(row) for row in out["p"]]
            out["p_holm"] = np.vstack([lv[0] for lv in levels])
            out["divisor"] = np.vstack([lv[1] for lv in levels])
        return
    sizes = [out["p"].size for out in results]
    p_holm, divisor = _holm_levels(np.concatenate([out["p"].reshape(-1) for out in results]) if results else np.zeros(0))
    for out, part_p, part_d in zip(results, np.split(p_holm, np.cumsum(sizes)[:-1]),
                                   np.split(divisor, np.cumsum(sizes)[:-1]), strict=True):
        out["p_holm"], out["divisor"] = part_p.reshape(out["p"].shape), part_d.reshape(out["p"].shape)


def summarize_sweet_spots(sweet: pd.DataFrame, metrics: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per curve: how many sparsities were tested and are sweet spots, their range, and the peak.

    Args:
        sweet: from :func:`find_sweet_spots`.
        metrics: the gathered ``metrics.csv`` tables, for the model's size (``params_nonzero`` at
            step 0, the mean over runs).

    Returns:
        One row per curve: keys, ``params_dense``, ``n_tested``, ``n_untestable`` (steps with p
        NaN), ``n_sweet``, ``sweet_min`` and
        ``sweet_max`` (sparsity range of the sweet spots), ``peak_sparsity``, ``peak_gain``
        (the largest gain among the sweet spots; NaN without one) and ``peak_ci_low``,
        ``peak_ci_high``.
    """
    cols = [*CURVE_KEYS, "params_dense", "n_tested", "n_untestable", "n_sweet", "sweet_min", "sweet_max", "peak_sparsity",
            "peak_gain", "peak_ci_low", "peak_ci_high"]
    if sweet.empty:
        return pd.DataFrame(columns=cols)
    size: dict[str, float] = {}
    if metrics is not None and not metrics.empty and {"model", "step", "params_nonzero"} <= set(metrics.columns):
        dense = metrics[metrics["step"] == 0]
        size = dense.groupby(dense["model"].astype(str))["params_nonzero"].mean().to_dict()
    rows = []
    for curve, block in sweet.groupby(CURVE_KEYS, sort=True, dropna=False):
        hits = block[block["sweet_spot"].astype(bool)]
        peak = hits.loc[hits["gain"].idxmax()] if len(hits) else None
        rows.append({
            **dict(zip(CURVE_KEYS, curve, strict=True)), "params_dense": size.get(str(curve[0]), np.nan),
            "n_tested": len(block), "n_untestable": int((~block["p"].notna()).sum()), "n_sweet": len(hits),
            "sweet_min": hits["sparsity"].min() if len(hits) else np.nan,
            "sweet_max": hits["sparsity"].max() if len(hits) else np.nan,
            "peak_sparsity": peak["sparsity"] if peak is not None else np.nan,
            "peak_gain": peak["gain"] if peak is not None else np.nan,
            "peak_ci_low": peak["ci_low"] if peak is not None else np.nan,
            "peak_ci_high": peak["ci_high"] if peak is not None else np.nan,
        })
    return pd.DataFrame(rows, columns=cols)


def summarize_by_model(summary: pd.DataFrame) -> pd.DataFrame:
    """Sweet spots per architecture and size: one row per ``(model, prune_method)``.

    Args:
        summary: from :func:`summarize_sweet_spots`.

    Returns:
        ``model, prune_method, params_dense, curves_tested, curves_with_sweet_spot, sweet_min,
        sweet_max`` (the sparsity range over all its sweet spots) and ``metrics`` (the curves
        with a sweet spot, ``table/method/metric``).
    """
    cols = ["model", "prune_method", "params_dense", "curves_tested", "curves_with_sweet_spot", "sweet_min",
            "sweet_max", "metrics"]
    if summary.empty:
        return pd.DataFrame(columns=cols)
    rows = []
    for (model, pm), g in summary.groupby(["model", "prune_method"], sort=True):
        hits = g[g["n_sweet"] > 0]
        names = ["/".join(str(v) for v in (r.table, r.method, r.metric) if str(v)) + (f"@{r.level:g}" if r.level else "")
                 for r in hits.itertuples(index=False)]
        rows.append({"model": model, "prune_method": pm, "params_dense": g["params_dense"].iloc[0],
                     "curves_tested": len(g), "curves_with_sweet_spot": len(hits),
                     "sweet_min": hits["sweet_min"].min() if len(hits) else np.nan,
                     "sweet_max": hits["sweet_max"].max() if len(hits) else np.nan, "metrics": ", ".join(names)})
    return pd.DataFrame(rows, columns=cols)


def sweet_spot_analysis(run_dirs: Sequence[str | Path], out_dir: str | Path, alpha: float = 0.05,
                        n_resamples: int = 2000, ci_method: str = "percentile", seed: int = 0,
                        directions: Sequence[tuple[str, str, str, int]] | None = None,
                        hierarchical: bool | None = None, holm_scope: str = "curve",
                        min_pairs: int = MIN_PAIRS) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Gather runs, test every curve and write the sweet-spot tables.

    Writes ``sweet_spots.csv`` (one row per curve and sparsity), ``sweet_spots_summary.csv``
    (one row per curve) and ``sweet_spots_by_model.csv`` (per architecture and size), each also
    as Parquet.

    Args:
        run_dirs: run and/or multirun directories (:func:`expand_run_dirs`).
        out_dir: where the two tables (CSV and Parquet) are written.
        alpha: as :func:`find_sweet_spots`.
        n_resamples: as :func:`find_sweet_spots`.
        ci_method: as :func:`find_sweet_spots`.
        seed: as :func:`find_sweet_spots`.
        directions: as :func:`find_sweet_spots`.
        hierarchical: as :func:`find_sweet_spots`.
        holm_scope: as :func:`find_sweet_spots`.
        min_pairs: as :func:`find_sweet_spots`.

    Returns:
        ``(sweet_spots, summary)``.
    """
    runs = expand_run_dirs(run_dirs)
    sweet = find_sweet_spots(load_per_image(runs), directions=directions, alpha=alpha,
                             n_resamples=n_resamples, ci_method=ci_method, seed=seed,
                             hierarchical=hierarchical, holm_scope=holm_scope, min_pairs=min_pairs)
    summary = summarize_sweet_spots(sweet, load_table(runs, "metrics", add_overrides=False))
    out_dir = Path(out_dir)
    write_table(sweet, out_dir / "sweet_spots.csv")
    write_table(summary, out_dir / "sweet_spots_summary.csv")
    write_table(summarize_by_model(summary), out_dir / "sweet_spots_by_model.csv")
    return sweet, summary
