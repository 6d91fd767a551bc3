"""Fuzzing the planner's design file: random designs and bytes, read and checked before any seed.

Documents start from the bundled two-vendor design and take up to three mutations: a key of
the design, of an acquisition, a comparison, a scanner or ``published`` set to junk or to a
plausible wrong value, a key added. Reading and checking a design
(:func:`~robustlab.radiomics.planner.load_design`,
:func:`~robustlab.radiomics.planner.check_design`: nothing is simulated) either gives a
protocol that keeps the format's promises (every comparison names acquisitions of the design,
none twice; the threshold in (0, 1); published ranges in increasing order within [0, 100]) or
raises one one-line project error.
"""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from robustlab.radiomics.planner import check_design, load_design
from robustlab.radiomics.study import study_dir
from tests.fuzz._contract import (
    bodies,
    fuzz_settings,
    junk,
    result_or_project_error,
    write_body,
    write_yaml,
)

pytestmark = pytest.mark.fuzz

BASE = yaml.safe_load((study_dir().parent / "designs" / "two_vendors.yaml").read_text("utf-8"))
IDS = [*BASE["acquisitions"], "nope", 1]
plausible = st.one_of(
    junk, st.sampled_from(["all", "icc", "ccc", "ICC", "intersection", "vendor_b_1p5t", "x.yaml"]),
    st.lists(st.sampled_from(IDS), max_size=3),
    st.lists(st.lists(st.sampled_from(IDS), max_size=3), max_size=2),
    st.lists(st.floats(-10, 110), min_size=2, max_size=2), st.floats(-1, 2))


@st.composite
def designs(draw):
    """The bundled design, then up to three mutations."""
    doc = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(0, 3))):
        where = draw(st.sampled_from(["design", "acquisition", "comparison", "scanner",
                                      "published"]))
        if where == "design":
            key = draw(st.sampled_from(["name", "phantom", "threshold", "scanners", "acquisitions",
                                        "comparisons", "published", "poses", "bogus", "scale"]))
            doc[key] = draw(plausible)
        elif where == "acquisition" and isinstance(doc.get("acquisitions"), dict) \
                and doc["acquisitions"]:
            acq = doc["acquisitions"][draw(st.sampled_from(sorted(doc["acquisitions"], key=str)))]
            if isinstance(acq, dict):
                key = draw(st.sampled_from(["scanner", "session", "te_ms", "mode", "repetition"]))
                acq[key] = draw(plausible)
        elif where == "comparison" and isinstance(doc.get("comparisons"), list) \
                and doc["comparisons"]:
            cmp = draw(st.sampled_from(doc["comparisons"]))
            if isinstance(cmp, dict):
                key = draw(st.sampled_from(["name", "statistic", "acquisitions", "pairs", "model",
                                            "combine", "group", "extra"]))
                cmp[key] = draw(plausible)
        elif where == "scanner" and isinstance(doc.get("scanners"), dict):
            doc["scanners"][draw(st.sampled_from(["A15", "B15", "C30"]))] = draw(plausible)
        elif where == "published":
            group = draw(st.sampled_from(["repeat_fixed", "between_vendors"]))
            doc["published"] = {group: draw(plausible)}
    return doc


def _load_and_check(path: Path):
    def check():
        protocol, phantom = load_design(path)
        check_design(protocol, phantom, str(path))
        return protocol

    return result_or_project_error(check, "checked")


@fuzz_settings
@given(doc=designs())
def test_a_design_is_checked_correctly_or_refused_in_one_line(doc):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "design.yaml"
        if not write_yaml(path, doc):
            return
        protocol = _load_and_check(path)
        if protocol is None:
            return
        acquisitions = protocol["acquisitions"]
        assert 0 < protocol["threshold"] < 1
        for low, high in (protocol.get("published") or {}).values():
            assert 0 <= low <= high <= 100
        for cmp in protocol["comparisons"]:
            pairs = cmp["pairs"] if isinstance(cmp.get("pairs"), list) else []
            units = [cmp.get("acquisitions") or [], *pairs]
            for unit in units:
                assert len(set(map(str, unit))) == len(unit), unit
                assert all(str(a) in acquisitions for a in unit), unit


@fuzz_settings
@given(body=bodies)
def test_any_bytes_as_a_design_give_a_design_or_a_one_line_error(body):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "design.yaml"
        write_body(path, body)
        _load_and_check(path)
