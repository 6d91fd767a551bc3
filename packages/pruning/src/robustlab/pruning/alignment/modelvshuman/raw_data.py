"""Read model-vs-human raw-data folders: every observer's trials of one dataset in one table.

Layout (bethgelab/model-vs-human)::

    raw-data/<dataset>/<dataset>_subject-01_session_1.csv     one CSV per human observer session
    raw-data/<dataset>/<dataset>_<model>_session-1.csv        one CSV per model (any name ending .csv)

Columns ``subj, session, trial, rt, object_response, category, condition, imagename``.

Rules taken from ``modelvshuman/helper/plotting_helper.py`` (``read_all_csv_files_from_directory``,
``get_experimental_data``, ``get_short_imagename``):

- every ``*.csv`` of the folder is read by ``pandas.read_csv`` on its own and its column names
  lower-cased (some human files say ``Session``), then all are concatenated;
- the ``condition`` column, as pandas parsed it, is then turned to text: a float column gives
  ``"0.9"`` for ``0.90`` and ``"1.0"`` for ``1`` (high-pass, whose ``inf`` makes the column
  float), an integer column ``"40"``; the condition lists of :mod:`.experiments` are in this form;
- a parametric dataset must hold every condition of its experiment (else model-vs-human stops
  with "Condition mismatch"; here a ValueError names the missing ones);
- trials are identified by their short image name (:func:`short_imagename`), not by trial order;
- a trial is correct when ``object_response == category``; a human's ``na`` (no answer) is an
  error.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from robustlab.pruning.alignment.human_data import short_imagename
from robustlab.pruning.alignment.modelvshuman.experiments import DATA_CONDITIONS

COLUMNS = ("subj", "session", "trial", "rt", "object_response", "category", "condition", "imagename")
REQUIRED = ("subj", "object_response", "category", "condition", "imagename")
HUMAN_PREFIX = "subject-"


def is_human(subj: str) -> bool:
    """Whether ``subj`` names a human observer (model-vs-human: it starts with ``subject-``)."""
    return str(subj).startswith(HUMAN_PREFIX)


def _read_csv(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path)
    frame.columns = [str(c).lower() for c in frame.columns]
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)}; a model-vs-human raw-data CSV has "
                         f"{', '.join(COLUMNS)}")
    if frame.empty:
        raise ValueError(f"{path}: no trials")
    frame["subj"] = frame["subj"].astype(str)
    return frame


def read_trials(folders: Sequence[str | Path], dataset: str) -> pd.DataFrame:
    """All trials of ``dataset`` from ``<folder>/<dataset>/*.csv`` of every folder given.

    Args:
        folders: raw-data roots (e.g. model-vs-human's ``raw-data/`` and a folder of model
            CSVs in the same layout); a root without a ``<dataset>`` folder is skipped.
        dataset: e.g. ``"cue-conflict"``.

    Returns:
        The raw columns (lower-cased; ``condition`` as text) plus ``image_id`` (short image
        name), ``correct`` (``object_response == category``) and ``source`` (the CSV's path).

    Raises:
        FileNotFoundError: no CSV for ``dataset`` in any folder.
        ValueError: a CSV lacks a column or has no rows (file named); a parametric dataset
            lacks some of its conditions.
    """
    paths = [p for folder in folders for p in sorted((Path(folder) / dataset).glob("*.csv"))]
    if not paths:
        raise FileNotFoundError(f"no raw-data CSV for dataset {dataset!r} under {', '.join(str(f) for f in folders)}")
    frames = []
    for path in paths:
        frame = _read_csv(path)
        frame["source"] = str(path)
        frames.append(frame)
    trials = pd.concat(frames, ignore_index=True)
    trials["condition"] = trials["condition"].astype(str)
    trials["image_id"] = trials["imagename"].astype(str).map(short_imagename)
    trials["correct"] = (trials["object_response"] == trials["category"]).to_numpy(bool)
    if dataset in DATA_CONDITIONS:
        found = set(trials["condition"])
        missing = [c for c in DATA_CONDITIONS[dataset] if c not in found]
        if missing:
            raise ValueError(
                f"{dataset}: condition(s) {', '.join(missing)} of the experiment are in none of its CSVs "
                f"(found: {', '.join(sorted(found))}); conditions are compared as pandas prints them, e.g. 0.90 -> 0.9"
            )
    return trials


def texture_category(imagename: str) -> str:
    """The texture category of a cue-conflict stimulus, from its image name.

    The part after the last ``_``, before the first ``.``, after the last ``-``, without digits:
    ``0001_s5n_s01_0_bird_00_dog10-bird2.png`` -> ``bird`` (model-vs-human's
    ``ShapeBias.get_texture_category``, ``modelvshuman/plotting/analyses.py``).
    """
    last = str(imagename).split("_")[-1].split(".")[0].split("-")[-1]
    return "".join(ch for ch in last if not ch.isdigit())
