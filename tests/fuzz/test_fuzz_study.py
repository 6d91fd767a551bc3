"""Fuzzing the study-file loader and its validation with random study documents and bytes.

Documents mix valid pieces (acquisitions reading real feature CSVs, comparisons of them) with
junk keys, values of the wrong kind, unknown and repeated acquisitions, odd thresholds and
paths. Loading and validating either gives a study that keeps the format's promises (every
compared acquisition exists and is compared with others only, the threshold lies in (0, 1))
or raises one one-line project error.
"""

from __future__ import annotations

import math
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from robustlab.radiomics.study import load_study, validate_study
from tests.fuzz._contract import (
    bodies,
    fuzz_settings,
    junk,
    result_or_project_error,
    write_body,
    write_yaml,
)

pytestmark = pytest.mark.fuzz

IDS = ["a", "b", "c", 1, "rep 1"]
FILES = ["a.csv", "b.csv", "c.csv", "missing.csv", "../a.csv", "", "sub/", "a.csv\x00"]


members = st.lists(st.sampled_from(IDS), min_size=0, max_size=4)


@st.composite
def study_docs(draw):
    """A valid study (two or three CSV acquisitions, one or two comparisons), then up to
    three mutations: a key set to junk or to a plausible wrong value, a key added."""
    ids = draw(st.lists(st.sampled_from(["a", "b", "c"]), min_size=2, max_size=3, unique=True))
    doc = {"name": "fuzz", "acquisitions": {i: {"features": f"{i}.csv"} for i in ids},
           "comparisons": []}
    for n in range(draw(st.integers(1, 2))):
        chosen = draw(st.lists(st.sampled_from(ids), min_size=2, max_size=len(ids), unique=True))
        statistic = "ccc" if len(chosen) == 2 and draw(st.booleans()) else "icc"
        doc["comparisons"].append({"name": f"c{n}", "statistic": statistic, "acquisitions": chosen})
    for _ in range(draw(st.integers(0, 3))):
        where = draw(st.sampled_from(["study", "acquisition", "comparison"]))
        if where == "study":
            key = draw(st.sampled_from(["name", "threshold", "roi_column", "published", "scanners",
                                        "acquisitions", "comparisons", "bogus", "extraction"]))
            doc[key] = draw(st.one_of(junk, st.floats()))
        elif where == "acquisition" and isinstance(doc["acquisitions"], dict):
            acq = doc["acquisitions"].setdefault(draw(st.sampled_from(IDS)), {})
            key = draw(st.sampled_from(["features", "labels", "image", "mask", "extraction", "te"]))
            if isinstance(acq, dict):  # a study-level mutation may have put junk there
                acq[key] = draw(st.one_of(junk, st.sampled_from(FILES), st.lists(st.integers(-1, 4))))
        elif where == "comparison" and isinstance(doc["comparisons"], list) and doc["comparisons"]:
            cmp = draw(st.sampled_from(doc["comparisons"]))
            if not isinstance(cmp, dict):
                continue
            key = draw(st.sampled_from(["name", "statistic", "acquisitions", "pairs", "model", "type",
                                        "unit", "combine", "group", "extra"]))
            cmp[key] = draw(st.one_of(junk, st.sampled_from(["all", "icc", "ccc", "oneway", "x"]),
                                      members, st.lists(members, max_size=3)))
    return doc


def _write_csvs(root: Path) -> None:
    rng = np.random.default_rng(0)
    cols = ["original_firstorder_Mean", "original_glcm_Idmn"]
    values = rng.normal(size=(4, 2))
    for name, shift in (("a", 0.0), ("b", 0.01), ("c", 0.02)):
        pd.DataFrame(values + shift, columns=cols).to_csv(root / f"{name}.csv", index=False)


def _load_and_validate(path: Path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # too few ROIs, missing cells: reported, not refused
        return result_or_project_error(lambda: validate_study(load_study(path)),
                                       "loaded and validated")


@fuzz_settings
@given(doc=study_docs())
def test_a_study_document_loads_correctly_or_is_refused_in_one_line(doc):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _write_csvs(root)
        path = root / "study.yaml"
        if not write_yaml(path, doc):
            return
        validated = _load_and_validate(path)
        if validated is None:
            return
        study = validated.study
        assert 0 < study.threshold < 1 and math.isfinite(study.threshold)
        for cmp in study.comparisons:
            for _, unit in cmp.units():
                assert len(unit) >= 2 and len(set(unit)) == len(unit), unit
                assert all(m in study.acquisitions for m in unit)
                assert all(validated.rois[m] == validated.rois[unit[0]] for m in unit)
        assert all(p.is_file() for p in validated.hashes)


@fuzz_settings
@given(body=bodies)
def test_any_bytes_as_a_study_file_give_a_study_or_a_one_line_error(body):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "study.yaml"
        write_body(path, body)
        _load_and_validate(path)
