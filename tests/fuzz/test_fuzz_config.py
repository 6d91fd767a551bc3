"""Fuzzing the config binder (``robustlab.common.config.from_dict``) and the radiomics options.

- Any mapping (known keys with values of any kind, unknown keys, nested junk) binds to the
  radiomics app's config and its analysis options, or raises one one-line project error.
- A well-typed mapping binds to exactly the values given: nothing converted, dropped or
  defaulted behind the user's back.
- Every bundled config of both apps with a few of its keys given any value (numbers at and
  beyond their declared ranges, NaN, infinities, strings, lists, mappings) binds to a config
  whose every value holds its declared constraints, or is a one-line ``ConfigError`` that names
  a key given; never another exception.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from robustlab.common.config import from_dict
from robustlab.radiomics.config import RadiomicsConfig
from robustlab.radiomics.options import Options
from tests.fuzz._contract import check_project_error, fuzz_settings

pytestmark = pytest.mark.fuzz

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=4))
junk = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)), max_leaves=8)
KEYS = [f.name for f in dataclasses.fields(RadiomicsConfig)]
NESTED = {"shape_dependence": ["rho"], "texture_test": ["enabled", "acquisitions", "rtol", "atol"],
          "selection": ["select_on", "drop_shape"]}


@st.composite
def config_maps(draw):
    out = {}
    for key in draw(st.lists(st.sampled_from([*KEYS, "bogus", "thresold"]), max_size=6, unique=True)):
        if key in NESTED and draw(st.booleans()):
            sub = st.sampled_from([*NESTED[key], "extra"])
            out[key] = draw(st.dictionaries(sub, st.one_of(scalars, junk), max_size=3))
        else:
            out[key] = draw(st.one_of(scalars, junk, st.lists(st.floats(), min_size=3, max_size=3)))
    return out


@fuzz_settings
@given(config=config_maps())
def test_any_config_binds_or_is_a_one_line_project_error(config):
    try:
        bound = from_dict(RadiomicsConfig, config)
        options = Options.from_kwargs(bound.options())
    except Exception as exc:  # noqa: BLE001 - the contract is checked on any exception
        check_project_error(exc)
        event(f"refused: {type(exc).__name__}")
        return
    event("bound")
    assert 0 < options.alpha < 1 and options.wcv_group_count >= 1
    assert options.threshold is None or 0 < options.threshold < 1
    for key, value in config.items():  # what was given is what was bound
        if key in NESTED or key == "size_groups":  # a deprecated alias: bound as the keys it stands for
            continue
        got = getattr(bound, key)
        assert got == value or (isinstance(value, list) and tuple(value) == tuple(got)) or (
            isinstance(value, float) and math.isnan(value) and math.isnan(got)), (key, value, got)


@dataclass
class Inner:
    rate: float = 0.5
    names: list[str] = field(default_factory=list)


@dataclass
class Outer:
    steps: int
    label: str | None = None
    pair: tuple[float, int] = (1.0, 2)
    flags: tuple[bool, ...] = ()
    inner: Inner = field(default_factory=Inner)
    extra: dict[str, int] = field(default_factory=dict)


well_typed = st.fixed_dictionaries(
    {"steps": st.integers()},
    optional={"label": st.one_of(st.none(), st.text(max_size=5)),
              "pair": st.tuples(st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers()),
                                st.integers()).map(list),
              "flags": st.lists(st.booleans(), max_size=4),
              "inner": st.fixed_dictionaries({}, optional={"rate": st.floats(allow_nan=False, allow_infinity=False),
                                                            "names": st.lists(st.text(max_size=3), max_size=3)}),
              "extra": st.dictionaries(st.text(max_size=3), st.integers(), max_size=3)},
)


@fuzz_settings
@given(config=well_typed)
def test_a_well_typed_mapping_binds_to_exactly_its_values(config):
    bound = from_dict(Outer, config)
    assert bound.steps == config["steps"] and type(bound.steps) is int
    assert bound.label == config.get("label")
    if "pair" in config:
        assert bound.pair == tuple(config["pair"]) and isinstance(bound.pair, tuple)
        assert all(type(a) is type(b) for a, b in zip(bound.pair, config["pair"], strict=True))
    assert bound.flags == tuple(config.get("flags", ()))
    inner = config.get("inner", {})
    assert bound.inner == Inner(inner.get("rate", 0.5), list(inner.get("names", [])))
    assert bound.extra == config.get("extra", {})


@fuzz_settings
@given(config=st.dictionaries(st.one_of(st.sampled_from(["steps", "label", "pair", "flags", "inner", "extra"]),
                                        st.text(max_size=4), st.integers()), junk, max_size=6),
       where=st.sampled_from(["", "train", "model.optim"]))  # a path the app writes, not user text
def test_any_mapping_binds_to_a_dataclass_or_is_a_one_line_project_error(config, where):
    try:
        bound = from_dict(Outer, config, where)
    except Exception as exc:  # noqa: BLE001 - the contract is checked on any exception
        check_project_error(exc)
        return
    assert isinstance(bound.steps, int) and not isinstance(bound.steps, bool)
    assert isinstance(bound.inner, Inner) and isinstance(bound.pair, tuple)


_CONFIGS: dict[str, list[dict]] = {}


def _configs(app: str) -> list[dict]:
    from tests.common._config_tree import GROUPS, compose_all

    if app not in _CONFIGS:
        _CONFIGS[app] = compose_all(app, GROUPS[app])
    return _CONFIGS[app]


edges = st.sampled_from([0, -1, 1, 2, 0.5, -0.5, 1.0, 1e-12, 2**63, -(2**63), float("nan"), float("inf"),
                         float("-inf"), "", "x", None, True, [], {}])
values = st.one_of(edges, scalars, st.lists(st.one_of(edges, scalars), max_size=4),
                   st.dictionaries(st.text(max_size=4), st.one_of(edges, scalars), max_size=2))


@st.composite
def changed_configs(draw, app):
    from tests.common._config_tree import leaves, set_leaf

    config = draw(st.sampled_from(_configs(app)))
    keys = sorted(k for k, _ in leaves(config))
    changed = []
    for key in draw(st.lists(st.sampled_from(keys), min_size=1, max_size=3, unique=True)):
        try:
            config = set_leaf(config, key, draw(values))
        except (KeyError, IndexError, TypeError):  # under a key changed before: no longer there
            continue
        changed.append(key)
    return config, changed


def _within(key: str, outer: str) -> bool:
    """``key`` is ``outer`` or a key under it (``a.b``, ``a[0]`` under ``a``)."""
    return key == outer or key.startswith((f"{outer}.", f"{outer}["))


@pytest.mark.parametrize("app", ["pruning", "radiomics"])
@fuzz_settings
@given(data=st.data())
def test_a_bundled_config_with_any_values_binds_within_its_constraints_or_names_a_key_given(app, data):
    from robustlab.common.config import check_fields
    from robustlab.common.errors import ConfigError

    if app == "pruning":
        from robustlab.pruning.config import bind
    else:
        from robustlab.radiomics.config import bind
    config, changed = data.draw(changed_configs(app))
    try:
        bound = bind(config)
    except ConfigError as exc:
        check_project_error(exc)
        named = str(exc).split(":")[0].split(" ")[0]  # a key given, or the list or mapping holding it
        assert any(_within(named, key) or _within(key, named) for key in changed), (changed, str(exc))
        event("refused")
        return
    except Exception as exc:  # noqa: BLE001 - the contract is checked on any exception
        check_project_error(exc)
        raise AssertionError(f"not a ConfigError: {type(exc).__name__}: {exc}") from exc
    event("bound")
    check_fields(bound)  # what binds holds every declared constraint
