"""Constraints declared beside a config value, checked by the one binder (``from_dict``)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Annotated

import pytest

from robustlab.common.config import check_fields, check_value, from_dict
from robustlab.common.constraints import (
    Exists,
    Increasing,
    Interval,
    NonEmpty,
    NonNegativeFloat,
    OneOf,
    PositiveInt,
    Unique,
)
from robustlab.common.errors import ConfigError


@dataclass
class Spec:
    lr: Annotated[float, Interval(0, None, closed="neither")] = 0.1
    decay: NonNegativeFloat = 0.0
    rate: Annotated[float, Interval(0, 1, closed="right")] = 0.5
    jobs: Annotated[int, Interval(1, None) | OneOf(-1)] = -1
    threads: PositiveInt | None = None
    mode: Annotated[str, OneOf("sgd", "adamw")] = "sgd"
    names: Annotated[list[str], NonEmpty(), Unique()] | None = None
    cuts: Annotated[tuple[float, float], Increasing()] = (0.2, 0.8)
    levels: list[Annotated[float, Interval(0, 1)]] = field(default_factory=list)
    timeout: Annotated[float, Interval(0, math.inf)] = 1.0
    plain: float = 1.0


@pytest.mark.parametrize("data, message", [
    ({"lr": float("nan")}, r"^opt\.lr: must be a finite number; got nan$"),
    ({"lr": float("inf")}, r"^opt\.lr: must be a finite number; got inf$"),
    ({"lr": 0}, r"^opt\.lr: must be in \(0, inf\); got 0$"),
    ({"decay": -5}, r"^opt\.decay: must be in \[0, inf\); got -5$"),
    ({"rate": 0.0}, r"^opt\.rate: must be in \(0, 1\]; got 0\.0$"),
    ({"jobs": 0}, r"^opt\.jobs: must be in \[1, inf\) or -1; got 0$"),
    ({"jobs": -2}, r"^opt\.jobs: must be in \[1, inf\) or -1; got -2$"),
    ({"threads": -1}, r"^opt\.threads: must be in \[1, inf\) or null; got -1$"),
    ({"mode": "adam"}, r"^opt\.mode: must be one of sgd, adamw; got 'adam' \(did you mean adamw\?\)$"),
    ({"names": []}, r"^opt\.names: must be non-empty or null; got \[\]$"),
    ({"names": ["a", "b", "a"]}, r"^opt\.names: must be without repeated items or null; got \['a', 'b', 'a'\] "
                                 r"\('a' more than once\)$"),
    ({"cuts": [0.8, 0.2]}, r"^opt\.cuts: must be increasing; got \[0\.8, 0\.2\]$"),
    ({"levels": [0.5, 2]}, r"^opt\.levels\[1\]: must be in \[0, 1\]; got 2$"),
    ({"timeout": float("nan")}, r"^opt\.timeout: must be a finite number; got nan$"),
    ({"timeout": -math.inf}, r"^opt\.timeout: must be a finite number; got -inf$"),
    ({"plain": float("-inf")}, r"^opt\.plain: must be a finite number; got -inf$"),
])
def test_a_value_that_breaks_its_declared_constraint_is_one_line_naming_the_key(data, message):
    with pytest.raises(ConfigError, match=message):
        from_dict(Spec, data, "opt")


def test_values_inside_their_constraints_bind_as_given():
    spec = from_dict(Spec, {"lr": 1e-9, "decay": 0, "rate": 1.0, "jobs": 4, "threads": 2, "mode": "adamw",
                            "names": ["a", "b"], "cuts": [0.1, 0.2], "levels": [0, 1], "timeout": math.inf})
    assert spec == Spec(1e-9, 0, 1.0, 4, 2, "adamw", ["a", "b"], (0.1, 0.2), [0, 1], math.inf)
    assert from_dict(Spec, {"jobs": -1, "names": None}).jobs == -1


def test_an_instance_made_in_code_is_checked_by_the_same_declarations():
    check_fields(Spec())
    with pytest.raises(ConfigError, match=r"^train\.decay: must be in \[0, inf\); got -1$"):
        check_fields(Spec(decay=-1), "train")
    with pytest.raises(ConfigError, match=r"^method\.rate: must be in \(0, 1\]; got 2$"):
        check_fields(Spec(rate=2), keys={"rate": "method.rate"})


def test_interval_ends_and_violations():
    assert str(Interval(0, 1, closed="left")) == "in [0, 1)" and str(Interval(None, 0)) == "in (-inf, 0]"
    assert str(Interval(0, math.inf)) == "in [0, inf]" and Interval(0, math.inf).holds(math.inf)
    assert not Interval(0, None).holds(math.inf) and not Interval(None, None).holds(math.nan)
    assert not Interval(0, 1).holds(True)  # a bool is not a number here
    for constraint in (Interval(0, 1, closed="neither"), Interval(1, None), Interval(-1, 1, closed="left")):
        bad = constraint.violations()
        assert bad and not any(constraint.holds(v) for v in bad)
        assert any(isinstance(v, float) and math.isnan(v) for v in bad)
    with pytest.raises(ValueError, match="closed must be one of"):
        Interval(0, 1, closed="open")


def test_exists_names_where_it_looked(tmp_path):
    (tmp_path / "weights.pt").write_bytes(b"x")
    hint = Annotated[str, Exists("file")]
    assert check_value(str(tmp_path / "weights.pt"), hint, "model.checkpoint")
    with pytest.raises(ConfigError, match=rf"^model\.checkpoint: must be an existing file; got '.*nope\.pt' "
                                          rf"\(looked at {tmp_path / 'nope.pt'}\)$"):
        check_value(str(tmp_path / "nope.pt"), hint, "model.checkpoint")
    with pytest.raises(ConfigError, match="must be an existing file"):
        check_value(str(tmp_path), hint, "model.checkpoint")  # a folder is not a file


def test_a_value_of_no_member_of_a_union_is_described_in_words():
    with pytest.raises(ConfigError, match=r"^k: must be true or false or cnn; got 'xyz'$"):
        check_value("xyz", bool | Annotated[str, OneOf("cnn")], "k")


def test_a_registered_name_is_looked_up_when_checked():
    from robustlab.common.constraints import Registered
    from robustlab.common.registry import Registry

    shapes: Registry = Registry("shape")
    hint = Annotated[str, Registered(shapes)]
    with pytest.raises(ConfigError, match=r"^k: must be a registered shape \(none\); "
                                          r"got 'square'$"):
        check_value("square", hint, "k")
    shapes.add("square", lambda: "[]")  # a plugin registered after the declaration counts
    assert check_value("square", hint, "k") == "square"
    with pytest.raises(ConfigError, match=r"^k: must be a registered shape \(square\); got 'sqare' "
                                          r"\(did you mean square\?\)$"):
        check_value("sqare", hint, "k")
    assert not Registered(shapes).holds(Registered(shapes).violations()[0])
