"""A model on model-vs-human's stimuli, end to end: decision CSVs, then the benchmark table.

:func:`evaluate_model` writes the decision CSVs (resumable: a dataset whose CSV is there is
not run again); :func:`run_benchmark` adds :func:`~.benchmark.benchmark` against the human
raw data; :func:`modelvshuman_suite` does both for the sweep's model at one step and returns the
rows in the ``alignment`` table's form, so the alignment suite can take model-vs-human's data
as its evaluation data.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from robustlab.pruning.alignment.modelvshuman.benchmark import benchmark
from robustlab.pruning.alignment.modelvshuman.decisions import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    csv_name,
    list_stimuli,
    model_decisions,
    write_decisions,
)
from robustlab.pruning.alignment.modelvshuman.experiments import DATASETS

log = logging.getLogger(__name__)


def available_datasets(datasets_root: str | Path, raw_data_dir: str | Path | None = None) -> list[str]:
    """The datasets of the 17 with stimuli under ``datasets_root`` (and human data, if given)."""
    roots = [Path(datasets_root)] + ([Path(raw_data_dir)] if raw_data_dir is not None else [])
    return [d for d in DATASETS if all((r / d).is_dir() for r in roots)]


def evaluate_model(model: torch.nn.Module, datasets_root: str | Path, out_dir: str | Path, model_name: str, *,
                   datasets: Sequence[str] | None = None, overwrite: bool = False, device: str | torch.device = "cpu",
                   batch_size: int = 64, image_size: int = 224, mean: Sequence[float] = IMAGENET_MEAN,
                   std: Sequence[float] = IMAGENET_STD) -> list[Path]:
    """Write ``model``'s decisions on each dataset as raw-data CSVs under ``out_dir/<dataset>/``.

    Args:
        model: a 1000-class ImageNet model (or a 16-category one; see
            :func:`~.decisions.model_decisions`).
        datasets_root: model-vs-human's ``datasets/`` folder.
        out_dir: where the CSVs go (model-vs-human's ``raw-data/`` layout).
        model_name: the ``subj`` of the CSVs.
        datasets: default: every one of the 17 under ``datasets_root``.
        overwrite: run a dataset again even when its session-1 CSV exists.
        device, batch_size, image_size, mean, std: as :func:`~.decisions.model_decisions`.

    Returns:
        The CSV files of the datasets (written now or found).
    """
    names = list(datasets) if datasets is not None else available_datasets(datasets_root)
    if not names:
        raise FileNotFoundError(f"none of the 17 model-vs-human datasets has stimuli under {datasets_root}")
    unknown = [n for n in names if n not in DATASETS]
    if unknown:
        raise ValueError(f"unknown model-vs-human dataset(s) {', '.join(unknown)} (known: {', '.join(DATASETS)})")
    stimuli = {name: list_stimuli(datasets_root, name) for name in names}
    written: list[Path] = []
    for name in names:
        done = sorted((Path(out_dir) / name).glob(csv_name(name, model_name, "*")))
        if done and not overwrite:
            written.extend(done)
            continue
        responses = model_decisions(model, stimuli[name], device=device, batch_size=batch_size,
                                    image_size=image_size, mean=mean, std=std)
        written.extend(write_decisions(out_dir, name, model_name, stimuli[name], responses))
        log.info("model-vs-human: %s on %s, %d stimuli", model_name, name, len(responses))
    return written


def run_benchmark(model: torch.nn.Module, datasets_root: str | Path, raw_data_dir: str | Path, out_dir: str | Path,
                  model_name: str, *, datasets: Sequence[str] | None = None, **kwargs: Any) -> pd.DataFrame:
    """:func:`evaluate_model` into ``out_dir``, then :func:`~.benchmark.benchmark` of ``model_name``.

    The human CSVs stay in ``raw_data_dir``; the model's are read from ``out_dir``. ``datasets``
    defaults to those with both stimuli and human data; ``kwargs`` go to :func:`evaluate_model`.

    Returns:
        The benchmark table (``model, dataset, metric, value``) of ``model_name``.
    """
    names = list(datasets) if datasets is not None else available_datasets(datasets_root, raw_data_dir)
    if not names:
        raise FileNotFoundError(f"no model-vs-human dataset has both stimuli under {datasets_root} and human "
                                f"data under {raw_data_dir}")
    evaluate_model(model, datasets_root, out_dir, model_name, datasets=names, **kwargs)
    return benchmark(raw_data_dir, models=[model_name], model_dirs=[out_dir], datasets=names)


def modelvshuman_suite(ctx: Any, datasets_root: str | Path, raw_data: str | Path,
                       datasets: Sequence[str] | None = None, batch_size: int = 64) -> Any:
    """The benchmark of the sweep's model at one step, as ``alignment`` rows.

    The step's decision CSVs go to ``<run_dir>/alignment/modelvshuman/<dataset>/`` with ``subj``
    ``step<k>`` (all steps side by side, readable by model-vs-human's plotting tools).

    Args:
        ctx: the sweep's :class:`~robustlab.pruning.suites.EvalContext` (``extras["normalize"]``:
            the model's input mean and std; ImageNet's when absent).
        datasets_root, raw_data: model-vs-human's ``datasets/`` and ``raw-data/`` folders.
        datasets: default: those with both stimuli and human data.
        batch_size: images per forward pass.

    Returns:
        :class:`~robustlab.pruning.suites.SuiteResult`, rows ``method = "modelvshuman:<dataset>"``
        (or ``"modelvshuman"`` for ``all``), ``metric`` one of the benchmark's, ``level`` 0,
        ``mean`` the value, ``std`` NaN, ``n`` 1.
    """
    from robustlab.pruning.suites import SuiteResult

    mean, std = ctx.extras.get("normalize", (IMAGENET_MEAN, IMAGENET_STD))
    name = f"step{ctx.step}"
    table = run_benchmark(ctx.model, datasets_root, raw_data, Path(ctx.run_dir) / "alignment" / "modelvshuman", name,
                          datasets=datasets, overwrite=True, device=ctx.device, batch_size=batch_size,
                          image_size=ctx.img_size, mean=mean, std=std)
    rows = [{"method": "modelvshuman" if r.dataset == "all" else f"modelvshuman:{r.dataset}", "metric": r.metric,
             "level": 0.0, "mean": float(r.value), "std": float("nan"), "n": 1} for r in table.itertuples()]
    return SuiteResult(rows=rows)
