"""Typed configs bound once: strict from_dict, and both apps' configs bound from their YAML."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import pytest

from robustlab.common.config import from_dict
from robustlab.common.errors import ConfigError


@dataclass
class Inner:
    lr: float = 0.1
    betas: tuple[float, float] = (0.9, 0.999)
    names: list[str] | None = None


@dataclass
class Outer:
    epochs: int
    inner: Inner = field(default_factory=Inner)
    options: dict[str, object] = field(default_factory=dict)


def test_binding_fills_defaults_and_shapes_values():
    cfg = from_dict(Outer, {"epochs": 2, "inner": {"betas": [0.5, 0.6], "names": ["a"]}, "options": {"k": 1}})
    assert cfg == Outer(2, Inner(0.1, (0.5, 0.6), ["a"]), {"k": 1})
    assert from_dict(Outer, {"epochs": 1, "inner": {"lr": 1}}).inner.lr == 1  # an int is a float


@pytest.mark.parametrize("data, message", [
    ({"epochs": 1, "inner": {"lrr": 1}},
     r"^train\.inner: unknown key 'lrr'; did you mean lr\? \(known: betas, lr, names\)$"),
    ({"epoch": 1}, r"^train: unknown key 'epoch'; did you mean epochs\?"),
    ({}, r"^train\.epochs: missing \(required\)$"),
    ({"epochs": "3"}, r"^train\.epochs: expected int, got '3'$"),
    ({"epochs": True}, r"^train\.epochs: expected int, got True$"),
    ({"epochs": 1, "inner": {"betas": [1.0]}}, r"^train\.inner\.betas: expected 2 values, got 1"),
    ({"epochs": 1, "inner": {"names": ["a", 2]}}, r"^train\.inner\.names\[1\]: expected str, got 2$"),
    ({"epochs": 1, "inner": 3}, r"^train\.inner: expected a mapping of keys, got 3$"),
])
def test_bad_keys_and_values_are_named_by_their_path(data, message):
    with pytest.raises(ConfigError, match=message):
        from_dict(Outer, data, "train")


def compose(app: str, overrides: list[str]) -> dict:
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from omegaconf import OmegaConf

    from robustlab.common.hydra_app import CONFIG_ENV, config_dir

    os.environ.setdefault(CONFIG_ENV, str(config_dir()))
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        return OmegaConf.to_container(hydra_compose(config_name=app, overrides=overrides), resolve=True)


@pytest.mark.parametrize("overrides", [["experiment=smoke"], ["experiment=synthetic_quick"], ["eval=full"],
                                       ["experiment=paper_vitb32"], ["model=tv_resnet50", "data=imagenet"]])
def test_every_bundled_pruning_config_binds(overrides):
    from robustlab.pruning.config import bind

    spec = bind(compose("pruning", overrides)).sweep_spec()
    assert spec.steps >= 0 and 0 < spec.rate < 1 and spec.label


def test_pruning_suite_options_are_checked_against_the_suite():
    from robustlab.pruning.config import bind

    config = compose("pruning", ["eval=quick"])
    config["eval"]["suites"]["interpretability"]["n_imgs"] = 8
    with pytest.raises(ConfigError,
                       match=r"eval\.suites\.interpretability: unknown option 'n_imgs'; did you mean n_images"):
        bind(config)
    config = compose("pruning", ["experiment=smoke"])
    config["train"]["batchsize"] = 8
    with pytest.raises(ConfigError, match=r"^train: unknown key 'batchsize'; did you mean batch_size"):
        bind(config)


@pytest.mark.parametrize("overrides", [[], ["experiment=quick"], ["experiment=size_dependency"]])
def test_every_bundled_radiomics_config_binds(overrides):
    from robustlab.radiomics.config import bind

    cfg = bind(compose("radiomics", overrides))
    assert set(cfg.options()) == {"threshold", "alpha", "bands", "geometry_tolerance", "shape_rho", "texture",
                                  "texture_acquisitions", "texture_rtol", "texture_atol", "select_on",
                                  "drop_shape", "wcv_groups", "wcv_group_count", "report"}
    config = compose("radiomics", overrides)
    config["texture_test"]["rtoll"] = 1.0
    with pytest.raises(ConfigError, match=r"^texture_test: unknown key 'rtoll'; did you mean rtol"):
        bind(config)


def test_per_method_options_override_the_suite_keys_and_are_checked():
    from robustlab.pruning.config import bind
    from robustlab.pruning.interpret.methods import ATTRIBUTIONS
    from robustlab.pruning.suites import merge_method_options

    merged = merge_method_options("interpretability", ATTRIBUTIONS,
                                  {"integrated_gradients": {"n_steps": 16, "seed": 0}},
                                  {"integrated_gradients": {"n_steps": 50}, "gradcam": {"target_layer": "layer3"}})
    assert merged == {"integrated_gradients": {"n_steps": 50, "seed": 0}, "gradcam": {"target_layer": "layer3"}}
    config = compose("pruning", ["eval=quick"])
    config["eval"]["suites"]["interpretability"]["method_options"] = {"integrated_gradients": {"n_step": 50}}
    with pytest.raises(ConfigError,
                       match=r"method_options\.integrated_gradients: unknown option 'n_step'; did you mean n_steps"):
        bind(config)
    config["eval"]["suites"]["interpretability"]["method_options"] = {"gradcm": {}}
    with pytest.raises(ConfigError, match=r"unknown attribution method 'gradcm'; did you mean gradcam"):
        bind(config)
    config["eval"]["suites"]["interpretability"]["method_options"] = {"integrated_gradients": {"n_steps": 50}}
    config["eval"]["suites"]["discovery"]["method_options"] = {"tokencut": {"tau": 0.3}}
    assert bind(config).eval.suites["discovery"]["method_options"] == {"tokencut": {"tau": 0.3}}
