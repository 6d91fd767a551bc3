"""Every number of the bundled phantom and protocol configs, fed a bad value, is a one-line error.

The phantom and protocol configs are read by their own parsers (``parse_phantom``,
``plan_study``; the extraction settings by pyradiomics' schema), which take no work beyond
parsing: each numeric leaf of each protocol option (with the bundled phantom) is given NaN,
infinity and a string, and ``checked_plan`` (what the app and the planner call before any
simulation) must refuse each with a one-line :class:`~robustlab.common.errors.ConfigError`
(what the app prints as one line) naming the leaf. A leaf whose bad value is accepted is a
value the simulator never reads or never checks.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest

from robustlab.common.errors import ConfigError
from tests.common._config_tree import compose_all


def _numbers(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The path (keys and list indices; keys may hold dots, as ``1.5``) of every number."""
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in _numbers(v, (*path, k))]
    if isinstance(node, list):
        return [p for i, v in enumerate(node) for p in _numbers(v, (*path, i))]
    return [path] if isinstance(node, (int, float)) and not isinstance(node, bool) else []


def _set(config: Any, path: tuple[Any, ...], value: Any) -> Any:
    out = copy.deepcopy(config)
    node = out
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return out


def _name(path: tuple[Any, ...]) -> str:
    """The leaf's own name: its last key (``b`` of ``a.b`` and of ``a.b[2]``)."""
    return str([p for p in path if isinstance(p, str)][-1])


@pytest.mark.parametrize("protocol", ["quick", "paper"])
def test_every_phantom_and_protocol_number_fed_a_bad_value_is_a_one_line_error(protocol):
    from robustlab.radiomics.phantom import checked_plan

    # compose_all gives the primary config, then one per option in name order (paper, quick).
    config = dict(zip(["primary", "paper", "quick"], compose_all("radiomics", ["protocol"]), strict=True))[protocol]
    keys = [(group, *p) for group in ("phantom", "protocol") for p in _numbers(config[group])]
    failures, tried = [], 0
    for key in keys:
        for wrong in (math.nan, math.inf, "text"):
            tried += 1
            changed = _set(config, key, wrong)
            try:
                checked_plan(changed["protocol"], changed["phantom"], 0)
            except ConfigError as exc:
                message = str(exc)
                if _name(key) not in message or "\n" in message:
                    failures.append(f"{key}={wrong!r}: {message}")
                continue
            except Exception as exc:  # noqa: BLE001 - the failure is what the test reports
                failures.append(f"{key}={wrong!r}: {type(exc).__name__}: {exc}")
                continue
            failures.append(f"{key}={wrong!r}: accepted")
    print(f"protocol={protocol}: {len(keys)} numbers, {tried} bad values tried")
    assert failures == [], "\n".join(failures)
    assert len(keys) >= 30, len(keys)

