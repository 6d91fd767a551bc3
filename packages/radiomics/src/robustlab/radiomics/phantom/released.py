"""The phantom study's released per-ROI features: the digital phantom's training data.

The study of arXiv 2005.06833 released its pyradiomics output, one row per ROI, in its public
repository (ReliabilityRadiomicsIEOFC/PhantomStudy, BSD 3-Clause, ``RadiomicFiles/``). Its
repeatability scans of the three scanners are the data the phantom is calibrated on
(:data:`TRAINING`); the vendor comparison, the TE series, the TR change and the 3D repeat are
the test, never tuned on (``scripts/validate_phantom.py`` judges the phantom on them).

The files are not part of this project: a data folder holding the repository's layout
(``RadiomicFiles/IEO/...``) is passed in. Each file lists 16 ROIs (4 inserts x 4 sizes, largest
first) in the same order for every scan of a scanner, as the phantom's label order
(``10 x insert + size``) does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from robustlab.common.errors import DataError
from robustlab.common.io import write_text
from robustlab.radiomics.study.feature_csv import read_feature_csv

#: Scanner key of the ``paper`` protocol -> its scans 1 and 2 (fixed position) and 3 (repositioned).
TRAINING: dict[str, tuple[str, ...]] = {
    "A15": tuple(f"RadiomicFiles/IEO/radiomics_{k}_Ax_T2_FRFSE_PELVI_clean.csv" for k in (1, 2, 3)),
    "B15": tuple(f"RadiomicFiles/CCU1_5T/radiomics_T2_AX_FSE{s}_clean.csv" for s in ("", "_2nd", "_3rd")),
    "B30": tuple(f"RadiomicFiles/CCU3T/radiomics_T2_AX{s}_clean.csv" for s in ("", "_2nd", "_3rd")),
}
#: The ``paper`` protocol's comparisons computable from the training files:
#: name -> (statistic, acquisition a, acquisition b, group).
TRAINING_COMPARISONS: dict[str, tuple[str, str, str, str]] = {
    **{f"repeat_fixed_{s}": ("icc", f"{s}_rep1", f"{s}_rep2", "repeat_fixed") for s in TRAINING},
    **{f"repeat_repositioned_{s}": ("icc", f"{s}_rep1", f"{s}_rep3", "repeat_repositioned")
       for s in TRAINING},
    "between_field_strengths": ("ccc", "B15_rep1", "B30_rep1", "between_field_strengths"),
}


#: The test files of the same repository that this module reads: vendor B 1.5 T's TE series
#: (80-120 ms) and its TR change (TE 100 ms at TR 4405 ms: ``T2wAX_TE100 Range_clean.csv``, as the
#: study's own ``RScripts/T2w_Parameter_Change_Assessment.R`` compares it with the TE 100 file),
#: under the ``paper`` protocol's acquisition ids.
TEST: dict[str, str] = {
    **{f"B15_te{te:03d}": f"RadiomicFiles/CCU1_5T_TE_TR/T2wAX_TE{te}_clean.csv" for te in range(80, 121, 5)},
    "B15_tr4405": "RadiomicFiles/CCU1_5T_TE_TR/T2wAX_TE100 Range_clean.csv",
}
#: The ``paper`` protocol's test comparisons computable from :data:`TEST`, as it defines them.
TEST_COMPARISONS: list[dict[str, Any]] = [
    {"name": "te_adjacent", "statistic": "ccc", "combine": "intersection", "group": "te_adjacent",
     "pairs": [[f"B15_te{te:03d}", f"B15_te{te + 5:03d}"] for te in range(80, 116, 5)]},
    {"name": "tr", "statistic": "ccc", "acquisitions": ["B15_te100", "B15_tr4405"], "group": "tr"},
]


def training_paths(root: Path) -> dict[str, Path]:
    """``{acquisition id: file}`` of the training scans under ``root`` (``<scanner>_rep<k>``).

    Raises:
        DataError: a training file is missing (the message names it).
    """
    paths = {f"{s}_rep{k + 1}": Path(root) / rel for s, files in TRAINING.items()
             for k, rel in enumerate(files)}
    for path in paths.values():
        if not path.is_file():
            raise DataError(f"{path}: a training file of the released phantom features is missing")
    return paths


def read_features(path: Path) -> pd.DataFrame:
    """One released file's feature columns (``Image``, ``Mask`` and ``diagnostics_*`` dropped),
    one row per ROI in the file's order, read and checked as a study's feature CSV
    (:func:`~robustlab.radiomics.study.feature_csv.read_feature_csv`).

    Raises:
        StudyError: the file is unreadable or holds a cell that is not a finite number.
    """
    return read_feature_csv(Path(path), None, "released phantom features").reset_index(drop=True)


def _study(name: str, paths: dict[str, Path], comparisons: list[dict[str, Any]], out: Path,
           repetitions: bool = False) -> Path:
    """Write a study file (``out``) whose acquisitions are released feature files (with
    ``repetitions``, each ``<scanner>_rep<k>`` is repetition ``k``)."""
    acquisitions: dict[str, Any] = {
        acq: {"features": str(path.resolve()), "scanner": acq.split("_")[0],
              **({"repetition": int(acq[-1])} if repetitions else {})} for acq, path in paths.items()}
    doc = {"name": name, "threshold": 0.9, "acquisitions": acquisitions, "comparisons": comparisons}
    return write_text(Path(out), yaml.safe_dump(doc, sort_keys=False))


def training_study(root: Path, out: Path) -> Path:
    """Write a study file (``out``) that analyses the training scans like the ``paper`` protocol.

    Each scan is an acquisition of its feature file (``features:``), each comparison of
    :data:`TRAINING_COMPARISONS` a comparison of the same name, statistic and group, so its
    tables line up with a simulated ``paper`` run's.
    """
    comparisons = [{"name": name, "statistic": stat, "acquisitions": [a, b], "group": group}
                   for name, (stat, a, b, group) in TRAINING_COMPARISONS.items()]
    return _study("phantomstudy_training", training_paths(root), comparisons, out, repetitions=True)


def _acquisitions_of(comparison: dict[str, Any]) -> set[str]:
    return {a for pair in comparison.get("pairs", [comparison.get("acquisitions", [])]) for a in pair}


def heldout_study(root: Path, out: Path) -> Path | None:
    """Write a study file (``out``) of the test comparisons whose files :data:`TEST` finds under
    ``root`` (the TE pairs when all nine TE files are there, the TR change when its two are);
    None when neither is complete. Names line up with a simulated ``paper`` run's
    (``te_adjacent/B15_te080_vs_B15_te085``, ``tr``)."""
    present = {acq: Path(root) / rel for acq, rel in TEST.items() if (Path(root) / rel).is_file()}
    comparisons = [c for c in TEST_COMPARISONS if _acquisitions_of(c) <= set(present)]
    if not comparisons:
        return None
    used = set().union(*(_acquisitions_of(c) for c in comparisons))
    return _study("phantomstudy_test", {a: p for a, p in present.items() if a in used}, comparisons, out)


def excellent_lists(folder: Path) -> dict[str, set[str]]:
    """The real verdicts held in ``folder``: ``<comparison>.excellent.txt`` files.

    Each lists the features a comparison's real data finds excellent, one per line (``#``
    starts a comment; a second word, the statistic's value, is ignored); every other feature is
    not excellent. Names are written as the pipeline writes them (R's ``.`` in image-type names,
    ``log.sigma.6.mm.3D``, ``wavelet.LH``, becomes ``-``).
    """
    out = {}
    for path in sorted(Path(folder).glob("*.excellent.txt")):
        names = set()
        for line in path.read_text(encoding="utf-8").splitlines():
            word = line.split("#", 1)[0].split()
            if word:
                image_type, _, rest = word[0].partition("_")
                names.add(f"{image_type.replace('.', '-')}_{rest}")
        out[path.name.removesuffix(".excellent.txt")] = names
    return out
