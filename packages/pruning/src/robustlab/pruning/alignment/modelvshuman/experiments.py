"""The 17 datasets of the model-vs-human benchmark, their conditions and the excluded ones.

Twelve parametric datasets vary one image manipulation over conditions (the ``condition``
column of a raw-data CSV); five others have no conditions. The benchmark table leaves out, per
dataset, the conditions that are not out-of-distribution (the undistorted control) and those
where the mean human accuracy is below 0.2 (there, error consistency is not meaningful).

Sources in bethgelab/model-vs-human: ``modelvshuman/constants.py`` (``DEFAULT_DATASETS``, the
datasets of the ``benchmark-barplot`` plot type and their order), ``modelvshuman/datasets/
experiments.py`` (``data_conditions`` of each ``*_experiment``) and ``modelvshuman/plotting/
plot.py`` (``EXCLUDE_CONDITIONS``). Conditions are text as pandas prints the parsed column
(``str(0.9) == "0.9"``, ``str(1.0) == "1.0"``; see :mod:`.raw_data`).

Reference:
    Geirhos R, Narayanappa K, Mitzkus B, Thieringer T, Bethge M, Wichmann FA, Brendel W (2021).
    Partial success in closing the gap between human and machine vision. NeurIPS.
"""

from __future__ import annotations

#: Every condition of each parametric dataset (model-vs-human's ``data_conditions``).
DATA_CONDITIONS: dict[str, tuple[str, ...]] = {
    "colour": ("cr", "bw"),
    "contrast": ("c100", "c50", "c30", "c15", "c10", "c05", "c03", "c01"),
    "high-pass": ("inf", "3.0", "1.5", "1.0", "0.7", "0.55", "0.45", "0.4"),
    "low-pass": ("0", "1", "3", "5", "7", "10", "15", "40"),
    "phase-scrambling": ("0", "30", "60", "90", "120", "150", "180"),
    "power-equalisation": ("0", "pow"),
    "false-colour": ("True", "False"),
    "rotation": ("0", "90", "180", "270"),
    "eidolonI": ("1-10-10", "2-10-10", "4-10-10", "8-10-10", "16-10-10", "32-10-10", "64-10-10", "128-10-10"),
    "eidolonII": ("1-3-10", "2-3-10", "4-3-10", "8-3-10", "16-3-10", "32-3-10", "64-3-10", "128-3-10"),
    "eidolonIII": ("1-0-10", "2-0-10", "4-0-10", "8-0-10", "16-0-10", "32-0-10", "64-0-10", "128-0-10"),
    "uniform-noise": ("0.0", "0.03", "0.05", "0.1", "0.2", "0.35", "0.6", "0.9"),
}

#: Conditions the benchmark table leaves out (model-vs-human's ``EXCLUDE_CONDITIONS``).
EXCLUDED_CONDITIONS: dict[str, tuple[str, ...]] = {
    "colour": ("cr",),
    "contrast": ("c100", "c03", "c01"),
    "high-pass": ("inf", "0.55", "0.45", "0.4"),
    "low-pass": ("0", "15", "40"),
    "phase-scrambling": ("0", "150", "180"),
    "power-equalisation": ("0",),
    "false-colour": ("True",),
    "rotation": ("0",),
    "eidolonI": ("1-10-10", "64-10-10", "128-10-10"),
    "eidolonII": ("1-3-10", "32-3-10", "64-3-10", "128-3-10"),
    "eidolonIII": ("1-0-10", "16-0-10", "32-0-10", "64-0-10", "128-0-10"),
    "uniform-noise": ("0.0", "0.6", "0.9"),
}

#: The twelve parametric datasets, in model-vs-human's order.
PARAMETRIC_DATASETS: tuple[str, ...] = tuple(DATA_CONDITIONS)

#: The five datasets without conditions.
NONPARAMETRIC_DATASETS: tuple[str, ...] = ("sketch", "stylized", "edge", "silhouette", "cue-conflict")

#: The 17 datasets of the benchmark table, in model-vs-human's ``DEFAULT_DATASETS`` order.
DATASETS: tuple[str, ...] = ("edge", "silhouette", "cue-conflict", *PARAMETRIC_DATASETS, "sketch", "stylized")


def benchmark_conditions(dataset: str) -> tuple[str, ...] | None:
    """The conditions the benchmark table scores on ``dataset``; None: every trial (no conditions).

    Raises:
        KeyError: ``dataset`` is not one of :data:`DATASETS`.
    """
    if dataset not in DATASETS:
        raise KeyError(f"unknown model-vs-human dataset {dataset!r} (known: {', '.join(DATASETS)})")
    if dataset not in DATA_CONDITIONS:
        return None
    excluded = set(EXCLUDED_CONDITIONS[dataset])
    return tuple(c for c in DATA_CONDITIONS[dataset] if c not in excluded)
