"""Config values seen accepted or ending in a traceback (issue 28), each now a one-line
``ConfigError`` naming the key when the app binds its config, before any work: ``train.lr=nan``
trained to a NaN loss and exit 0, ``train.weight_decay=-5`` was accepted, ``selection.select_on=[]``
silently dropped the excellence requirement, ``n_jobs=0`` and ``threads=-1`` ended in tracebacks."""

from __future__ import annotations

import logging

import pytest

from robustlab.common.errors import ConfigError


def _pruning(**changes):
    from robustlab.pruning.config import bind

    config = {"model": {"name": "resnet_small"}}
    for key, value in changes.items():
        group, _, leaf = key.partition("__")
        config.setdefault(group, {})[leaf] = value
    return bind(config)


@pytest.mark.parametrize("key, value, message", [
    ("train__lr", float("nan"), r"^train\.lr: must be a finite number; got nan$"),
    ("train__weight_decay", -5, r"^train\.weight_decay: must be in \[0, inf\); got -5$"),
    ("train__momentum", 1.5, r"^train\.momentum: must be in \[0, 1\); got 1\.5$"),
    ("method__rate", float("inf"), r"^method\.rate: must be a finite number; got inf$"),
])
def test_pruning_train_values_seen_accepted_are_refused_at_bind(key, value, message):
    with pytest.raises(ConfigError, match=message):
        _pruning(**{key: value})


def test_pruning_threads_below_one_is_refused_at_bind():
    from robustlab.pruning.config import bind

    with pytest.raises(ConfigError, match=r"^threads: must be in \[1, inf\) or null; got -1$"):
        bind({"model": {"name": "resnet_small"}, "threads": -1})


@pytest.mark.parametrize("config, message", [
    ({"selection": {"select_on": []}}, r"^selection\.select_on: must be non-empty or null; got \[\]$"),
    ({"n_jobs": 0}, r"^n_jobs: must be in \[1, inf\) or -1; got 0$"),
    ({"bands": [0.5, 0.9, 0.75]}, r"^bands: must be increasing; got \[0\.5, 0\.9, 0\.75\]$"),
    ({"bands": [0.5, 0.75, 1.0]}, r"^bands\[2\]: must be in \(0, 1\); got 1\.0$"),
    ({"alpha": float("nan")}, r"^alpha: must be a finite number; got nan$"),
    ({"texture_test": {"acquisitions": ["a", "a"]}}, r"^texture_test\.acquisitions: must be without repeated "
                                                      r"items or null; got \['a', 'a'\] \('a' more than once\)$"),
])
def test_radiomics_values_seen_accepted_are_refused_at_bind(config, message):
    from robustlab.radiomics.config import bind

    with pytest.raises(ConfigError, match=message):
        bind(config)


@pytest.mark.parametrize("old, new", [(3, {"wcv_groups": "size", "wcv_group_count": 3}),
                                      ("paper", {"wcv_groups": "paper", "wcv_group_count": 3}),
                                      ("insert", {"wcv_groups": "insert", "wcv_group_count": 3}),
                                      (5, {"wcv_groups": "size", "wcv_group_count": 5})])
def test_size_groups_is_a_deprecated_alias_of_the_two_keys_with_one_warning_line(old, new, caplog):
    from robustlab.radiomics.config import bind
    from robustlab.radiomics.options import Options

    with caplog.at_level(logging.WARNING):
        cfg = bind({"size_groups": old})
    assert {k: getattr(cfg, k) for k in new} == new
    [record] = [r for r in caplog.records if "size_groups" in r.getMessage()]
    assert "\n" not in record.getMessage() and "is deprecated; write wcv_groups=" in record.getMessage()
    assert Options.from_kwargs({"size_groups": old}) == Options(**new)
    with pytest.raises(ConfigError, match=r"^size_groups: must be a whole number in \[1, inf\) or one of paper, insert "
                                          r"or null; got 0$"):
        bind({"size_groups": 0})
