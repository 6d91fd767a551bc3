"""The scanner fit's bookkeeping: settings in and out of a protocol, the secant, the stages."""

from __future__ import annotations

import math

import pytest

from robustlab.radiomics.phantom import load_config
from robustlab.radiomics.phantom.fitting import (
    STAGES,
    Setting,
    fit,
    get_value,
    secant_step,
    with_value,
)


def test_a_setting_is_read_from_the_scanner_file_and_overridden_in_the_protocol_entry() -> None:
    paper = load_config("protocol", "paper")
    nu = Setting("B15", "nonuniformity.amplitude", "between_field_strengths")
    assert get_value(paper, nu) == load_config("scanner", "vendor_b_1p5t")["nonuniformity"]["amplitude"]
    changed = with_value(paper, nu, 0.123)
    assert get_value(changed, nu) == 0.123
    # the other keys of the nested mapping and of the entry are kept
    assert changed["scanners"]["B15"]["nonuniformity"]["order"] == paper_order(paper, "B15")
    assert changed["scanners"]["B15"]["base"] == "vendor_b_1p5t"  # a name becomes {base: name, ...}
    snr = Setting("A15", "snr_factor", "repeat_fixed_A15")
    a15 = with_value(paper, snr, 2.5)["scanners"]["A15"]
    assert a15["snr_factor"] == 2.5 and a15["extraction"] == paper["scanners"]["A15"]["extraction"]
    assert get_value(paper, nu) != 0.123  # the protocol given is not changed


def paper_order(paper: dict, key: str) -> int:
    from robustlab.radiomics.seed_runs import resolve_scanners

    return resolve_scanners(paper)["scanners"][key]["nonuniformity"]["order"]


def test_the_secant_step_solves_a_line_at_once_and_is_bounded() -> None:
    # g(u) = 2 u - 1 has its root at u = 0.5
    assert secant_step(0.0, -1.0, 1.0, 1.0) == pytest.approx(0.5)
    assert secant_step(0.0, 1.0, 0.01, 0.999) == pytest.approx(0.01 + math.log(4.0))  # bounded step


def test_the_fit_finds_each_setting_of_a_monotone_model_within_tolerance() -> None:
    """A model where each share falls with the log of its own setting (the direction of the real one)."""
    paper = load_config("protocol", "paper")
    truth = {s.comparison: 1.7 for stage in STAGES for s in stage}  # the values that give the real shares

    def evaluate(protocol: dict) -> dict[str, float]:
        out = {}
        for stage in STAGES:
            for s in stage:
                sign = 1.0 if s.path == "snr_factor" else -1.0  # more SNR: more excellent features
                out[s.comparison] = 80.0 + 10.0 * sign * math.log(get_value(protocol, s) / truth[s.comparison])
        return out

    def evaluate_all(protocol: dict) -> dict[str, float]:
        return {**evaluate(protocol), "between_field_strengths": 12.0}  # no setting moves it

    real = {**{c: 80.0 for c in truth}, "between_field_strengths": 15.0}
    fitted, history = fit(paper, real, evaluate_all, tol=0.1, max_evaluations=8)
    for stage in STAGES:
        for s in stage:
            assert get_value(fitted, s) == pytest.approx(1.7, rel=0.02)
    assert {row["stage"] for row in history} == {1, 2, "final"}
    final = {row["comparison"]: row for row in history if row["stage"] == "final"}
    assert len(final) == 7  # every comparison reported, the unfitted one with no setting
    assert final.pop("between_field_strengths")["setting"] == "" and "between_field_strengths" not in truth
    assert all(abs(row["residual"]) <= 0.1 for row in final.values())
    assert all(abs(row["residual"]) <= 0.1 for row in history if row["stage"] != "final" and row["evaluation"] == max(
        r["evaluation"] for r in history if r["stage"] == row["stage"]))


def test_two_equal_medians_step_in_the_direction_the_share_moves() -> None:
    """A share that does not move between the first two values (a plateau) must not send the
    setting the wrong way: a share below its target needs a weaker set-up field."""
    paper = load_config("protocol", "paper")
    field = Setting("B15", "setup_field.amplitude", "repeat_repositioned_B15")
    stage = ((field,),)
    tried = []

    def evaluate(protocol: dict) -> dict[str, float]:
        value = get_value(protocol, field)
        tried.append(value)
        return {field.comparison: 80.0 if value > 0.1 else 85.0}  # a plateau above 0.1

    fitted, _ = fit(with_value(paper, field, 0.3), {field.comparison: 85.0}, evaluate, stages=stage)
    steps, final = tried[:-1], tried[-1]  # the last evaluation checks the fitted value again
    assert all(b < a for a, b in zip(steps, steps[1:], strict=False))  # every step lowers the field
    assert final == steps[-1]
    assert get_value(fitted, field) < 0.1
