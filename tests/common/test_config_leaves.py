"""Every leaf of every bundled config, fed a bad value, is a one-line error naming its key.

Each bundled config of both apps is composed (the primary config, each option of each config
group, each experiment); every leaf of it is found, and the binder (``bind``, no work) is given:
for each number (or null where the declared type takes a number) NaN, infinity and a value out
of its declared range; for each list an empty list, where an empty list does not mean something
(:data:`EMPTY_MEANS_SOMETHING`); for each string with declared choices, one that is not a
choice. Every one must be a one-line ``ConfigError`` naming the leaf's key. A number whose
declaration states no range fails the test: every number has one.

The counts of leaves and values are printed (``pytest -s``) and checked against a floor, so that
a config that stops composing cannot make the test pass by trying nothing.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Iterator, Mapping, Sequence
from typing import Annotated, Any, Union

import pytest

from robustlab.common.constraints import AnyOf, Interval, OneOf
from robustlab.common.errors import ConfigError
from tests.common._config_tree import GROUPS, compose_all, leaves, set_leaf

#: Subtrees whose keys are not declared by the project: the keyword arguments of a third-party
#: model constructor (``model.kwargs``), a pruning method's own options (``method.options``), a
#: suite's label map (the data's class names), Hydra's own keys, and the phantom and protocol
#: configs, which their own parsers check (tests/radiomics/test_phantom_leaves.py).
FREE_FORM = ("hydra", "model.kwargs", "method.options", "eval.suites.interpretability.label_map",
             "phantom", "protocol")
#: Lists for which empty is a choice: no plugins, no map min-max scaled.
EMPTY_MEANS_SOMETHING = ("plugins", "eval.suites.interpretability.minmax")


def _declared(app: str, key: str) -> Any:
    """The declared type of ``key`` (a dataclass field, a suite's keyword, a list's item)."""
    parts = key.replace("[", ".[").split(".")
    if app == "pruning":
        from robustlab.pruning.config import PruningConfig as root
    else:
        from robustlab.radiomics.config import RadiomicsConfig as root
    hint: Any = root
    for i, part in enumerate(parts):
        hint = _member(hint, part)
        if part.startswith("["):
            hint = _item(hint)
        elif app == "pruning" and parts[:2] == ["eval", "suites"] and i == 2:
            hint = _suite(part)
        elif isinstance(hint, dict) and part == "data":  # a suite's evaluation data
            from robustlab.pruning.data.evaldata import EvalDataSpec
            hint = EvalDataSpec
        elif isinstance(hint, dict):  # a suite's keywords
            hint = hint.get(part, Any)
        elif typing.get_origin(_bare(hint)) in (dict, Mapping):
            hint = typing.get_args(_bare(hint))[1] if typing.get_args(_bare(hint)) else Any
        else:
            hint = typing.get_type_hints(_bare(hint), include_extras=True)[part]
    return hint


def _suite(name: str) -> dict[str, Any]:
    from robustlab.pruning.suites import SUITES

    return typing.get_type_hints(SUITES.get(name).fn, include_extras=True)


def _bare(hint: Any) -> Any:
    return typing.get_args(hint)[0] if typing.get_origin(hint) is Annotated else hint


def _member(hint: Any, part: str) -> Any:
    """The member of a union that ``part`` (``[i]``: an item; else a key) can step into."""
    if typing.get_origin(hint) not in (Union, typing.types.UnionType):
        return hint
    members = [a for a in typing.get_args(hint) if a is not type(None)]
    kinds = (list, tuple, Sequence) if part.startswith("[") else (dict, Mapping)
    fits = [m for m in members if typing.get_origin(_bare(m)) in kinds or
            (not part.startswith("[") and dataclasses.is_dataclass(_bare(m)))]
    return fits[0] if fits else members[0]


def _item(hint: Any) -> Any:
    args = typing.get_args(_bare(hint))
    return args[0] if args else Any


def _constraints(hint: Any) -> list[Any]:
    """The constraints declared on ``hint`` and on every member of a union in it."""
    if typing.get_origin(hint) is Annotated:
        return [*hint.__metadata__, *_constraints(typing.get_args(hint)[0])]
    if typing.get_origin(hint) in (Union, typing.types.UnionType):
        return [c for a in typing.get_args(hint) for c in _constraints(a)]
    return []


def _numeric(hint: Any) -> bool:
    base = _bare(hint)
    if typing.get_origin(base) in (Union, typing.types.UnionType):
        return any(_numeric(a) for a in typing.get_args(base))
    return base in (int, float)


def _out_of_range(hint: Any) -> Any:
    """A finite number the declaration refuses (None: it declares no range)."""
    for constraint in _constraints(hint):
        options = constraint.options if isinstance(constraint, AnyOf) else (constraint,)
        if all(isinstance(c, (Interval, OneOf)) for c in options):
            candidates = [v for c in options for v in _violations(c) if math.isfinite(v)]
            bad = [v for v in candidates if not constraint.holds(v)]
            if bad:
                return bad[0]
    return None


def _violations(constraint: Any) -> list[float]:
    if isinstance(constraint, OneOf):
        numbers = [c for c in constraint.choices if isinstance(c, (int, float)) and not isinstance(c, bool)]
        return [max(numbers) + 1, min(numbers) - 1] if numbers else []
    return constraint.violations()


def _cases(app: str, configs: list[dict[str, Any]], seen: set[str]) -> Iterator[tuple[dict[str, Any], str, Any]]:
    """Each bad value to try: ``(config, key, value)``; ``seen`` collects every leaf's key."""
    for config in configs:
        for key, value in leaves(config):
            if key in seen or key.startswith(FREE_FORM):
                continue
            seen.add(key)
            hint = _declared(app, key)
            if isinstance(value, list):
                if key not in EMPTY_MEANS_SOMETHING:
                    yield config, key, []
            elif isinstance(value, str) and any(isinstance(c, OneOf) for c in _constraints(hint)):
                yield config, key, value + "-not-a-choice"
            elif isinstance(value, (int, float)) and not isinstance(value, bool) or (value is None and _numeric(hint)):
                bad = _out_of_range(hint)
                assert bad is not None, f"{app}: {key} is a number without a declared range ({hint})"
                for wrong in (math.nan, math.inf, bad):
                    yield config, key, wrong


@pytest.mark.parametrize("app, floor", [("pruning", (120, 330)), ("radiomics", (16, 44))])
def test_every_leaf_fed_a_bad_value_is_a_one_line_error_naming_its_key(app, floor):
    if app == "pruning":
        from robustlab.pruning.config import bind
    else:
        from robustlab.radiomics.config import bind
    configs = compose_all(app, GROUPS[app])
    every: set[str] = set()
    leaves, tried, failures = set(), 0, []
    for config, key, value in _cases(app, configs, every):
        leaves.add(key)
        tried += 1
        try:
            bind(set_leaf(config, key, value))
        except ConfigError as exc:
            message = str(exc)
            if not message.startswith((f"{key}:", f"{key}[")) or "\n" in message:
                failures.append(f"{key}={value!r}: {message}")
            continue
        failures.append(f"{key}={value!r}: accepted")
    print(f"{app}: {len(configs)} configs, {len(every)} leaves (lists and list items counted), "
          f"{len(leaves)} of them numbers, lists or choices, {tried} bad values tried")
    assert failures == [], "\n".join(failures)
    assert len(leaves) >= floor[0] and tried >= floor[1], (len(leaves), tried)
