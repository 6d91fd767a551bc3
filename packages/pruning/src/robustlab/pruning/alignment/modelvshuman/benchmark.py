r"""The model-vs-human benchmark table from raw-data CSVs: models scored against human observers.

For each model and each of the 17 datasets (:data:`~.experiments.DATASETS`) present:

- ``ood_accuracy``: 16-class accuracy over the model's trials in the dataset's benchmark
  conditions, pooled (``get_mean_over_datasets`` in ``modelvshuman/plotting/plot.py``);
- ``accuracy_difference`` :math:`(p_m - p_h)^2`, ``observed_consistency`` :math:`c_{obs}` and
  ``error_consistency`` :math:`\kappa` (:mod:`.metrics`) of the model against each human
  observer :math:`h`, per benchmark condition :math:`c` on the trials paired by image, then
  averaged over conditions, then over observers (``get_raw_benchmark_df`` and
  ``format_benchmark_df``):

  .. math:: M(m, d) = \frac{1}{|H_d|} \sum_{h \in H_d} \frac{1}{|C_d|} \sum_{c \in C_d} M(m, h, c)

  :math:`C_d` are the dataset's conditions without the excluded ones
  (:func:`~.experiments.benchmark_conditions`; one pseudo-condition holding every trial for
  the five datasets without conditions), :math:`H_d` its human observers (``subject-*``);
- ``shape_bias`` on ``cue-conflict`` (:func:`~.metrics.shape_bias`).

Rows with ``dataset == "all"`` average the first four metrics over the datasets, each dataset
weighing the same, as the benchmark table does (``groupby(['model', 'metric']).mean()``).

Two choices of model-vs-human are not followed, both about names only: its table replaces
``_`` by ``-`` in model names (so ``a_b`` and ``a-b`` would merge), and it requires every model
on every dataset; here names are kept and a model is scored on the datasets it has (a warning
names the others).

Reference:
    Geirhos R, Narayanappa K, Mitzkus B, Thieringer T, Bethge M, Wichmann FA, Brendel W (2021).
    Partial success in closing the gap between human and machine vision. NeurIPS.
    Code: https://github.com/bethgelab/model-vs-human
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from robustlab.pruning.alignment.modelvshuman.experiments import DATASETS, benchmark_conditions
from robustlab.pruning.alignment.modelvshuman.metrics import (
    accuracy_difference,
    error_consistency,
    observed_consistency,
    paired_correctness,
    shape_bias,
)
from robustlab.pruning.alignment.modelvshuman.raw_data import is_human, read_trials

log = logging.getLogger(__name__)

METRICS = ("ood_accuracy", "accuracy_difference", "observed_consistency", "error_consistency", "shape_bias")
PAIR_METRICS = {"accuracy_difference": accuracy_difference, "observed_consistency": observed_consistency,
                "error_consistency": error_consistency}
COLUMNS = ["model", "dataset", "metric", "value"]
#: The ``model`` of the human observers' own rows (model-vs-human's ``humans`` decision maker).
HUMANS = "humans"

Trials = dict[tuple[str, Any], tuple[np.ndarray, np.ndarray]]


def _by_observer_and_condition(trials: pd.DataFrame, conditions: Sequence[str] | None) -> Trials:
    """``(subj, condition) -> (image ids, correctness)``; condition None: every trial."""
    keys = ["subj"] if conditions is None else ["subj", "condition"]
    out: Trials = {}
    for key, group in trials.groupby(keys, sort=False):
        subj, cond = (key[0], None) if conditions is None else key
        out[(str(subj), cond)] = (group["image_id"].to_numpy(dtype=str), group["correct"].to_numpy(dtype=bool))
    return out


def _pair_metrics(groups: Trials, dataset: str, model: str, human: str, conditions: Sequence[Any]) -> dict[str, float]:
    """Each pair metric of ``model`` against ``human``, averaged over ``conditions``."""
    empty = (np.array([], dtype=str), np.array([], dtype=bool))
    values: dict[str, list[float]] = {name: [] for name in PAIR_METRICS}
    for cond in conditions:
        a, b = paired_correctness(*groups.get((model, cond), empty), *groups.get((human, cond), empty),
                                  what=f"{dataset}, {model} vs {human}"
                                  + ("" if cond is None else f", condition {cond!r}"))
        for name, fn in PAIR_METRICS.items():
            values[name].append(fn(a, b))
    return {name: float(np.mean(v)) for name, v in values.items()}


def _dataset_rows(dataset: str, trials: pd.DataFrame, models: Sequence[str],
                  include_humans: bool) -> list[dict[str, Any]]:
    conditions = benchmark_conditions(dataset)
    if conditions is not None:
        trials = trials[trials["condition"].isin(conditions)]
    subjects = sorted(set(trials["subj"]))
    humans = [s for s in subjects if is_human(s)]
    if not humans:
        raise ValueError(f"{dataset}: no human observer (subj 'subject-*') in its benchmark conditions")
    groups = _by_observer_and_condition(trials, conditions)
    pairs = {m: [(m, h) for h in humans if h != m] for m in models if m in subjects}
    if include_humans:
        pairs[HUMANS] = [(a, b) for i, a in enumerate(humans) for b in humans[i + 1:]]
    rows: list[dict[str, Any]] = []
    for model, model_pairs in pairs.items():
        own = trials[trials["subj"].isin(humans if model == HUMANS else [model])]
        values = {"ood_accuracy": float(own["correct"].mean())}
        per_pair = [_pair_metrics(groups, dataset, a, b, conditions or [None]) for a, b in model_pairs]
        values.update({name: float(np.mean([r[name] for r in per_pair])) if per_pair else float("nan")
                       for name in PAIR_METRICS})
        if dataset == "cue-conflict":
            values["shape_bias"] = shape_bias(own)
        rows.extend({"model": model, "dataset": dataset, "metric": k, "value": v} for k, v in values.items())
    return rows


def _models(trials: dict[str, pd.DataFrame], models: Sequence[str] | None, include_humans: bool) -> list[str]:
    found = sorted({s for t in trials.values() for s in t["subj"].unique() if not is_human(s)})
    if include_humans and HUMANS in found:
        raise ValueError(f"a model CSV has subj {HUMANS!r}, the name of the human observers' rows; rename it")
    if models is None:
        if not found and not include_humans:
            raise ValueError(f"no model CSV (subj not 'subject-*') in the datasets {', '.join(trials)}")
        return found
    models = [str(m) for m in models]
    every = {s for t in trials.values() for s in t["subj"].unique()}
    unknown = [m for m in models if m not in every]
    if unknown:
        raise ValueError(f"model(s) {', '.join(unknown)} in no raw-data CSV of {', '.join(trials)} "
                         f"(models found: {', '.join(found) or 'none'})")
    return models


def benchmark(raw_data_dir: str | Path, models: Sequence[str] | None = None, *,
              model_dirs: Sequence[str | Path] = (), datasets: Sequence[str] | None = None,
              include_humans: bool = False) -> pd.DataFrame:
    """Score models against the human observers as model-vs-human's benchmark table does.

    Args:
        raw_data_dir: a folder with one sub-folder per dataset (``cue-conflict/``, ...) holding
            the human observers' CSVs and, possibly, models' CSVs (model-vs-human's
            ``raw-data/``).
        models: the ``subj`` names to score; None: every ``subj`` not starting with
            ``subject-``.
        model_dirs: more folders in the same layout holding model CSVs (e.g. a run directory),
            read together with ``raw_data_dir``.
        datasets: which datasets; default: those of the 17 with a folder in ``raw_data_dir``
            or ``model_dirs``.
        include_humans: add rows with ``model == "humans"``, the benchmark table's human row:
            accuracy over every observer's trials pooled, the pair metrics over every pair of
            observers (each pair once: conditions, then pairs, then datasets), shape bias over
            every observer's cue-conflict trials pooled (the human line of their shape-bias plot).

    Returns:
        Columns ``model, dataset, metric, value``: per model and dataset, ``ood_accuracy``,
        ``accuracy_difference``, ``observed_consistency``, ``error_consistency`` (and
        ``shape_bias`` on ``cue-conflict``); per model, the first four with ``dataset == "all"``
        (mean over its datasets).

    Raises:
        FileNotFoundError: a folder is missing, or none of the datasets is there.
        ValueError: a CSV is malformed, a dataset lacks a condition or human observers, a model
            is unknown, or a model and an observer did not see the same images in a condition.

    Example:
        >>> table = benchmark("model-vs-human/raw-data", models=["resnet50"])  # doctest: +SKIP
        >>> table[table.dataset == "all"].pivot(index="model", columns="metric", values="value")  # doctest: +SKIP
    """
    roots = [Path(raw_data_dir), *(Path(d) for d in model_dirs)]
    for root in roots:
        if not root.is_dir():
            raise FileNotFoundError(f"model-vs-human raw-data folder {root} does not exist")
    names = list(datasets) if datasets is not None else [d for d in DATASETS if any((r / d).is_dir() for r in roots)]
    for name in names:
        benchmark_conditions(name)
    if not names:
        raise FileNotFoundError(f"none of the 17 model-vs-human datasets ({', '.join(DATASETS)}) has a folder "
                                f"in {', '.join(map(str, roots))}")
    trials = {name: read_trials(roots, name) for name in names}
    wanted = _models(trials, models, include_humans)
    rows = [row for name in names for row in _dataset_rows(name, trials[name], wanted, include_humans)]
    table = pd.DataFrame(rows, columns=COLUMNS)
    for model in wanted:
        missing = [n for n in names if n not in set(table.loc[table["model"] == model, "dataset"])]
        if missing:
            log.warning("model-vs-human: %s has no decisions for %s; its 'all' rows average the other datasets",
                        model, ", ".join(missing))
    overall = (table[table["metric"] != "shape_bias"]
               .groupby(["model", "metric"], sort=False, as_index=False)["value"].mean())
    overall.insert(1, "dataset", "all")
    return pd.concat([table, overall[COLUMNS]], ignore_index=True)
